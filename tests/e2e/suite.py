"""The whole suite for end-to-end tests: five service processes, real broker, real SMTP and HTTP receivers."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from caseflow_contracts import TOPICS, ContractError, Event, Money, parse_event
from caseflow_contracts.common import Area, Channel, Claimant, ClaimantRole
from caseflow_contracts.upstream import (
    Address,
    ContactCategory,
    Customer,
    CustomerContacted,
    CustomerContactPayload,
    ExceptionKind,
    ParcelExceptionPayload,
    ParcelExceptionReported,
)
from caseflow_dev.demo import demo_env
from caseflow_dev.harness import ServiceProcess, fresh_keys
from caseflow_dev.sinks import HttpSink, SmtpSink
from caseflow_dev.testing import KafkaTestKit

SERVICES = ("intake", "routing", "sla", "claims", "notify")
#: Simulated seconds per real second: a 2-hour callback target lasts 4 s, 48 hours 96 s.
SPEED = 1800


def scaled(hours: float) -> int:
    """A target of the packaged SLA policy as the suite runs it: divided by SPEED (demo.scaled_policies)."""
    return max(1, round(hours * 3600 / SPEED))


PUDONG = Area(province="上海市", city="上海市", district="浦东新区")
CHAOYANG = Area(province="北京市", city="北京市", district="朝阳区")


@dataclass
class EventLog:
    """Every event on every topic of this suite, in arrival order."""

    kit: KafkaTestKit
    events: list[tuple[str, Event]] = field(default_factory=list)
    dead: list[tuple[str, dict[str, bytes], bytes]] = field(default_factory=list)

    async def follow(self) -> None:
        names = [self.kit.topic(t) for t in TOPICS] + [self.kit.topic(t) + ".dlq" for t in TOPICS]
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.kit.bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50
        )
        await consumer.start()
        try:
            await consumer.topics()
            partitions = [TopicPartition(n, p) for n in names for p in consumer.partitions_for_topic(n) or ()]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            while True:
                for tp, records in (await consumer.getmany(timeout_ms=100)).items():
                    for r in records:
                        if tp.topic.endswith(".dlq"):
                            self.dead.append((tp.topic, dict(r.headers), r.value or b""))
                            continue
                        try:
                            self.events.append((tp.topic, parse_event(r.value or b"")))
                        except ContractError:
                            continue
        finally:
            await consumer.stop()

    def of_case(self, case_id: str, event_type: str | None = None) -> list[Event]:
        return [
            e for _, e in self.events if getattr(e.payload, "case_id", None) == case_id and event_type in (None, e.type)
        ]

    async def wait(self, predicate: Callable[[Event], bool], timeout_s: float = 30, what: str = "") -> Event:
        deadline = time.monotonic() + timeout_s
        seen = 0
        while time.monotonic() < deadline:
            for _, event in self.events[seen:]:
                if predicate(event):
                    return event
            seen = len(self.events)
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what or predicate}")

    async def case_opened_for(self, waybill: str, timeout_s: float = 30) -> Event:
        return await self.wait(
            lambda e: e.type == "case.opened" and getattr(e.payload, "waybill_no", None) == waybill,
            timeout_s,
            f"case.opened for {waybill}",
        )

    async def case_event(self, case_id: str, event_type: str, timeout_s: float = 30, **match: Any) -> Event:
        def wanted(e: Event) -> bool:
            if e.type != event_type or getattr(e.payload, "case_id", None) != case_id:
                return False
            return all(str(getattr(e.payload, k, None)) == str(v) for k, v in match.items())

        try:
            return await self.wait(wanted, timeout_s, f"{event_type} {match} for {case_id}")
        except AssertionError as exc:
            story = [
                (
                    e.type,
                    {
                        k: str(v)
                        for k, v in e.payload
                        if k in ("trigger_type", "channel", "reason", "metric", "decision")
                    },
                )
                for e in self.of_case(case_id)
            ]
            raise AssertionError(f"{exc}; the case's story so far: {story}") from None


@dataclass
class Suite:
    kit: KafkaTestKit
    processes: dict[str, ServiceProcess]
    log: EventLog
    smtp: SmtpSink
    http: HttpSink
    data: Path

    def url(self, service: str) -> str:
        return self.processes[service].url


async def start_suite(kit: KafkaTestKit, data: Path) -> tuple[Suite, asyncio.Task[None]]:
    smtp = SmtpSink().start()
    http = await HttpSink().start()
    env = kit.env(**fresh_keys(), **demo_env(data, SPEED, smtp, http))
    logs = data / "logs"
    logs.mkdir(exist_ok=True)
    processes = {name: ServiceProcess(name, env, log_file=logs / f"{name}.log").start() for name in SERVICES}
    try:
        await asyncio.gather(*(p.ready(90) for p in processes.values()))
    except BaseException:
        for process in processes.values():  # a suite that never started must not outlive the test run
            process.kill()
        raise
    log = EventLog(kit)
    follower = asyncio.create_task(log.follow())
    return Suite(kit, processes, log, smtp, http, data), follower


def waybill() -> str:
    return "BE" + uuid.uuid4().hex[:14].upper()


def customer(name: str = "王芳", area: Area | None = PUDONG, **extra: Any) -> Customer:
    """A customer at an address in `area` (none: the upstream system does not know where they live)."""
    return Customer(
        customer_id="U" + uuid.uuid4().hex[:8],
        name=name,
        phone="13812345678",
        email=f"{uuid.uuid4().hex[:8]}@example.com",
        address=Address(area=area, street="世纪大道100号1单元1201") if area else None,
        **extra,
    )


def exception(
    waybill_no: str,
    kind: ExceptionKind,
    *,
    destination: str = "SH-PD-01",
    origin: str = "HZ-XH-01",
    current: str | None = None,
    area: Area | None = PUDONG,
    insured: bool = False,
    declared: int = 30000,
    freight: int = 1200,
    order_amount: int | None = None,
) -> ParcelExceptionReported:
    payload = ParcelExceptionPayload(
        source_system="oms",
        source_event_id="ex-" + waybill_no,
        waybill_no=waybill_no,
        exception_kind=kind,
        origin_station=origin,
        current_station=current or destination,
        destination_station=destination,
        scanned_at=datetime.now(UTC),
        declared_value=Money(amount_minor=declared),
        insured=insured,
        freight=Money(amount_minor=freight),
        order_amount=Money(amount_minor=order_amount) if order_amount is not None else None,
        customer=customer(area=area),
        shipping_address=Address(area=area, street="世纪大道100号1单元1201") if area else None,
    )
    return ParcelExceptionReported.create(payload, key=waybill_no, producer="oms")


def contact(
    waybill_no: str,
    category: ContactCategory,
    text: str = "我的快递怎么还没到？",
    claimant: Claimant | None = None,
    language: str = "zh-CN",
) -> CustomerContacted:
    payload = CustomerContactPayload(
        source_system="callcentre",
        source_id="ct-" + uuid.uuid4().hex[:12],
        channel=Channel.PHONE,
        category=category,
        customer=customer(name="赵敏", language=language),
        waybill_no=waybill_no,
        text=text,
        language=language,
        received_at=datetime.now(UTC),
        claimant=claimant,
    )
    return CustomerContacted.create(payload, key=waybill_no, producer="callcentre")


def claim_request(waybill_no: str, text: str, role: ClaimantRole) -> CustomerContacted:
    """The customer asks for compensation: who claims (sender or recipient) and how to be paid."""
    return contact(waybill_no, ContactCategory.CLAIM_REQUEST, text, Claimant(role=role))
