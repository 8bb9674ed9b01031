"""Through the real broker (Tansu) and SQLite: sla replicas in one group, and late facts held up in front of it.

Time is the test's: the replicas read a ManualClock, so nothing waits for real deadlines; every wait is a
bounded poll for something to happen, and "nothing more" is read up to the end of the topics after the
replicas stopped (their outboxes published on shutdown).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from caseflow_contracts import Event, parse_event
from caseflow_contracts.stations import CallbackOutcome, CallbackPayload, StationCalledBack
from caseflow_contracts.topics import QA_SCORECARD, SLA_BREACHES, SLA_EVENTS, STATIONS_UPDATES
from caseflow_dev.harness import run_in_process
from caseflow_dev.testing import KafkaTestKit
from caseflow_kit.auth import Role
from caseflow_kit.clock import ManualClock
from caseflow_kit.store import Query
from caseflow_sla.app import SPEC
from caseflow_sla.settings import SlaSettings
from caseflow_sla.store import CLOCKS

from .conftest import HOLD, T0, H, Lifecycle, new_case_id, utc, wall_clock_policies

DAY = 24 * H
SHANGHAI = ZoneInfo("Asia/Shanghai")


async def until(predicate: Callable[[], Awaitable[bool]], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not await predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def read_all(kafka: KafkaTestKit, topic: Any) -> list[Event]:
    """Every record of a topic, up to its end now: nothing is waited for."""
    name = kafka.topic(topic)
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or ())]
        assert partitions, f"{name} has no partitions"
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[ConsumerRecord[bytes, bytes]] = []
        while any([await consumer.position(p) < ends[p] for p in partitions]):
            for part in (await consumer.getmany(timeout_ms=100)).values():
                records.extend(part)
        return [parse_event(r.value or b"") for r in records]
    finally:
        await consumer.stop()


def settings(kafka: KafkaTestKit, **overrides: Any) -> SlaSettings:
    return kafka.settings(SlaSettings, timer_poll_ms=50, policies_file=wall_clock_policies(kafka.data_dir), **overrides)


async def test_two_replicas_and_a_restart_breach_each_clock_exactly_once(
    kafka: KafkaTestKit, lifecycle: Lifecycle
) -> None:
    clock = ManualClock(utc(T0))
    config = settings(kafka)
    cases = [new_case_id() for _ in range(16)]
    answered, silent = cases[:8], cases[8:]

    async def count_clocks(runtime: Any, **where: Any) -> int:
        return int(await runtime.store.count(CLOCKS, Query(where=where)))

    # One replica takes the escalations, then stops: nobody watches while the warnings come due.
    async with run_in_process(SPEC, config, clock=clock) as first:
        for case in cases:
            await kafka.publish(lifecycle.escalated(case, T0, holder="SH-PUDONG-01"))
        await until(lambda: _equals(count_clocks(first.runtime, metric="callback"), len(cases)))
    clock.advance(1.7 * H)

    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(run_in_process(SPEC, config, clock=clock))
        # On start it fires at once, and once, what came due while it was down.
        warnings = await kafka.collect(SLA_EVENTS, len(cases), timeout_s=30)
        assert len(warnings) == len(cases)

        b_stack = AsyncExitStack()
        await b_stack.enter_async_context(run_in_process(SPEC, config, clock=clock))  # same group, same file
        for case in answered:
            await kafka.publish(lifecycle.callback(case, T0 + 1.8 * H))
        mets = await kafka.collect(SLA_EVENTS, len(cases) + len(answered), timeout_s=30)
        assert len(mets) == len(cases) + len(answered)

        # The second replica stops mid-stream; the first fires the callback breaches of the silent half.
        await b_stack.aclose()
        clock.advance(0.8 * H)
        callback_breaches = await kafka.collect(SLA_BREACHES, len(silent), timeout_s=30)
        assert len(callback_breaches) == len(silent)

        # It comes back; both race for the resolution and customer-update breaches of every case.
        await stack.enter_async_context(run_in_process(SPEC, config, clock=clock))
        clock.set(utc(T0 + 3 * DAY))
        expected = len(silent) + 2 * len(cases)
        records = await kafka.collect(SLA_BREACHES, expected, timeout_s=60)
        assert len(records) == expected
        for case in silent:  # a callback long after the breach: recorded late, publishes nothing
            await kafka.publish(lifecycle.callback(case, T0 + 3 * DAY + 60))
        await until(lambda: _equals(count_clocks(a.runtime, metric="callback", outcome="late"), len(silent)))
        async with httpx.AsyncClient(base_url=a.url, headers=kafka.auth(Role.CASES_READER)) as http:
            response = await http.get("/kpis", params={"station": "SH-PUDONG-01", "from": str(T0 - 60)})
        body = response.json()
        assert response.status_code == 200, body
        assert body["callback_within_target_rate"] == 0.5
        assert body["callbacks_decided"] == len(cases)
        assert body["open_breaches"] == 2 * len(cases)  # resolution and customer update: still open
        assert body["mean_time_to_callback_s"] == (8 * 1.8 * H + 8 * (3 * DAY + 60)) / 16
        assert body["qa_points"] == 100 * (len(silent) + len(cases))  # 2-hour and 48-hour duties missed

    # Every replica stopped and published what it committed: the topics hold all there is.
    breaches = await read_all(kafka, SLA_BREACHES)
    keys = Counter((e.payload.case_id, e.payload.metric, e.payload.level) for e in breaches)  # type: ignore[attr-defined]
    assert len(breaches) == expected
    assert set(keys.values()) == {1}
    assert Counter(k[1] for k in keys) == {
        "callback": len(silent),
        "resolution": len(cases),
        "customer_update": len(cases),
    }
    events = await read_all(kafka, SLA_EVENTS)
    others = Counter((e.type, e.payload.case_id) for e in events)  # type: ignore[attr-defined]
    assert len(events) == len(cases) + len(answered)
    assert set(others.values()) == {1}
    points = await read_all(kafka, QA_SCORECARD)
    assert len(points) == len({e.event_id for e in points}) == len(silent) + len(cases)


async def _equals(value: Awaitable[int], expected: int) -> bool:
    return await value == expected


class HeldRouting:
    """routing's part of the story, held up: the stations' updates reach the broker in time, and this consumer
    (standing in for a routing replica that is restarting) passes each on only when the test releases it,
    stamped as routing stamps a station's action: with when the update reached the broker."""

    def __init__(self, kafka: KafkaTestKit) -> None:
        self.kafka = kafka
        self.held: dict[str, ConsumerRecord[bytes, bytes]] = {}

    async def take(self, count: int) -> None:
        records = await self.kafka.collect(STATIONS_UPDATES, count, timeout_s=30)
        assert len(records) == count
        self.held = {parse_event(r.value or b"").key: r for r in records}

    async def release(self, case_id: str, lifecycle: Lifecycle) -> float:
        record = self.held.pop(case_id)
        update: Any = parse_event(record.value or b"").payload
        reached = record.timestamp / 1000
        await self.kafka.publish(lifecycle.callback(case_id, reached, station=update.station))
        return reached


