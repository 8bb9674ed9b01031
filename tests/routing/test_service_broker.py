"""Routing through the real broker (Tansu) and a real SQLite store: the whole station loop.

One service run per test; many cases pushed through it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml

from caseflow_contracts.cases import CaseReopened, CaseReopenedPayload
from caseflow_contracts.common import LadderLevel, Priority
from caseflow_contracts.stations import (
    CallbackPayload,
    EscalationRequested,
    EscalationRequestedPayload,
    RejectedPayload,
    ResolutionResult,
    ResolvedPayload,
    StationAcknowledged,
    StationCalledBack,
    StationRejected,
    StationResolved,
    StationTransferRequested,
    StationUpdatePayload,
    TransferRequestedPayload,
)
from caseflow_contracts.topics import CASES_LIFECYCLE, STATIONS_UPDATES
from caseflow_dev.harness import run_in_process
from caseflow_dev.testing import KafkaTestKit
from caseflow_kit.auth import Role
from caseflow_routing.app import SPEC
from caseflow_routing.settings import RoutingSettings

from .factories import CHAOYANG, HAIDIAN, NOW, PUDONG, breach, case_id, directory_data, merged, opened, update

View = dict[str, Any]


def write_directory(path: Path, *, capacities: dict[str, int] | None = None, **overrides: Any) -> Path:
    data = directory_data(**overrides)
    for station in data["stations"]:
        station["capacity"] = (capacities or {}).get(station["code"], station.get("capacity", 100))
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


async def until(http: httpx.AsyncClient, cid: str, check: Callable[[View], bool], timeout_s: float = 30) -> View:
    """Poll the read endpoint until the case looks as expected."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = await http.get(f"/cases/{cid}")
        if response.status_code == 200 and check(response.json()):
            return response.json()  # type: ignore[no-any-return]
        if time.monotonic() > deadline:
            raise AssertionError(f"{cid} never got there: {response.status_code} {response.text}")
        await asyncio.sleep(0.05)


def station_event(model: Any, payload_type: Any, cid: str, station: str, **extra: Any) -> Any:
    return model.create(payload_type(**update(cid, station, **extra)), key=cid, producer="station-system")


def routing_events(records: list[Any]) -> dict[str, list[dict[str, Any]]]:
    by_case: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        event = json.loads(record.value)
        if event["producer"] == "routing":
            by_case[event["key"]].append(event)
    return by_case


def dlq_reasons(records: list[Any]) -> dict[str, str]:
    found = {}
    for record in records:
        headers = {k: v.decode() for k, v in record.headers}
        found[json.loads(record.value)["payload"]["case_id"]] = headers["x-dlq-reason"]
    return found


