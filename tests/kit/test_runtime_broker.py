"""The shared runtime through the real broker (Tansu) and a real SQLite store.

A small test service stands in for the five: it stores what it consumes and
emits an event, rejects one type, and fails on another.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter

from caseflow_contracts.cases import CaseAcknowledged, CaseStationActionPayload
from caseflow_contracts.common import LadderLevel
from caseflow_contracts.stations import (
    ProgressPayload,
    RejectedPayload,
    StationAcknowledged,
    StationProgressNoted,
    StationRejected,
    StationUpdatePayload,
)
from caseflow_contracts.topics import CASES_LIFECYCLE, STATIONS_UPDATES
from caseflow_dev.harness import run_in_process
from caseflow_dev.testing import KafkaTestKit, until
from caseflow_kit import Context, KitSettings, Refusal, Runtime, ServiceSpec, Subscription
from caseflow_kit.auth import Principal, Role
from caseflow_kit.http import Refused, caller
from caseflow_kit.store import Collection

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


async def on_acknowledged(event: StationAcknowledged, ctx: Context[None]) -> None:
    p = event.payload
    ctx.uow.add("acks", {"_id": p.case_id, "station": p.station})
    payload = CaseStationActionPayload(case_id=p.case_id, station=p.station, level=LadderLevel.STATION, at=p.at)
    ctx.uow.emit(ctx.new(CaseAcknowledged, payload, key=p.case_id))


async def on_rejected(event: StationRejected, ctx: Context[None]) -> None:
    raise Refusal("not_holder", f"station {event.payload.station} does not hold {event.payload.case_id}")


async def on_progress(event: StationProgressNoted, ctx: Context[None]) -> None:
    ctx.uow.add("acks", {"_id": "must-not-be-kept", "station": "X"})
    raise RuntimeError("the station system is confused")


async def no_deps(runtime: Runtime[KitSettings, None]) -> None:
    return None


def routers(runtime: Runtime[KitSettings, None]) -> list[APIRouter]:
    api = APIRouter()

    @api.get("/acks/{case_id}")
    async def get_ack(case_id: str, who: Annotated[Principal, caller(Role.CASES_READER)]) -> dict[str, Any]:
        doc = await runtime.store.get("acks", case_id)
        if doc is None:
            raise Refused(404, "not_found", case_id)
        return doc

    return [api]


SPEC: ServiceSpec[KitSettings, None] = ServiceSpec(
    name="echo",
    http_port=0,
    settings_type=KitSettings,
    collections=[Collection("acks")],
    subscriptions=[
        Subscription(
            STATIONS_UPDATES,
            {
                "station.acknowledged": on_acknowledged,
                "station.rejected": on_rejected,
                "station.progress_noted": on_progress,
            },
        )
    ],
    build_deps=no_deps,
    http=routers,
)


def update(case_id: str, **extra: Any) -> dict[str, Any]:
    return {"case_id": case_id, "station": "SH-PD-01", "at": NOW, **extra}


def headers_of(record: Any) -> dict[str, str]:
    return {k: v.decode() for k, v in record.headers}


async def test_consumes_stores_emits_once_and_dead_letters_the_rest(kafka: KafkaTestKit) -> None:
    async with run_in_process(SPEC, kafka.settings(KitSettings, max_attempts=2)) as service:
        ack = StationAcknowledged.create(StationUpdatePayload(**update("CF-000001")), key="CF-000001", producer="st")
        await kafka.publish(ack)
        await kafka.publish(ack)  # the same event again: at-least-once delivery
        await kafka.publish_raw(STATIONS_UPDATES, b'{"type": "station.acknowledged"', key=b"CF-000002")
        await kafka.publish_raw(
            STATIONS_UPDATES, json.dumps({"type": "station.teleported", "schema_version": "1.0"}).encode()
        )
        rejected = StationRejected.create(
            RejectedPayload(**update("CF-000003"), reason="不是本网点"), key="CF-000003", producer="st"
        )
        await kafka.publish(rejected)
        failing = StationProgressNoted.create(ProgressPayload(**update("CF-000004")), key="CF-000004", producer="st")
        await kafka.publish(failing)
        # A valid RFC 3339 date with no UTC instant (year 10000 in UTC), ahead of a good event on its partition:
        # the one record is dead-lettered and the partition goes on.
        poisoned = json.loads(
            StationAcknowledged.create(
                StationUpdatePayload(**update("CF-000005")), key="CF-000005", producer="st"
            ).to_bytes()
        )
        poisoned["occurred_at"] = "9999-12-31T23:59:59-01:00"
        await kafka.publish_raw(STATIONS_UPDATES, json.dumps(poisoned).encode(), key=b"CF-000005")
        ack2 = StationAcknowledged.create(StationUpdatePayload(**update("CF-000005")), key="CF-000005", producer="st")
        await kafka.publish(ack2)

        emitted = await kafka.collect(CASES_LIFECYCLE, 2, timeout_s=30)
        dead = await kafka.collect(STATIONS_UPDATES, 5, timeout_s=30, dlq=True)

        assert sorted(r.key for r in emitted) == [b"CF-000001", b"CF-000005"]
        first = json.loads(emitted[0].value)
        assert first["type"] == "case.acknowledged"
        assert first["correlation_id"] in {ack.correlation_id, ack2.correlation_id}
        assert first["causation_id"] in {ack.event_id, ack2.event_id}
        assert headers_of(emitted[0])["x-event-type"] == "case.acknowledged"

        reasons = sorted(headers_of(r)["x-dlq-reason"] for r in dead)
        assert reasons == ["handler_failed", "invalid", "malformed_json", "not_holder", "unknown_type"]
        malformed = next(r for r in dead if headers_of(r)["x-dlq-reason"] == "malformed_json")
        assert malformed.value == b'{"type": "station.acknowledged"'
        assert malformed.key == b"CF-000002"
        assert headers_of(malformed)["x-dlq-original-topic"] == kafka.topic(STATIONS_UPDATES)
        failed = next(r for r in dead if headers_of(r)["x-dlq-reason"] == "handler_failed")
        assert "confused" in headers_of(failed)["x-dlq-detail"]
        assert json.loads(failed.value)["event_id"] == failing.event_id

        store = service.runtime.store
        assert await store.get("acks", "CF-000001") is not None
        assert await store.get("acks", "must-not-be-kept") is None

        async with httpx.AsyncClient(base_url=service.url) as http:
            assert (await http.get("/healthz")).status_code == 200
            ready = (await http.get("/readyz")).json()
            assert ready == {"status": "ready", "checks": {"started": True, "store": True, "broker": True}}
            reader = kafka.auth(Role.CASES_READER)
            assert (await http.get("/acks/CF-000001", headers=reader)).json()["station"] == "SH-PD-01"
            assert (await http.get("/acks/CF-999999", headers=reader)).status_code == 404
            assert (await http.get("/acks/CF-000001")).status_code == 401
            metrics = (await http.get("/metrics")).text
        assert 'caseflow_dead_letters_total{reason="malformed_json",topic="stations.updates"} 1.0' in metrics
        assert 'outcome="duplicate"' in metrics
        assert "caseflow_outbox_backlog 0.0" in metrics

    # Nothing more was emitted by the duplicate, the rejected or the failed events.
    again = await kafka.collect(CASES_LIFECYCLE, 3, timeout_s=2)
    assert len(again) == 2


async def test_restart_resumes_after_committed_offsets_without_reprocessing(kafka: KafkaTestKit) -> None:
    settings = kafka.settings(KitSettings)
    for n in range(3):
        case_id = f"CF-10000{n}"
        await kafka.publish(
            StationAcknowledged.create(StationUpdatePayload(**update(case_id)), key=case_id, producer="st")
        )
    async with run_in_process(SPEC, settings):
        assert len(await kafka.collect(CASES_LIFECYCLE, 3, timeout_s=30)) == 3
    case_id = "CF-100009"
    await kafka.publish(StationAcknowledged.create(StationUpdatePayload(**update(case_id)), key=case_id, producer="st"))
    async with run_in_process(SPEC, settings) as service:
        assert len(await kafka.collect(CASES_LIFECYCLE, 4, timeout_s=30)) == 4
        metrics = service.runtime.registry.get_sample_value(
            "caseflow_events_handled_total",
            {"topic": "stations.updates", "event_type": "station.acknowledged", "outcome": "duplicate"},
        )
        assert metrics is None  # offsets were committed: nothing was even redelivered
    assert len(await kafka.collect(CASES_LIFECYCLE, 5, timeout_s=2)) == 4


async def test_records_skipped_while_their_slot_is_handed_over_are_not_committed_past(
    kafka: KafkaTestKit, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between a revocation and the next assignment, a batch fetched before it holds records that are no longer
    this replica's: they are skipped, and acknowledging the batch must not commit past them (the broker still
    takes the old generation's commits then), or whoever gets the partition never sees them."""
    async with run_in_process(SPEC, kafka.settings(KitSettings)) as service:
        skipped: list[int] = []

        def handing_over(record: Any) -> bool:  # as after slots_revoked, before slots_assigned
            skipped.append(record.offset)
            return False

        monkeypatch.setattr(service.runtime, "owns", handing_over)
        for n in range(3):
            case_id = f"CF-20000{n}"
            await kafka.publish(
                StationAcknowledged.create(StationUpdatePayload(**update(case_id)), key=case_id, producer="st")
            )
        await until(lambda: len(skipped) >= 3, timeout_s=30, what="the batch fetched and skipped")
        monkeypatch.undo()  # the slot is ours again: what was skipped comes again and is handled
        assert len(await kafka.collect(CASES_LIFECYCLE, 3, timeout_s=30)) == 3
