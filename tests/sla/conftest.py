"""Sla test helpers: lifecycle event builders stamped with their event time, and sla on the shared rig
(real runtime, consumer and store, a ManualClock, the broker stood in for)."""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from caseflow_contracts import Event
from caseflow_contracts.cases import (
    CaseAwaitingCustomer,
    CaseCallbackLogged,
    CaseClosed,
    CaseCustomerResponded,
    CaseEscalated,
    CaseHqRuled,
    CaseMerged,
    CaseNoteRefused,
    CaseOpened,
    CaseProgressNoted,
    CaseReopened,
    CaseResolved,
    CaseSatisfactionRecorded,
    CaseTransferred,
)
from caseflow_contracts.claims import ChargebackIssued, ChargebackReversed, PayoutIssued
from caseflow_contracts.notify import NotificationSent
from caseflow_dev.rig import ServiceUnderTest, service_under_test
from caseflow_kit.clock import ManualClock
from caseflow_kit.store import Query, Store
from caseflow_kit.store.mongo import MongoStore
from caseflow_kit.store.sqlite import SqliteStore
from caseflow_sla.app import SPEC
from caseflow_sla.deps import SlaDeps, packaged
from caseflow_sla.settings import SlaSettings
from caseflow_sla.store import CLOCKS
from caseflow_sla.timers import fire_due

T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC).timestamp()  # Tue 09:00 in Shanghai
H = 3600
#: The packaged policies' allowed lateness for a 2-hour clock (2 minutes, under 5 % of the target).
HOLD = 120


def utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


_case_numbers = itertools.count(1)


def new_case_id() -> str:
    return f"CF-TEST{next(_case_numbers):08d}"


def wall_clock_policies(folder: Path) -> Path:
    """The packaged policies with every clock on wall-clock time (no calendars): arithmetic a reader can check."""
    policies = yaml.safe_load(packaged("policies.yaml").read_text(encoding="utf-8"))
    policies["station_calendars"], policies["default_calendar"] = {}, None
    path = folder / "wall-clock-policies.yaml"
    path.write_text(yaml.safe_dump(policies, allow_unicode=True), encoding="utf-8")
    return path