async def test_escalate_call_back_resolve_breach_climb_transfer(kafka: KafkaTestKit, tmp_path: Path) -> None:
    path = write_directory(tmp_path / "stations.yaml", capacities={"BJ-CY-01": 100, "SH-PD-02": 2})
    settings = kafka.settings(RoutingSettings, directory_path=path)
    loop_case, breached, out_of_area, stranger = case_id(), case_id(), case_id(), case_id()
    crowd = [case_id() for _ in range(3)]
    async with (
        run_in_process(SPEC, settings) as service,
        httpx.AsyncClient(base_url=service.url, headers=kafka.auth(Role.CASES_READER)) as http,
    ):
        # Capacity: three cases for a station that holds two; the counters see a batch's own assignments.
        for cid in crowd:
            await kafka.publish(opened(cid, hint="SH-PD-02", area=PUDONG))
        holders = sorted([(await until(http, cid, lambda v: True))["holder"] for cid in crowd])
        assert holders == ["HUB-SH", "SH-PD-02", "SH-PD-02"]
        assert (await http.get("/stations/SH-PD-02")).json()["open_cases"] == 2

        await kafka.publish(opened(loop_case, hint="BJ-CY-01", area=CHAOYANG))
        await kafka.publish(opened(breached, hint="BJ-HD-01", area=HAIDIAN))
        await kafka.publish(opened(out_of_area, hint="BJ-CY-01", area=PUDONG))
        await until(http, loop_case, lambda v: v["holder"] == "BJ-CY-01")
        await until(http, breached, lambda v: v["holder"] == "BJ-HD-01")
        view = await until(http, out_of_area, lambda v: v["holder"] == "SH-PD-01")
        assert [h["action"] for h in view["history"]] == ["transferred", "assigned"]

        # The station loop: acknowledge, call back, resolve.
        await kafka.publish(station_event(StationAcknowledged, StationUpdatePayload, loop_case, "BJ-CY-01"))
        await kafka.publish(station_event(StationCalledBack, CallbackPayload, loop_case, "BJ-CY-01"))
        # A station that does not hold the case, and a case routing never saw: dead-lettered with the reason.
        await kafka.publish(station_event(StationCalledBack, CallbackPayload, loop_case, "BJ-HD-01"))
        await kafka.publish(station_event(StationAcknowledged, StationUpdatePayload, stranger, "BJ-HD-01"))
        resolved = station_event(
            StationResolved,
            ResolvedPayload,
            loop_case,
            "BJ-CY-01",
            result=ResolutionResult.RESOLVED,
            satisfaction=5,
            solution="已改派",
        )
        await kafka.publish(resolved)
        await kafka.publish(resolved)  # redelivered: handled once
        view = await until(http, loop_case, lambda v: v["state"] == "closed")
        assert (view["holder"], view["level"]) == ("BJ-CY-01", "station")

        # Breach, climb; the same breach again (a new event) and a stale one change nothing.
        await kafka.publish(breach(breached, LadderLevel.STATION, "BJ-HD-01"))
        view = await until(http, breached, lambda v: v["level"] == "hub")
        assert view["holder"] == "HUB-BJ"
        await kafka.publish(breach(breached, LadderLevel.STATION, "BJ-HD-01"))
        await kafka.publish(station_event(StationCalledBack, CallbackPayload, breached, "HUB-BJ"))
        await until(http, breached, lambda v: v["state"] == "in_progress")

        # Transfer: the covering peer takes it sideways.
        await kafka.publish(
            station_event(
                StationTransferRequested,
                TransferRequestedPayload,
                out_of_area,
                "SH-PD-01",
                reason="超区",
                to_station="SH-PD-02",
            )
        )
        view = await until(http, out_of_area, lambda v: v["holder"] == "SH-PD-02")
        assert view["level"] == "station"
        assert view["history"][-1]["action"] == "transferred"
        assert (await http.get("/stations/SH-PD-02")).json()["open_cases"] == 3  # a transfer is not refused
        assert (await http.get("/stations/BJ-CY-01")).json()["open_cases"] == 0  # the loop case closed

        dead = await kafka.collect(STATIONS_UPDATES, 2, timeout_s=20, dlq=True)
        assert dlq_reasons(dead) == {loop_case: "not_holder", stranger: "unknown_case"}
        metrics = (await http.get("/metrics")).text
        assert 'caseflow_dead_letters_total{reason="not_holder",topic="stations.updates"} 1.0' in metrics
        assert (await http.get(f"/cases/{stranger}")).status_code == 404

    records = await kafka.collect(CASES_LIFECYCLE, 6 + 13 + 1, timeout_s=3)
    events = routing_events(records)
    assert [e["type"] for e in events[loop_case]] == [
        "case.escalated",
        "case.acknowledged",
        "case.callback_logged",
        "case.resolved",
        "case.closed",
    ]
    assert events[loop_case][3]["payload"]["satisfaction"] == 5
    assert [e["type"] for e in events[breached]] == ["case.escalated", "case.escalated", "case.callback_logged"]
    climb = events[breached][1]["payload"]
    assert (climb["trigger"], climb["trigger_ref"], climb["previous_holder"]) == (
        "sla_breach",
        "callback:station",
        "BJ-HD-01",
    )
    assert [e["type"] for e in events[out_of_area]] == ["case.escalated", "case.transferred"]
    first = events[out_of_area][0]["payload"]
    assert (first["trigger"], first["holder"]) == ("initial_assignment", "SH-PD-01")
    assert "超区" in first["reason"]
    # Routing ignores its own events on cases.lifecycle: nothing else was emitted.
    assert sum(len(v) for v in events.values()) == 13
    assert len(records) == 6 + 13


