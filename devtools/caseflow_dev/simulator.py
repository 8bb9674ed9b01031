"""A simulated day: the upstream order system, customers, and the stations, against any Kafka.

    python -m caseflow_dev.simulator --bootstrap 127.0.0.1:9092 --rate 20 --speed 600 --duration 120

Upstream: parcel exceptions (delay, damage, loss, shortage, out-of-area, problem
parcels) and customer contacts (inquiries, complaints, claim requests, regulator
appeals, platform pre-/in-/after-sale), with repeat contacts, duplicates and a
share of bad events. Stations: each case handed to a station is acknowledged,
called back on time, late or never, resolved with a satisfaction score, or sent
back as out of area; hubs file arbitration declarations for damaged and lost
parcels. `--speed` compresses the day: at 600, ten simulated minutes pass per
second (pair it with SLA policies scaled the same way, as `make run` does).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from caseflow_contracts import Event, Money, parse_event, topic_for
from caseflow_contracts.cases import CaseEscalated, CaseOpened
from caseflow_contracts.common import Area, CaseKind, Channel, Claimant, ClaimantRole, LadderLevel
from caseflow_contracts.stations import (
    ArbitrationDeclared,
    ArbitrationDeclaredPayload,
    CallbackOutcome,
    CallbackPayload,
    ResolutionResult,
    ResolvedPayload,
    StationAcknowledged,
    StationCalledBack,
    StationResolved,
    StationTransferRequested,
    StationUpdatePayload,
    TransferRequestedPayload,
)
from caseflow_contracts.topics import CASES_LIFECYCLE, UPSTREAM_PARCEL_EXCEPTIONS
from caseflow_contracts.upstream import (
    Address,
    ContactCategory,
    Customer,
    CustomerContacted,
    CustomerContactPayload,
    ExceptionKind,
    ParcelExceptionPayload,
    ParcelExceptionReported,
    SaleStage,
)
from caseflow_kit.uow import event_headers

DIRECTORY = Path(__file__).resolve().parents[2] / "services/routing/caseflow_routing/data/stations.yaml"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高欧阳"
GIVEN = [
    "伟",
    "芳",
    "娜",
    "秀英",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "霞",
    "平",
]
STREETS = ["建国路", "中山路", "人民路", "解放路", "南京西路", "世纪大道", "文三路", "长安街", "滨江大道", "学院路"]
PROBLEM_CODES = ["地址不详", "联系不上收件人", "客户拒收", "面单破损", "超区件", "分拣差错"]
PLATFORMS = ["淘宝", "京东", "拼多多", "抖音电商"]


@dataclass(frozen=True)
class Place:
    station: str
    area: Area


def load_places(directory: Path = DIRECTORY) -> list[Place]:
    """Delivery areas and their covering stations, from the routing station directory."""
    data = yaml.safe_load(directory.read_text(encoding="utf-8"))
    places = []
    for station in data["stations"]:
        if station.get("active", True) is False:
            continue
        for cov in station.get("coverage", []):
            district = cov.get("district") or "西湖区"
            places.append(Place(station["code"], Area(province=cov["province"], city=cov["city"], district=district)))
    if not places:
        raise ValueError(f"no station with coverage in {directory}")
    return places


@dataclass
class Stats:
    sent: Counter[str] = field(default_factory=Counter)

    def line(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(self.sent.items()))


class Upstream:
    """Parcel exceptions and customer contacts, with repeats, duplicates and bad events mixed in."""

    def __init__(self, rng: random.Random, places: Sequence[Place], speed: float) -> None:
        self.rng = rng
        self.places = places
        self.speed = speed
        self.waybills: list[tuple[str, Place]] = []
        self.serial = 0

    def _customer(self, place: Place) -> Customer:
        rng = self.rng
        name = rng.choice(SURNAMES) + rng.choice(GIVEN)
        phone = f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
        street = f"{rng.choice(STREETS)}{rng.randrange(1, 999)}号{rng.randrange(1, 20)}单元{rng.randrange(101, 2999)}"
        return Customer(
            customer_id=f"U{rng.randrange(10**7):07d}",
            name=name,
            phone=phone,
            email=f"user{rng.randrange(10**6)}@example.com" if rng.random() < 0.4 else None,
            address=Address(area=place.area, street=street),
            vip=rng.random() < 0.05,
        )

    def _waybill(self) -> tuple[str, Place]:
        self.serial += 1
        now = datetime.now(UTC)
        waybill = f"BE{now:%y%m%d}{self.serial:08d}{self.rng.randrange(100):02d}"
        place = self.rng.choice(self.places)
        self.waybills.append((waybill, place))
        return waybill, place

    def exception(self) -> ParcelExceptionReported:
        rng = self.rng
        waybill, place = self._waybill()
        kind = rng.choices(
            [
                ExceptionKind.DELAY,
                ExceptionKind.DAMAGE,
                ExceptionKind.LOSS,
                ExceptionKind.SHORTAGE,
                ExceptionKind.OUT_OF_AREA,
                ExceptionKind.PROBLEM_PARCEL,
            ],
            weights=[45, 18, 10, 7, 12, 8],
        )[0]
        insured = rng.random() < 0.3
        freight = rng.choice([800, 1000, 1200, 1500, 2300])
        declared = rng.choice([5000, 12000, 30000, 80000, 150000, 600000])
        other = rng.choice(self.places)
        payload = ParcelExceptionPayload(
            source_system="oms",
            source_event_id=f"ex-{waybill}-{kind.value}",
            waybill_no=waybill,
            exception_kind=kind,
            problem_code=rng.choice(PROBLEM_CODES) if kind is ExceptionKind.PROBLEM_PARCEL else None,
            origin_station=other.station,
            current_station=place.station if kind is not ExceptionKind.OUT_OF_AREA else other.station,
            destination_station=place.station if kind is not ExceptionKind.OUT_OF_AREA else other.station,
            scanned_at=datetime.now(UTC),
            declared_value=Money(amount_minor=declared),
            insured=insured,
            freight=Money(amount_minor=freight),
            order_amount=Money(amount_minor=declared + rng.randrange(0, 5000)),
            platform=rng.choice(PLATFORMS),
            platform_order_id=f"PO{rng.randrange(10**12):012d}",
            customer=self._customer(place),
            shipping_address=None,
            cross_border=rng.random() < 0.03,
            description="包裹异常："
            + {"delay": "超时未送达", "damage": "外包装破损", "loss": "物流信息长时间未更新"}.get(kind.value, "需处理"),
        )
        return ParcelExceptionReported.create(payload, key=waybill, producer="oms")

    def contact(
        self, repeat: bool | None = None, *, about: str | None = None, category: ContactCategory | None = None
    ) -> CustomerContacted:
        """A contact about an earlier waybill (`repeat`, or the one named `about`), a new one, or either (35 %
        repeats) when not said. A claim request says who claims (the sender who paid, or the recipient)."""
        rng = self.rng
        if repeat is None:
            repeat = bool(self.waybills) and rng.random() < 0.35
        if about is not None:
            waybill, place = next((w, p) for w, p in reversed(self.waybills) if w == about)
        else:
            waybill, place = rng.choice(self.waybills[-500:]) if repeat else self._waybill()
        category = (
            category
            or rng.choices(
                [
                    ContactCategory.INQUIRY,
                    ContactCategory.COMPLAINT,
                    ContactCategory.CLAIM_REQUEST,
                    ContactCategory.REGULATOR_APPEAL,
                ],
                weights=[45, 30, 18, 7],
            )[0]
        )
        claimant = None
        if category is ContactCategory.CLAIM_REQUEST:
            claimant = Claimant(role=rng.choice([ClaimantRole.SENDER, ClaimantRole.RECIPIENT]))
        platform = rng.random() < 0.15
        payload = CustomerContactPayload(
            source_system="callcentre",
            source_id=f"ct-{time.time_ns()}-{rng.randrange(10**6)}",
            channel=rng.choice(
                [Channel.PHONE, Channel.PHONE, Channel.IM, Channel.EMAIL, Channel.APP, Channel.WEB_FORM]
            ),
            category=category,
            sale_stage=rng.choice(list(SaleStage)) if platform else None,
            customer=self._customer(place),
            waybill_no=waybill,
            platform=rng.choice(PLATFORMS) if platform else None,
            text=rng.choice(
                ["我的快递怎么还没到？", "包裹破了，里面东西坏了", "请尽快联系我", "已经第二次打电话了", "要求赔偿"]
            ),
            received_at=datetime.now(UTC),
            claimant=claimant,
        )
        return CustomerContacted.create(payload, key=waybill, producer="callcentre")

    def bad(self) -> tuple[str, bytes]:
        """Bytes a careless upstream might send: broken JSON, an unknown type, negative money."""
        choice = self.rng.randrange(3)
        if choice == 0:
            return UPSTREAM_PARCEL_EXCEPTIONS.name, b'{"type": "parcel.exception_reported", "payload": {'
        if choice == 1:
            body = {"event_id": "x1", "type": "parcel.vanished", "schema_version": "1.0"}
            return UPSTREAM_PARCEL_EXCEPTIONS.name, json.dumps(body).encode()
        event = json.loads(self.exception().to_bytes())
        event["payload"]["declared_value"] = {"amount_minor": -100, "currency": "CNY"}
        return UPSTREAM_PARCEL_EXCEPTIONS.name, json.dumps(event, ensure_ascii=False).encode()


def _profile(case_id: str, level: LadderLevel) -> str:
    """How the holder behaves with this case: stable per case, so a replay behaves the same."""
    if level is not LadderLevel.STATION:
        return "on_time"
    roll = int(hashlib.sha256(case_id.encode()).hexdigest()[:4], 16) % 100
    return "on_time" if roll < 72 else "late" if roll < 86 else "never"


class Stations:
    """Reacts to cases handed to stations the way real stations do, on the simulated clock."""

    def __init__(self, send: Any, speed: float, rng: random.Random) -> None:
        self.send = send
        self.speed = speed
        self.rng = rng
        self.opened: dict[str, CaseOpened] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    def later(self, sim_seconds: float, event: Event) -> None:
        async def fire() -> None:
            await asyncio.sleep(sim_seconds / self.speed)
            await self.send(event)

        task = asyncio.create_task(fire())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def on_event(self, event: Event) -> None:
        if isinstance(event, CaseOpened):
            self.opened[event.payload.case_id] = event
        elif isinstance(event, CaseEscalated):
            self.on_escalated(event)

    def on_escalated(self, event: CaseEscalated) -> None:
        p = event.payload
        opened = self.opened.get(p.case_id)
        base = {"case_id": p.case_id, "station": p.holder, "agent_id": f"A{self.rng.randrange(1000, 9999)}"}
        profile = _profile(p.case_id, p.level)
        if profile == "never":
            return
        now = datetime.now(UTC)
        if (
            p.kind is CaseKind.OUT_OF_AREA_TRANSFER
            and p.level is LadderLevel.STATION
            and opened
            and opened.payload.area is None
        ):
            payload = TransferRequestedPayload(**base, at=now, reason="超区件，非本网点派送范围")
            self.later(600, StationTransferRequested.create(payload, key=p.case_id, producer=p.holder))
            return
        self.later(
            300, StationAcknowledged.create(StationUpdatePayload(**base, at=now), key=p.case_id, producer=p.holder)
        )
        callback_at = self.rng.uniform(900, 5400) if profile == "on_time" else self.rng.uniform(8000, 15000)
        self.later(
            callback_at, _stamped(StationCalledBack, CallbackPayload, base, p.case_id, outcome=CallbackOutcome.REACHED)
        )
        if (
            p.kind in (CaseKind.DAMAGE, CaseKind.LOSS)
            and p.level is LadderLevel.HUB
            and opened
            and opened.payload.waybill_no
        ):
            declaration = ArbitrationDeclaredPayload(
                **base,
                at=now,
                waybill_no=opened.payload.waybill_no,
                liable_station=opened.payload.parcel.origin_station or p.holder,
                amount_claimed=opened.payload.parcel.declared_value or Money(amount_minor=10000),
            )
            self.later(1800, ArbitrationDeclared.create(declaration, key=p.case_id, producer=p.holder))
        resolve_at = self.rng.uniform(7200, 36000) if profile == "on_time" else self.rng.uniform(60000, 150000)
        self.later(
            resolve_at,
            _stamped(
                StationResolved,
                ResolvedPayload,
                base,
                p.case_id,
                result=ResolutionResult.RESOLVED,
                solution="已与客户沟通并处理完毕",
                satisfaction=self.rng.choice([3, 4, 5, 5, 5]),
            ),
        )


def _stamped(model: Any, payload_type: Any, base: dict[str, Any], key: str, **extra: Any) -> Event:
    """An update whose `at` is when it is sent, not when it was planned."""
    payload = payload_type(**base, at=datetime.now(UTC), **extra)
    event: Event = model.create(payload, key=key, producer=base["station"])
    return event


async def simulate(
    bootstrap: str,
    *,
    rate: float,
    speed: float,
    duration: float,
    prefix: str = "",
    seed: int = 7,
    bad_share: float = 0.02,
    stats: Stats | None = None,
    stations: bool = True,
) -> Stats:
    stats = stats or Stats()
    rng = random.Random(seed)
    upstream = Upstream(rng, load_places(), speed)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()

    async def send(event: Event) -> None:
        headers = [(k, v.encode()) for k, v in event_headers(event).items()]
        await producer.send(
            prefix + topic_for(type(event)).name, event.to_bytes(), key=event.key.encode(), headers=headers
        )
        stats.sent[event.type] += 1

    actors = Stations(send, speed, rng)
    watcher = asyncio.create_task(_watch_cases(bootstrap, prefix, actors)) if stations else None
    try:
        started = time.monotonic()
        n = 0
        while time.monotonic() - started < duration:
            n += 1
            roll = rng.random()
            if roll < bad_share:
                topic, raw = upstream.bad()
                await producer.send(prefix + topic, raw, key=b"bad")
                stats.sent["bad"] += 1
            elif roll < bad_share + 0.02 and upstream.waybills:
                event = upstream.exception()
                await send(event)
                await send(event)  # delivered twice
                stats.sent["duplicate"] += 1
            elif roll < 0.65:
                await send(upstream.exception())
            else:
                await send(upstream.contact())
            await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
    finally:
        await producer.flush()
        if watcher:
            watcher.cancel()
        for task in list(actors.tasks):
            task.cancel()
        await producer.stop()
    return stats


async def _watch_cases(bootstrap: str, prefix: str, actors: Stations) -> None:
    consumer = AIOKafkaConsumer(
        prefix + CASES_LIFECYCLE.name,
        bootstrap_servers=bootstrap,
        group_id=f"{prefix}caseflow-simulated-stations",
        auto_offset_reset="latest",
        fetch_max_wait_ms=50,
    )
    await consumer.start()
    try:
        async for record in consumer:
            try:
                actors.on_event(parse_event(record.value or b""))
            except ValueError:
                continue
    finally:
        await consumer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--topic-prefix", default="")
    parser.add_argument("--rate", type=float, default=20, help="upstream events per second")
    parser.add_argument("--speed", type=float, default=600, help="simulated seconds per real second")
    parser.add_argument("--duration", type=float, default=60, help="real seconds to run")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--bad-share", type=float, default=0.02)
    args = parser.parse_args()
    stats = asyncio.run(
        simulate(
            args.bootstrap,
            rate=args.rate,
            speed=args.speed,
            duration=args.duration,
            prefix=args.topic_prefix,
            seed=args.seed,
            bad_share=args.bad_share,
        )
    )
    print(f"sent: {stats.line()}")


if __name__ == "__main__":
    main()
