"""Sla test helpers: a controllable clock, lifecycle event builders, and a runtime without a broker."""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from caseflow_contracts import Event, parse_event, topic_for
from caseflow_contracts.cases import (
    CaseAwaitingCustomer,
    CaseCallbackLogged,
    CaseClosed,
    CaseCustomerResponded,
    CaseEscalated,
    CaseOpened,
    CaseProgressNoted,
    CaseResolved,
    CaseTransferred,
)
from caseflow_contracts.notify import NotificationSent
from caseflow_dev.rig import FakeRecord
from caseflow_kit import Runtime
from caseflow_kit.store import Query, Store
from caseflow_kit.store.mongo import MongoStore
from caseflow_kit.store.sqlite import SqliteStore
from caseflow_kit.uow import event_headers
from caseflow_sla.app import SPEC
from caseflow_sla.handlers import SlaDeps
from caseflow_sla.settings import SlaSettings
from caseflow_sla.store import CLOCKS

T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC).timestamp()  # Tue 09:00 in Shanghai
H = 3600


class ManualTime:
    """The service's time source in tests: moves only when told."""

    def __init__(self, start: float = T0) -> None:
        self.value = start

    def __call__(self) -> float:
        return self.value

    def advance(self, seconds: float) -> float:
        self.value += seconds
        return self.value


def _iso(value: datetime) -> str:
    return value.isoformat()


def utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


_case_numbers = itertools.count(1)


def new_case_id() -> str:
    return f"CF-TEST{next(_case_numbers):08d}"


class Lifecycle:
    """Builders of the case.* events sla consumes, as routing and intake would publish them."""

    producer = "routing"

    def _make(self, model: type[Event], case_id: str, payload: dict[str, Any]) -> Event:
        return model.create(
            model.model_fields["payload"].annotation.model_validate_json(json.dumps(payload, default=_iso)),
            key=case_id,
            producer=self.producer,
        )  # type: ignore[union-attr]

    def opened(
        self, case_id: str, at: float, *, kind: str = "delay", channel: str = "phone", priority: str = "normal"
    ) -> Event:
        return self._make(
            CaseOpened,
            case_id,
            {
                "case_id": case_id,
                "kind": kind,
                "priority": priority,
                "channel": channel,
                "language": "zh-CN",
                "station_hint": {"reason": "destination station"},
                "customer": {"masked": {"name": "张*"}, "sealed": "x" * 24, "key_id": "k1"},
                "customer_ref": "c0ffee",
                "opened_at": utc(at),
                "rules_version": "test",
            },
        )

    def escalated(
        self,
        case_id: str,
        at: float,
        *,
        holder: str = "SH-PUDONG-01",
        level: str = "station",
        trigger: str = "initial_assignment",
        kind: str = "delay",
        priority: str = "normal",
        channel: str = "phone",
    ) -> Event:
        return self._make(
            CaseEscalated,
            case_id,
            {
                "case_id": case_id,
                "holder": holder,
                "level": level,
                "trigger": trigger,
                "trigger_ref": f"t{int(at)}",
                "reason": "covers the delivery area",
                "kind": kind,
                "priority": priority,
                "channel": channel,
                "escalated_at": utc(at),
            },
        )

    def transferred(
        self, case_id: str, at: float, *, from_station: str, to_station: str, level: str = "station"
    ) -> Event:
        return self._make(
            CaseTransferred,
            case_id,
            {
                "case_id": case_id,
                "from_station": from_station,
                "to_station": to_station,
                "level": level,
                "reason": "out of area",
                "kind": "out_of_area_transfer",
                "priority": "normal",
                "channel": "phone",
                "transferred_at": utc(at),
            },
        )

    def _action(self, model: type[Event], case_id: str, at: float, station: str, level: str, **extra: Any) -> Event:
        return self._make(
            model, case_id, {"case_id": case_id, "station": station, "level": level, "at": utc(at), **extra}
        )

    def callback(self, case_id: str, at: float, *, station: str = "SH-PUDONG-01", level: str = "station") -> Event:
        return self._action(CaseCallbackLogged, case_id, at, station, level, outcome="reached")

    def progress(self, case_id: str, at: float, *, station: str = "SH-PUDONG-01", level: str = "station") -> Event:
        return self._action(CaseProgressNoted, case_id, at, station, level)

    def awaiting(self, case_id: str, at: float, *, station: str = "SH-PUDONG-01", level: str = "station") -> Event:
        return self._action(CaseAwaitingCustomer, case_id, at, station, level)

    def responded(self, case_id: str, at: float, *, station: str = "SH-PUDONG-01", level: str = "station") -> Event:
        return self._action(CaseCustomerResponded, case_id, at, station, level)

    def resolved(
        self,
        case_id: str,
        at: float,
        *,
        station: str = "SH-PUDONG-01",
        level: str = "station",
        result: str = "resolved",
    ) -> Event:
        return self._action(CaseResolved, case_id, at, station, level, result=result, kind="delay")

    def notification_sent(self, case_id: str, at: float, *, channel: str = "email") -> Event:
        payload = {
            "notification_id": f"n{int(at)}",
            "case_id": case_id,
            "channel": channel,
            "template": "case-opened",
            "locale": "zh-CN",
            "recipient": "z***@example.com",
            "trigger_event_id": "e1",
            "trigger_type": "case.opened",
            "attempts": 1,
            "at": utc(at),
        }
        return self._make(NotificationSent, case_id, payload)

    def closed(self, case_id: str, at: float) -> Event:
        return self._make(CaseClosed, case_id, {"case_id": case_id, "closed_at": utc(at), "reason": "done"})