async def test_an_on_time_callback_held_up_behind_routing_is_never_charged_as_a_breach(
    kafka: KafkaTestKit, lifecycle: Lifecycle
) -> None:
    """Issue 20: two stations call back before the deadline; their updates wait behind a stalled routing.
    One reaches sla during the allowed lateness (no breach at all), the other after its breach went out
    (withdrawn, its points given back). The scorecard and the KPIs say met."""
    start = datetime.now(UTC).replace(microsecond=0).timestamp()  # the broker stamps records on its own clock
    clock = ManualClock(utc(start))
    in_hold, after_breach = new_case_id(), new_case_id()
    routing = HeldRouting(kafka)
    async with run_in_process(SPEC, settings(kafka), clock=clock) as sla:
        store = sla.runtime.store
        for case in (in_hold, after_breach):
            await kafka.publish(lifecycle.escalated(case, start, holder="SH-PUDONG-01"))

        async def callback_clock(case: str) -> dict[str, Any]:
            return await store.get(CLOCKS, f"{case}|callback|station") or {}

        await until(lambda: _all(callback_clock(c) for c in (in_hold, after_breach)))
        for case in (in_hold, after_breach):  # the station calls the customer and tells the result
            payload = CallbackPayload(
                case_id=case, station="SH-PUDONG-01", at=utc(start), outcome=CallbackOutcome.REACHED, result="已改派"
            )
            await kafka.publish(StationCalledBack.create(payload, key=case, producer="SH-PUDONG-01"))
        await routing.take(2)

        deadline = start + 2 * H
        clock.set(utc(deadline + 60))  # past the deadline, inside the allowed lateness: held
        await until(lambda: _all(_warned(callback_clock(c)) for c in (in_hold, after_breach)))
        assert await read_all(kafka, SLA_BREACHES) == []

        reached = await routing.release(in_hold, lifecycle)
        assert reached < deadline
        met = await kafka.collect(SLA_EVENTS, 1, timeout_s=30)
        assert [parse_event(r.value).type for r in met] == ["sla.met"]

        clock.set(utc(deadline + HOLD + 1))  # the hold is over: the other breach goes out
        [breach] = await kafka.collect(SLA_BREACHES, 1, timeout_s=30)
        assert parse_event(breach.value).key == after_breach
        await routing.release(after_breach, lifecycle)
        _, withdrawal = await kafka.collect(SLA_BREACHES, 2, timeout_s=30)
        withdrawn: Any = parse_event(withdrawal.value)
        assert withdrawn.type == "sla.breach_withdrawn"
        assert withdrawn.payload.breach_event_id == parse_event(breach.value).event_id
        await kafka.collect(QA_SCORECARD, 2, timeout_s=30)

        async with httpx.AsyncClient(base_url=sla.url, headers=kafka.auth(Role.CASES_READER)) as http:
            kpis = (await http.get("/kpis", params={"station": "SH-PUDONG-01", "from": str(start - 60)})).json()
            period = datetime.fromtimestamp(deadline, SHANGHAI).strftime("%Y-%m")  # the QA table's zone
            card = (await http.get("/stations/SH-PUDONG-01/scorecard", params={"period": period})).json()
        assert (kpis["callback_within_target_rate"], kpis["callbacks_decided"], kpis["qa_points"]) == (1.0, 2, 0)
        assert (card["points"], card["charged"], card["reversed"]) == (0, 100, 100)

    breaches = await read_all(kafka, SLA_BREACHES)
    assert [(e.type, e.key) for e in breaches] == [
        ("sla.breached", after_breach),
        ("sla.breach_withdrawn", after_breach),
    ]
    assert [e.type for e in await read_all(kafka, QA_SCORECARD)] == ["qa.points_charged", "qa.points_reversed"]