class Lifecycle:
    """Builders of what sla consumes, as routing, intake, notify and claims publish it, stamped at event time."""

    def _make(self, model: type[Event], case_id: str, at: float, payload: dict[str, Any], producer: str) -> Event:
        annotation: Any = model.model_fields["payload"].annotation
        body = annotation.model_validate_json(json.dumps(payload, default=lambda v: v.isoformat()))
        return model.create(body, key=case_id, producer=producer, occurred_at=utc(at))

    def opened(
        self,
        case_id: str,
        at: float,
        *,
        kind: str = "delay",
        channel: str = "phone",
        priority: str = "normal",
        complaint: bool = False,
    ) -> Event:
        payload = {
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
            "complaint": complaint,
        }
        return self._make(CaseOpened, case_id, at, payload, "intake")

    def merged(
        self,
        case_id: str,
        at: float,
        *,
        channel: str = "phone",
        repeat: bool = True,
        complaint: bool = False,
        contact_at: float | None = None,
    ) -> Event:
        payload: dict[str, Any] = {
            "case_id": case_id,
            "source_event_id": uuid.uuid4().hex,
            "channel": channel,
            "repeat_contacts": 1,
            "priority": "high",
            "priority_raised": repeat,
            "repeat_contact": repeat,
            "merged_at": utc(at),
            "complaint": complaint,
        }
        if contact_at is not None:
            payload["contact_at"] = utc(contact_at)
        return self._make(CaseMerged, case_id, at, payload, "intake")

    def reopened(self, case_id: str, at: float, *, count: int = 1) -> Event:
        payload = {
            "case_id": case_id,
            "source_event_id": uuid.uuid4().hex,
            "reopen_count": count,
            "priority": "high",
            "reopened_at": utc(at),
        }
        return self._make(CaseReopened, case_id, at, payload, "intake")

    def escalated(
        self,
        case_id: str,
        at: float,
        *,
        holder: str = "SH-PUDONG-01",
        level: str = "station",
        trigger: str = "initial_assignment",
        trigger_ref: str | None = None,
        supervisor: str | None = None,
        kind: str = "delay",
        priority: str = "normal",
        channel: str = "phone",
    ) -> Event:
        payload = {
            "case_id": case_id,
            "holder": holder,
            "level": level,
            "trigger": trigger,
            "trigger_ref": trigger_ref or f"t{int(at)}",
            "reason": "covers the delivery area",
            "kind": kind,
            "priority": priority,
            "channel": channel,
            "escalated_at": utc(at),
            "supervisor": supervisor,
        }
        return self._make(CaseEscalated, case_id, at, payload, "routing")

    def transferred(self, case_id: str, at: float, *, from_station: str, to_station: str) -> Event:
        payload = {
            "case_id": case_id,
            "from_station": from_station,
            "to_station": to_station,
            "level": "station",
            "reason": "out of area",
            "kind": "out_of_area_transfer",
            "priority": "normal",
            "channel": "phone",
            "transferred_at": utc(at),
            "decided_by": "HQ-CS",
        }
        return self._make(CaseTransferred, case_id, at, payload, "routing")

    def _action(self, model: type[Event], case_id: str, at: float, station: str, level: str, **extra: Any) -> Event:
        payload = {"case_id": case_id, "station": station, "level": level, "at": utc(at), **extra}
        return self._make(model, case_id, at, payload, "routing")

    def callback(
        self,
        case_id: str,
        at: float,
        *,
        station: str = "SH-PUDONG-01",
        level: str = "station",
        counts: bool = True,
    ) -> Event:
        told = {"outcome": "reached", "result": "已改派，明天送达"} if counts else {"outcome": "not_reached"}
        return self._action(CaseCallbackLogged, case_id, at, station, level, counts_as_response=counts, **told)

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

    def closed(self, case_id: str, at: float) -> Event:
        return self._make(
            CaseClosed, case_id, at, {"case_id": case_id, "closed_at": utc(at), "reason": "done"}, "routing"
        )

    def note_refused(self, case_id: str, at: float, *, station: str = "SH-PUDONG-01") -> Event:
        payload = {
            "case_id": case_id,
            "station": station,
            "field": "note",
            "words": ["喂"],
            "refused_event_id": uuid.uuid4().hex,
            "at": utc(at),
        }
        return self._make(CaseNoteRefused, case_id, at, payload, "routing")

    def hq_ruled(self, case_id: str, at: float, *, station: str = "SH-PUDONG-01", ruling: str) -> Event:
        payload = {"case_id": case_id, "station": station, "ruling": ruling, "decided_by": "HQ-CS", "at": utc(at)}
        return self._make(CaseHqRuled, case_id, at, payload, "routing")

    def satisfaction(self, case_id: str, at: float, score: int) -> Event:
        payload = {
            "case_id": case_id,
            "score": score,
            "channel": "phone",
            "answered_at": utc(at),
            "source_event_id": uuid.uuid4().hex,
        }
        return self._make(CaseSatisfactionRecorded, case_id, at, payload, "intake")

    def notification_sent(self, case_id: str, at: float, *, channel: str = "email") -> Event:
        payload = {
            "notification_id": f"n{int(at)}{channel}",
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
        return self._make(NotificationSent, case_id, at, payload, "notify")

    def payout(self, case_id: str, at: float, fen: int) -> Event:
        payload = {
            "payout_id": f"p-{case_id}",
            "claim_id": f"c-{case_id}",
            "case_id": case_id,
            "amount": {"amount_minor": fen, "currency": "CNY"},
            "issued_at": utc(at),
        }
        return self._make(PayoutIssued, case_id, at, payload, "claims")

    def chargeback(self, case_id: str, at: float, station: str, fen: int, *, reversed_: bool = False) -> Event:
        money = {"payout_share": {"amount_minor": fen}, "penalty": {"amount_minor": 0}, "total": {"amount_minor": fen}}
        payload: dict[str, Any] = {
            "chargeback_id": f"cb-{case_id}-{station}",
            "claim_id": f"c-{case_id}",
            "case_id": case_id,
            "station": station,
            **money,
        }
        if reversed_:
            payload |= {"reason": "appeal upheld", "reversed_at": utc(at)}
            return self._make(ChargebackReversed, case_id, at, payload, "claims")
        return self._make(ChargebackIssued, case_id, at, payload | {"issued_at": utc(at)}, "claims")


class Sla:
    """sla on the shared rig: feed it events, move its clock and fire its timers, read what it published."""

    def __init__(self, rig: ServiceUnderTest[SlaSettings, SlaDeps]) -> None:
        self.rig = rig
        self.runtime = rig.runtime
        self.clock = rig.clock
        self.published: list[Event] = []

    async def feed(self, *events: Event, batch: bool = False) -> list[Event]:
        """Deliver events through the kit's consumer (one batch each, or all in one); return what they caused."""
        await self.rig.deliver(*events, batch=batch)
        return await self.drain()

    async def drain(self) -> list[Event]:
        fresh = [event for topic, event in await self.rig.emitted() if not topic.endswith(".dlq")]
        self.published += fresh
        return fresh

    async def tick(self, seconds: float) -> list[Event]:
        """Move the clock and fire whatever came due."""
        self.clock.advance(seconds)
        while await fire_due(self.runtime) >= self.runtime.settings.timer_batch:
            pass
        return await self.drain()

    def at(self, epoch: float) -> None:
        self.clock.set(utc(epoch))

    def of(self, case_id: str, event_type: str | None = None) -> list[Event]:
        return [e for e in self.published if e.key == case_id and (event_type is None or e.type == event_type)]

    def outcomes(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for metric in self.runtime.metrics.handled.collect():
            for sample in metric.samples:
                if sample.name.endswith("_total"):
                    key = f"{sample.labels['event_type']}:{sample.labels['outcome']}"
                    counts[key] = counts.get(key, 0) + int(sample.value)
        return counts

    def metric(self, name: str, **labels: str) -> float:
        return self.runtime.registry.get_sample_value(name, labels) or 0.0

    async def clocks(self, case_id: str) -> dict[str, dict[str, Any]]:
        docs = await self.runtime.store.find(CLOCKS, Query(where={"case_id": case_id}))
        return {f"{d['metric']}@{d['level']}" + (f"#{d['episode']}" if d.get("episode") else ""): d for d in docs}


@pytest.fixture
def lifecycle() -> Lifecycle:
    return Lifecycle()


def open_store(kind: str, tmp_path: Path) -> Store:
    if kind == "mongo":
        from pymongo_async_mock import AsyncMongoMockClient

        return MongoStore(AsyncMongoMockClient(), f"sla_{uuid.uuid4().hex[:8]}", transactions=False)
    return SqliteStore(tmp_path / "sla.db")


def sla_settings(tmp_path: Path, **overrides: Any) -> SlaSettings:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "log_format": "console",
        "policies_file": wall_clock_policies(tmp_path),
        **overrides,
    }
    return SlaSettings.model_validate(values)


@pytest.fixture(params=["sqlite", "mongo"])
async def sla(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Sla]:
    """sla on each store adapter (MongoDB through its in-memory mock), on wall-clock policies."""
    store = open_store(request.param, tmp_path)
    async with service_under_test(SPEC, sla_settings(tmp_path), store=store, clock=ManualClock(utc(T0))) as rig:
        yield Sla(rig)