class SlaHarness:
    """The real runtime (handlers, kit consumer, SQLite store, timers) with the broker left out."""

    def __init__(self, runtime: Runtime[SlaSettings, SlaDeps], time: ManualTime) -> None:
        self.runtime = runtime
        self.time = time
        self.offsets = itertools.count()
        self.published: list[Event] = []

    async def feed(self, *events: Event, batch: bool = False) -> None:
        """Deliver events through the kit's consumer: one batch each, or all in one batch."""
        consumers = {c.topic: c for c in self.runtime.consumers}
        records = [
            FakeRecord(
                self.runtime.topic_name(topic_for(type(event))),
                0,
                next(self.offsets),
                event.key.encode(),
                event.to_bytes(),
                [(k, v.encode()) for k, v in event_headers(event).items()],
            )
            for event in events
        ]
        for group in [records] if batch else [[r] for r in records]:
            await consumers[group[0].topic].handle_batch(group)
        await self.drain()

    def outcomes(self) -> dict[str, float]:
        """What the kit counted: handled / duplicate / dead_lettered … per event type."""
        counts: dict[str, float] = {}
        for metric in self.runtime.metrics.handled.collect():
            for sample in metric.samples:
                if sample.name.endswith("_total"):
                    key = f"{sample.labels['event_type']}:{sample.labels['outcome']}"
                    counts[key] = counts.get(key, 0) + sample.value
        return counts

    async def drain(self) -> list[Event]:
        store = self.runtime.store
        records = await store.outbox_pending(100_000)
        await store.outbox_done([r.id for r in records])
        fresh = [parse_event(r.message.value) for r in records]
        self.published += fresh
        return fresh

    async def tick(self, seconds: float) -> list[Event]:
        """Move the clock and fire whatever came due."""
        from caseflow_sla.timers import fire_due

        self.time.advance(seconds)
        while await fire_due(self.runtime) >= self.runtime.settings.timer_batch:
            pass
        return await self.drain()

    def of(self, case_id: str, event_type: str | None = None) -> list[Event]:
        return [e for e in self.published if e.key == case_id and (event_type is None or e.type == event_type)]

    async def clocks(self, case_id: str) -> dict[str, dict[str, Any]]:
        docs = await self.runtime.store.find(CLOCKS, Query(where={"case_id": case_id}))
        return {f"{d['metric']}@{d['level']}": d for d in docs}


@pytest.fixture
def lifecycle() -> Lifecycle:
    return Lifecycle()


def open_store(kind: str, tmp_path: Path) -> Store:
    if kind == "mongo":
        from pymongo_async_mock import AsyncMongoMockClient

        return MongoStore(AsyncMongoMockClient(), f"sla_{uuid.uuid4().hex[:8]}", transactions=False)
    return SqliteStore(tmp_path / "sla.db")


@pytest.fixture(params=["sqlite", "mongo"])
async def sla(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SlaHarness]:
    """The handlers and timers on each store adapter (MongoDB through its in-memory mock)."""
    settings = SlaSettings(data_dir=tmp_path, log_format="console")
    runtime: Runtime[SlaSettings, SlaDeps] = Runtime(SPEC, settings, open_store(request.param, tmp_path))
    runtime.ownership.own_everything(1)
    await runtime.start_dependencies()
    time = ManualTime()
    runtime.deps.now = time
    harness = SlaHarness(runtime, time)

    async def no_publish() -> int:
        return 0

    runtime.relay.flush = no_publish  # type: ignore[method-assign]
    try:
        yield harness
    finally:
        await runtime.store.close()
