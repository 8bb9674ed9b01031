"""Routing's handlers on the shared rig: the kit's real consumer and runtime, SQLite (and the Mongo adapter through
pymongo-async-mock), a manual clock, no broker (fast)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from caseflow_contracts import Event
from caseflow_contracts.cases import CaseEscalated
from caseflow_contracts.common import LadderLevel
from caseflow_contracts.stations import (
    CallbackPayload,
    CaseRecord,
    ProgressPayload,
    ResolutionResult,
    ResolvedPayload,
    StationAcknowledged,
    StationCalledBack,
    StationProgressNoted,
    StationResolved,
    StationUpdatePayload,
)
from caseflow_contracts.topics import CASES_LIFECYCLE, STATIONS_UPDATES
from caseflow_dev.rig import ServiceUnderTest, service_under_test
from caseflow_kit.clock import ManualClock
from caseflow_kit.store import Query, Store
from caseflow_kit.store.mongo import MongoStore
from caseflow_routing.app import SPEC
from caseflow_routing.deps import RoutingDeps
from caseflow_routing.settings import RoutingSettings
from caseflow_routing.store import CASES, LOADS

from .factories import NOW, PUDONG, breach, case_id, directory_data, merged, opened, station_event, withdrawal

Rig = ServiceUnderTest[RoutingSettings, RoutingDeps]


def _store(kind: str) -> Store | None:
    if kind == "sqlite":
        return None  # the runtime's default: a SQLite file in data_dir
    from pymongo_async_mock import AsyncMongoMockClient

    return MongoStore(AsyncMongoMockClient(), f"routing_{uuid.uuid4().hex[:8]}", transactions=False)


async def _rig(tmp_path: Path, store: Store | None) -> AsyncIterator[Rig]:
    data = directory_data()
    data["stations"][9]["capacity"] = 2  # SH-PD-02
    path = tmp_path / "stations.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    settings = RoutingSettings(data_dir=tmp_path, directory_path=path, log_format="console", retry_backoff_ms=1)
    async with service_under_test(SPEC, settings, store=store, clock=ManualClock(NOW)) as under_test:
        yield under_test


@pytest.fixture(params=["sqlite", "mongo-mock"])
async def rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Rig]:
    """Routing on each store adapter (the Mongo one through pymongo-async-mock, without transactions)."""
    async for running in _rig(tmp_path, _store(request.param)):
        yield running


@pytest.fixture
async def sqlite_rig(tmp_path: Path) -> AsyncIterator[Rig]:
    """SQLite only: where a failed batch must roll back as a whole (the Mongo mock has no transactions)."""
    async for running in _rig(tmp_path, None):
        yield running


async def case_doc(rig: Rig, cid: str) -> dict[str, Any]:
    doc = await rig.runtime.store.get(CASES, cid)
    assert doc is not None, cid
    return doc


async def reasons(rig: Rig) -> list[str]:
    return [m.headers["x-dlq-reason"] for m in await rig.dead_letters()]


def at(minutes: float) -> Any:
    return NOW + timedelta(minutes=minutes)


async def test_one_batch_sees_its_own_assignments_and_ignores_routings_own_events(rig: Rig) -> None:
    crowd = [opened(case_id(), hint="SH-PD-02", area=PUDONG) for _ in range(3)]
    assert await rig.deliver(*crowd, batch=True) == ["handled"] * 3
    holders = [(await case_doc(rig, e.payload.case_id))["holder"] for e in crowd]
    assert holders == ["SH-PD-02", "SH-PD-02", "HUB-SH"]
    assert (await rig.runtime.store.get(LOADS, "SH-PD-02") or {})["open"] == 2
    assert (await rig.runtime.store.get(LOADS, "HUB-SH") or {})["open"] == 1  # created on its first case

    # Routing's own case.escalated events come back on cases.lifecycle: they change nothing.
    own = await rig.events("case.escalated")
    assert len(own) == 3
    before = await rig.runtime.store.find(CASES, Query())
    assert await rig.deliver(*own, batch=True) == ["ignored"] * 3
    assert await rig.runtime.store.find(CASES, Query()) == before
    assert len(await rig.events()) == 3


async def test_a_batch_mixing_accepted_and_refused_updates(rig: Rig) -> None:
    first = opened(case_id(), hint="SH-PD-01", area=PUDONG)
    await rig.deliver(first)
    cid = first.payload.case_id
    acks = [
        station_event(StationAcknowledged, StationUpdatePayload, cid, s, at=at(1))
        for s in ("SH-PD-02", "SH-PD-01", "SH-PD-01")
    ]
    assert await rig.deliver(*acks, batch=True) == ["dead_lettered", "handled", "handled"]
    case = await case_doc(rig, cid)
    assert case["state"] == "acknowledged"
    assert [h["action"] for h in case["history"]] == ["assigned", "acknowledge", "ignored_acknowledge"]
    assert await reasons(rig) == ["not_holder"]
    assert [e.type for e in await rig.events()] == ["case.escalated", "case.acknowledged"]


async def test_a_second_case_opened_under_another_id_is_dead_lettered_not_applied(sqlite_rig: Rig) -> None:
    rig = sqlite_rig
    first = opened(case_id(), hint="SH-PD-01", area=PUDONG)
    impostor = opened(first.payload.case_id, hint="BJ-CY-01", area=None)
    again = [first, opened(case_id(), hint="SH-PD-02", area=PUDONG), impostor, first]
    await rig.deliver(*again, batch=True)
    assert (await case_doc(rig, first.payload.case_id))["holder"] == "SH-PD-01"
    [dead] = await rig.dead_letters()
    assert dead.headers["x-dlq-reason"] == "duplicate_key"
    assert "duplicate key in cases" in dead.headers["x-dlq-detail"]
    assert [e.type for e in await rig.events()] == ["case.escalated"] * 2
    assert (await rig.runtime.store.get(LOADS, "SH-PD-01") or {})["open"] == 1


async def test_an_update_for_a_case_routing_never_saw_is_dead_lettered(rig: Rig) -> None:
    stranger = station_event(StationAcknowledged, StationUpdatePayload, case_id(), "SH-PD-01", at=at(1))
    assert await rig.deliver(stranger) == ["dead_lettered"]
    assert await reasons(rig) == ["unknown_case"]


async def test_forbidden_words_go_back_to_the_station_and_onto_the_scorecard_exactly_once(rig: Rig) -> None:
    first = opened(case_id(), hint="SH-PD-01", area=PUDONG)
    cid = first.payload.case_id
    await rig.deliver(first)
    rude = station_event(
        StationCalledBack, CallbackPayload, cid, "SH-PD-01", at=at(20), result="我不知道，你想好了再打来吧"
    )
    record = rig.record(rude)
    assert await rig.deliver_records(STATIONS_UPDATES, [record]) == ["dead_lettered"]
    assert await rig.deliver_records(STATIONS_UPDATES, [record]) == ["duplicate"]  # redelivered: told once
    [dead] = await rig.dead_letters()
    assert (dead.topic, dead.headers["x-dlq-reason"], dead.value) == (
        "stations.updates.dlq",
        "forbidden_words",
        rude.to_bytes(),
    )
    [refused] = await rig.events("case.note_refused")
    assert (refused.payload.field, refused.payload.words, refused.payload.refused_event_id) == (  # type: ignore[attr-defined]
        "result",
        ["不知道", "你想好了再打来吧"],
        rude.event_id,
    )
    assert refused.payload.at == at(20)  # type: ignore[attr-defined]
    case = await case_doc(rig, cid)
    assert (case["state"], case["history"][-1]["action"]) == ("assigned", "note_refused")
    assert await rig.events("case.callback_logged") == []  # nothing of the text travelled
    counted = rig.runtime.registry.get_sample_value("caseflow_routing_outcomes_total", {"outcome": "note_refused"})
    assert counted == 1


async def test_actions_are_stamped_with_when_they_reached_the_broker_and_free_text_is_scrubbed(rig: Rig) -> None:
    first = opened(case_id(), hint="SH-PD-01", area=PUDONG)
    cid = first.payload.case_id
    await rig.deliver(first)
    note = station_event(
        StationProgressNoted, ProgressPayload, cid, "SH-PD-01", at=at(30), note="已联系客户 13812345678"
    )
    record = rig.record(note)  # the broker accepted it at +30 min
    rig.clock.set(at(75))  # routing was down for 45 minutes
    await rig.deliver_records(STATIONS_UPDATES, [record])
    [noted] = await rig.events("case.progress_noted")
    assert noted.payload.at == at(30)  # type: ignore[attr-defined]
    assert noted.occurred_at == at(75)  # when routing decided
    assert noted.payload.note == "已联系客户 138****5678"  # type: ignore[attr-defined]
    done = station_event(
        StationResolved,
        ResolvedPayload,
        cid,
        "SH-PD-01",
        at=at(80),
        result=ResolutionResult.UNRESOLVED,
        reason="客户身份证 110101199003071234 不符",
        solution="x@example.com",
        record=CaseRecord(evaluation="回拨 13812345678"),
    )
    await rig.deliver(done)
    [resolved] = await rig.events("case.resolved")
    stored = str(await case_doc(rig, cid))
    for secret in ("110101199003071234", "x@example.com", "13812345678"):
        assert secret not in resolved.payload.model_dump_json()
        assert secret not in stored
    assert resolved.payload.record.evaluation == "回拨 138****5678"  # type: ignore[attr-defined]


async def test_a_breach_adds_oversight_a_late_callback_is_logged_late_a_withdrawal_takes_it_back(rig: Rig) -> None:
    first, second = (opened(case_id(), hint="SH-PD-01", area=PUDONG) for _ in range(2))
    await rig.deliver(first, second)
    late, on_time = first.payload.case_id, second.payload.case_id
    # The broker accepts one station's callback before the deadline; routing will only see it after the breach.
    held = station_event(StationCalledBack, CallbackPayload, on_time, "SH-PD-01", at=at(119), result="已告知")
    record = rig.record(held)
    breaches = [breach(cid, LadderLevel.STATION, "SH-PD-01", at=at(121)) for cid in (late, on_time)]
    await rig.deliver(*breaches)
    for cid in (late, on_time):
        case = await case_doc(rig, cid)
        assert (case["holder"], case["level"], case["supervisor"]) == ("SH-PD-01", "hub", "HUB-SH")
    # The late station calls back after its deadline: accepted, logged late.
    assert await rig.deliver(
        station_event(StationCalledBack, CallbackPayload, late, "SH-PD-01", at=at(130), result="已告知")
    ) == ["handled"]
    assert (await case_doc(rig, late))["history"][-1]["late"] is True
    # The held callback: not late (it reached the broker in time); sla withdraws the breach, the oversight goes.
    await rig.deliver_records(STATIONS_UPDATES, [record])
    await rig.deliver(withdrawal(breaches[1], stopped_at=at(119), at=at(125)))
    case = await case_doc(rig, on_time)
    assert (case["level"], case["supervisor"]) == ("station", None)
    assert "late" not in case["history"][-2]
    assert case["history"][-1]["action"] == "escalation_withdrawn"
    withdrawn = rig.runtime.registry.get_sample_value(
        "caseflow_routing_outcomes_total", {"outcome": "escalation_withdrawn"}
    )
    assert withdrawn == 1


async def test_a_contact_merged_into_a_closed_case_comes_back_as_a_contact_after_closure(rig: Rig) -> None:
    first = opened(case_id(), hint="SH-PD-01", area=PUDONG)
    cid = first.payload.case_id
    await rig.deliver(first)
    done = station_event(StationResolved, ResolvedPayload, cid, "SH-PD-01", at=at(60), result=ResolutionResult.RESOLVED)
    await rig.deliver(done, merged(cid, at=at(61)))
    [after] = await rig.events("case.contact_after_closure")
    assert (after.payload.station, after.payload.closed_at, after.payload.contact_at) == ("SH-PD-01", at(60), at(61))  # type: ignore[attr-defined]
    assert (await case_doc(rig, cid))["state"] == "closed"


def test_routing_declares_what_it_emits() -> None:
    declared = {model.event_type() for model in SPEC.emits}
    assert {"case.escalated", "case.note_refused", "case.contact_after_closure", "case.hq_ruled"} <= declared
    assert all(issubclass(model, Event) for model in SPEC.emits)
    assert CaseEscalated in SPEC.emits
    assert SPEC.subscriptions[0].topic is CASES_LIFECYCLE