async def _all(found: Any) -> bool:
    return all([await doc for doc in found])


async def _warned(doc: Awaitable[dict[str, Any]]) -> dict[str, Any] | None:
    found = await doc
    return found if found.get("warned") else None


def shanghai(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).timestamp()


async def test_the_2_hour_callback_counts_the_station_calendar_through_the_broker(
    kafka: KafkaTestKit, lifecycle: Lifecycle
) -> None:
    """Issue 15, on the packaged policies (calendars on) and the broker's topics: a case handed at 22:00 to a
    Shanghai station open 08:00-20:00 is due at 10:00 the next morning; one handed at 22:00 on the eve of
    National Day (three public holidays) is due on the Sunday, open from 09:00, at 11:00. Time is the test's
    ManualClock; the deadline is the one sla publishes with the breach."""
    stories = [  # handed over, the station's breach deadline (both Asia/Shanghai)
        (shanghai("2026-09-30T22:00"), shanghai("2026-10-04T11:00")),
        (shanghai("2026-11-24T22:00"), shanghai("2026-11-25T10:00")),
    ]
    clock = ManualClock(utc(stories[0][0]))
    config = kafka.settings(SlaSettings, timer_poll_ms=50)  # the packaged policies, calendars and all
    async with run_in_process(SPEC, config, clock=clock):
        for handed, deadline in stories:
            case = new_case_id()
            clock.set(utc(handed))
            await kafka.publish(lifecycle.opened(case, handed, channel="phone"))  # a customer called
            await kafka.publish(lifecycle.escalated(case, handed, holder="SH-PUDONG-01"))
            clock.set(utc(deadline + HOLD + 1))  # past the deadline and the allowed lateness: published

            async def breached(case: str = case) -> bool:
                return any(e.key == case and _metric(e) == "callback" for e in await read_all(kafka, SLA_BREACHES))

            await until(breached)
            [breach] = [e for e in await read_all(kafka, SLA_BREACHES) if e.key == case and _metric(e) == "callback"]
            p: Any = breach.payload
            assert (p.station, p.business_hours, p.target_seconds) == ("SH-PUDONG-01", True, 2 * H)
            assert (p.started_at.timestamp(), p.deadline_at.timestamp()) == (handed, deadline)


def _metric(event: Event) -> str:
    return str(getattr(event.payload, "metric", ""))