async def test_repeat_contact_rejection_and_requests_climb_to_hq_and_the_directory_reloads(
    kafka: KafkaTestKit, tmp_path: Path
) -> None:
    path = write_directory(tmp_path / "stations.yaml")
    settings = kafka.settings(RoutingSettings, directory_path=path, directory_poll_seconds=0.2)
    cid, later = case_id(), case_id()
    async with (
        run_in_process(SPEC, settings) as service,
        httpx.AsyncClient(base_url=service.url, headers=kafka.auth(Role.CASES_READER)) as http,
    ):
        await kafka.publish(opened(cid, hint="BJ-CY-01", area=CHAOYANG))
        await until(http, cid, lambda v: v["holder"] == "BJ-CY-01")
        await kafka.publish(merged(cid))  # the customer called again: one level up
        await until(http, cid, lambda v: v["holder"] == "HUB-BJ")
        await kafka.publish(
            station_event(StationRejected, RejectedPayload, cid, "BJ-CY-01", reason="late rejection")
        )  # no longer the holder: dead-lettered
        await kafka.publish(station_event(StationRejected, RejectedPayload, cid, "HUB-BJ", reason="不是本区域"))
        await until(http, cid, lambda v: v["holder"] == "RC-NORTH")
        # The regional centre's supervisor chain (HQ) may ask to escalate a case it does not hold.
        await kafka.publish(
            station_event(EscalationRequested, EscalationRequestedPayload, cid, "HQ-CS", reason="VIP complaint")
        )
        view = await until(http, cid, lambda v: v["holder"] == "HQ-CS")
        assert view["level"] == "hq"
        triggers = [h.get("trigger") for h in view["history"] if h["action"] == "escalated"]
        assert triggers == ["repeat_contact", "station_rejection", "explicit_request"]
        await kafka.publish(
            station_event(
                StationResolved,
                ResolvedPayload,
                cid,
                "HQ-CS",
                result=ResolutionResult.UNRESOLVED,
                reason="客户拒绝方案",
            )
        )
        await until(http, cid, lambda v: v["state"] == "closed")
        reopened = CaseReopened.create(
            CaseReopenedPayload(
                case_id=cid,
                source_event_id="c-9",
                reopen_count=1,
                priority=Priority.URGENT,
                reopened_at=NOW,
            ),
            key=cid,
            producer="intake",
        )
        await kafka.publish(reopened)
        view = await until(http, cid, lambda v: v["state"] == "assigned")
        assert (view["holder"], view["reopen_count"]) == ("HQ-CS", 1)

        # A broken directory is refused with the reason; the one in force stays.
        broken = directory_data(version="broken")
        broken["stations"][6]["parent"] = "NOWHERE"
        path.write_text(yaml.safe_dump(broken, allow_unicode=True), encoding="utf-8")
        assert (await http.post("/admin/directory/reload")).status_code == 403  # a reader may not
        assert (await http.post("/admin/directory/reload", headers={"Authorization": ""})).status_code == 401
        response = await http.post("/admin/directory/reload", headers=kafka.auth(Role.OPS_ADMIN))
        assert response.status_code == 422
        assert "NOWHERE is not in the directory" in response.json()["error"]
        assert (await http.get("/stations/BJ-CY-01")).json()["version"] == "test-1"
        # A valid edit is picked up without a restart (by the poller here): BJ-CY-01 closes, its cases overflow.
        write_directory(path, version="test-2")
        edited = yaml.safe_load(path.read_text(encoding="utf-8"))
        edited["stations"][6]["active"] = False
        path.write_text(yaml.safe_dump(edited, allow_unicode=True), encoding="utf-8")
        deadline = time.monotonic() + 10
        while (await http.get("/stations/BJ-CY-01")).json()["version"] != "test-2":
            assert time.monotonic() < deadline, "the directory was not reloaded"
            await asyncio.sleep(0.1)
        await kafka.publish(opened(later, hint="BJ-CY-01", area=CHAOYANG))
        view = await until(http, later, lambda v: v["holder"] == "HUB-BJ")
        assert "BJ-CY-01 is inactive" in view["history"][-1]["reason"]

        dead = await kafka.collect(STATIONS_UPDATES, 1, timeout_s=20, dlq=True)
        assert dlq_reasons(dead) == {cid: "not_holder"}
