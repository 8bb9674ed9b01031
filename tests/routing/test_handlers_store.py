"""Routing's handlers on the kit's consumer path and a real SQLite store, without a broker (fast)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from caseflow_contracts import Event
from caseflow_contracts.cases import CaseEscalated
from caseflow_contracts.stations import StationAcknowledged, StationUpdatePayload
from caseflow_contracts.topics import CASES_LIFECYCLE, STATIONS_UPDATES
from caseflow_dev.rig import FakeRecord
from caseflow_kit import Runtime
from caseflow_kit.consumer import GuardedConsumer
from caseflow_kit.store import Query, Store
from caseflow_kit.store.mongo import MongoStore
from caseflow_routing.app import SPEC
from caseflow_routing.deps import RoutingDeps
from caseflow_routing.settings import RoutingSettings
from caseflow_routing.store import CASES, LOADS

from .factories import PUDONG, case_id, directory_data, opened, update


def _store(kind: str) -> Store | None:
    if kind == "sqlite":
        return None  # the runtime's default: a SQLite file in data_dir
    from pymongo_async_mock import AsyncMongoMockClient

    return MongoStore(AsyncMongoMockClient(), f"routing_{uuid.uuid4().hex[:8]}", transactions=False)


@pytest.fixture(params=["sqlite", "mongo-mock"])
async def runtime(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Runtime[RoutingSettings, RoutingDeps]]:
    """Routing on each store adapter (the Mongo one through pymongo-async-mock, without transactions)."""
    async for running in _runtime(tmp_path, _store(request.param)):
        yield running


@pytest.fixture
async def sqlite_runtime(tmp_path: Path) -> AsyncIterator[Runtime[RoutingSettings, RoutingDeps]]:
    """SQLite only: where a failed batch must roll back as a whole (the Mongo mock has no transactions)."""
    async for running in _runtime(tmp_path, None):
        yield running


async def _runtime(tmp_path: Path, store: Store | None) -> AsyncIterator[Runtime[RoutingSettings, RoutingDeps]]:
    data = directory_data()
    data["stations"][9]["capacity"] = 2  # SH-PD-02
    path = tmp_path / "stations.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    settings = RoutingSettings(data_dir=tmp_path, directory_path=path, log_format="console")
    running = Runtime(SPEC, settings, store)
    running.ownership.own_everything(1)
    await running.start_dependencies()

    async def no_publish() -> int:  # no broker here: the outbox keeps what would be published
        return 0

    running.relay.flush = no_publish  # type: ignore[method-assign]
    yield running
    await running.close()


def consumer(runtime: Runtime[Any, Any], topic: Any) -> GuardedConsumer:
    return next(c for c in runtime.consumers if c.subscription.topic is topic)


def records(topic: str, events: Sequence[Event]) -> list[FakeRecord]:
    return [FakeRecord(topic, 0, i, e.key.encode(), e.to_bytes()) for i, e in enumerate(events)]


async def test_one_batch_sees_its_own_assignments_and_ignores_routings_own_events(
    runtime: Runtime[RoutingSettings, RoutingDeps],
) -> None:
    lifecycle = consumer(runtime, CASES_LIFECYCLE)
    crowd = [opened(case_id(), hint="SH-PD-02", area=PUDONG) for _ in range(3)]
    await lifecycle.handle_batch(records(lifecycle.topic, crowd))
    holders = [(await runtime.store.get(CASES, e.payload.case_id) or {})["holder"] for e in crowd]
    assert holders == ["SH-PD-02", "SH-PD-02", "HUB-SH"]
    assert (await runtime.store.get(LOADS, "SH-PD-02") or {})["open"] == 2
    assert (await runtime.store.get(LOADS, "HUB-SH") or {})["open"] == 1

    # Routing's own case.escalated events come back on cases.lifecycle: they change nothing.
    outbox = await runtime.store.outbox_pending(100)
    assert len(outbox) == 3
    own = [CaseEscalated.model_validate_json(m.message.value) for m in outbox]
    before = await runtime.store.find(CASES, Query())
    await lifecycle.handle_batch(records(lifecycle.topic, own))
    assert await runtime.store.find(CASES, Query()) == before
    assert await runtime.store.outbox_backlog() == 3
    handled = runtime.registry.get_sample_value(
        "caseflow_events_handled_total",
        {"topic": "cases.lifecycle", "event_type": "case.escalated", "outcome": "ignored"},
    )
    assert handled == 3


async def test_a_batch_mixing_accepted_and_refused_updates(runtime: Runtime[RoutingSettings, RoutingDeps]) -> None:
    lifecycle, stations = consumer(runtime, CASES_LIFECYCLE), consumer(runtime, STATIONS_UPDATES)
    first = opened(case_id(), hint="SH-PD-01", area=PUDONG)
    await lifecycle.handle_batch(records(lifecycle.topic, [first]))
    cid = first.payload.case_id
    acks = [
        StationAcknowledged.create(StationUpdatePayload(**update(cid, station)), key=cid, producer="st")
        for station in ("SH-PD-02", "SH-PD-01", "SH-PD-01")
    ]
    await stations.handle_batch(records(stations.topic, acks))
    case = await runtime.store.get(CASES, cid) or {}
    assert case["state"] == "acknowledged"
    assert [h["action"] for h in case["history"]] == ["assigned", "acknowledge", "ignored_acknowledge"]
    pending = [m.message for m in await runtime.store.outbox_pending(100)]
    dead = [m for m in pending if m.topic.endswith(".dlq")]
    assert [m.headers["x-dlq-reason"] for m in dead] == ["not_holder"]
    assert [m.headers["x-event-type"] for m in pending if not m.topic.endswith(".dlq")] == [
        "case.escalated",
        "case.acknowledged",
    ]


async def test_a_second_case_opened_under_another_id_is_dead_lettered_not_applied(
    sqlite_runtime: Runtime[RoutingSettings, RoutingDeps],
) -> None:
    runtime = sqlite_runtime
    lifecycle = consumer(runtime, CASES_LIFECYCLE)
    first = opened(case_id(), hint="SH-PD-01", area=PUDONG)
    impostor = opened(first.payload.case_id, hint="BJ-CY-01", area=None)
    again = [first, opened(case_id(), hint="SH-PD-02", area=PUDONG), impostor, first]
    await lifecycle.handle_batch(records(lifecycle.topic, again))
    case = await runtime.store.get(CASES, first.payload.case_id) or {}
    assert case["holder"] == "SH-PD-01"
    pending = [m.message for m in await runtime.store.outbox_pending(100)]
    dead = [m for m in pending if m.topic.endswith(".dlq")]
    assert len(dead) == 1
    assert dead[0].headers["x-dlq-reason"] == "duplicate_key"
    assert "duplicate key in cases" in dead[0].headers["x-dlq-detail"]
    assert [m.headers["x-event-type"] for m in pending if not m.topic.endswith(".dlq")] == ["case.escalated"] * 2
    assert (await runtime.store.get(LOADS, "SH-PD-01") or {})["open"] == 1
