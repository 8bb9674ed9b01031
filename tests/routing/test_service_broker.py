"""Routing through the real broker (Tansu) and a real SQLite store: the whole station loop.

One service run per test; many cases pushed through it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml

from caseflow_contracts.common import LadderLevel
from caseflow_contracts.stations import (
    CallbackPayload,
    EscalationRequested,
    EscalationRequestedPayload,
    HqRuling,
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

from .factories import (
    CHAOYANG,
    HAIDIAN,
    PUDONG,
    breach,
    case_id,
    directory_data,
    merged,
    opened,
    reopened,
    ruling,
    station_event,
)

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

        # A breach adds the hub as supervisor; the station keeps the case. The same breach again changes nothing.
        await kafka.publish(breach(breached, LadderLevel.STATION, "BJ-HD-01"))
        view = await until(http, breached, lambda v: v["level"] == "hub")
        assert (view["holder"], view["supervisor"]) == ("BJ-HD-01", "HUB-BJ")
        await kafka.publish(breach(breached, LadderLevel.STATION, "BJ-HD-01"))
        await kafka.publish(station_event(StationCalledBack, CallbackPayload, breached, "BJ-HD-01"))
        await until(http, breached, lambda v: v["state"] == "in_progress")

        # A transfer request the directory does not back (SH-PD-01 covers Pudong) waits for HQ's desk,
        # which approves it: the covering peer takes the case, decided by HQ.
        await kafka.publish(
            station_event(
                StationTransferRequested,
                TransferRequestedPayload,
                out_of_area,
                "SH-PD-01",
                reason="超区",
                reason_code="wrong_station",
                to_station="SH-PD-02",
            )
        )
        view = await until(http, out_of_area, lambda v: v["pending"] is not None)
        assert view["holder"] == "SH-PD-01"
        await kafka.publish(ruling(out_of_area, "SH-PD-01", HqRuling.TRANSFER_APPROVED))
        view = await until(http, out_of_area, lambda v: v["holder"] == "SH-PD-02")
        assert (view["level"], view["pending"]) == ("station", None)
        assert view["history"][-1]["action"] == "transferred"
        assert (await http.get("/stations/SH-PD-02")).json()["open_cases"] == 3  # a transfer is not refused
        assert (await http.get("/stations/BJ-CY-01")).json()["open_cases"] == 0  # the loop case closed

        dead = await kafka.collect(STATIONS_UPDATES, 2, timeout_s=20, dlq=True)
        assert dlq_reasons(dead) == {loop_case: "not_holder", stranger: "unknown_case"}
        metrics = (await http.get("/metrics")).text
        assert 'caseflow_dead_letters_total{reason="not_holder",topic="stations.updates"} 1.0' in metrics
        assert (await http.get(f"/cases/{stranger}")).status_code == 404

    records = await kafka.collect(CASES_LIFECYCLE, 6 + 14 + 1, timeout_s=3)
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
    assert (climb["trigger"], climb["trigger_ref"], climb["holder"], climb["supervisor"], climb["previous_level"]) == (
        "sla_breach",
        "callback:station",
        "BJ-HD-01",
        "HUB-BJ",
        "station",
    )
    assert [e["type"] for e in events[out_of_area]] == ["case.escalated", "case.hq_ruled", "case.transferred"]
    assert events[out_of_area][2]["payload"]["decided_by"] == "HQ-CS:A1001"
    first = events[out_of_area][0]["payload"]
    assert (first["trigger"], first["holder"]) == ("initial_assignment", "SH-PD-01")
    assert "超区" in first["reason"]
    # Routing ignores its own events on cases.lifecycle: nothing else was emitted.
    assert sum(len(v) for v in events.values()) == 14
    assert len(records) == 6 + 14


async def test_repeat_contacts_and_requests_add_oversight_to_hq_a_reopening_and_the_directory_reloads(
    kafka: KafkaTestKit, tmp_path: Path
) -> None:
    path = write_directory(tmp_path / "stations.yaml")
    settings = kafka.settings(RoutingSettings, directory_path=path, rules_reload_s=0.2)
    cid, later = case_id(), case_id()
    async with (
        run_in_process(SPEC, settings) as service,
        httpx.AsyncClient(base_url=service.url, headers=kafka.auth(Role.CASES_READER)) as http,
    ):
        await kafka.publish(opened(cid, hint="BJ-CY-01", area=CHAOYANG))
        await until(http, cid, lambda v: v["holder"] == "BJ-CY-01")
        await kafka.publish(merged(cid))  # the customer called again: one level more
        await until(http, cid, lambda v: v["supervisor"] == "HUB-BJ")
        # A rejection without a reason code from HQ's list goes back to the station.
        await kafka.publish(station_event(StationRejected, RejectedPayload, cid, "BJ-CY-01", reason="不想处理"))
        await kafka.publish(merged(cid))  # and again: the regional centre watches too
        await until(http, cid, lambda v: v["supervisor"] == "RC-NORTH")
        # A unit up the station's chain (HQ) may ask for one more level.
        await kafka.publish(
            station_event(EscalationRequested, EscalationRequestedPayload, cid, "HQ-CS", reason="VIP complaint")
        )
        view = await until(http, cid, lambda v: v["level"] == "hq")
        assert (view["holder"], view["supervisor"]) == ("BJ-CY-01", "HQ-CS")
        triggers = [h.get("trigger") for h in view["history"] if h["action"] == "escalated"]
        assert triggers == ["repeat_contact", "repeat_contact", "explicit_request"]
        # The station still holds the case: it resolves it.
        await kafka.publish(
            station_event(
                StationResolved,
                ResolvedPayload,
                cid,
                "BJ-CY-01",
                result=ResolutionResult.UNRESOLVED,
                reason="客户拒绝方案",
            )
        )
        await until(http, cid, lambda v: v["state"] == "closed")
        await kafka.publish(reopened(cid))
        view = await until(http, cid, lambda v: v["state"] == "assigned")
        assert (view["holder"], view["level"], view["reopen_count"]) == ("BJ-CY-01", "hq", 1)

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
        # A valid edit is picked up without a restart (by the kit's reload job): BJ-CY-01 closes, cases overflow.
        edited = yaml.safe_load(write_directory(path, version="test-2").read_text(encoding="utf-8"))
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
        assert dlq_reasons(dead) == {cid: "missing_reason_code"}


async def test_the_station_keeps_its_case_answers_late_is_overruled_by_hq_and_hears_of_contacts_after_closure(
    kafka: KafkaTestKit, tmp_path: Path
) -> None:
    """Issue 15 and 20 through the broker: an escalation keeps the station, its late callback is accepted and
    logged late; HQ overturns a rejection (shirking); a contact merged into a closed case comes back."""
    settings = kafka.settings(RoutingSettings, directory_path=write_directory(tmp_path / "stations.yaml"))
    slow, shirking, closed = case_id(), case_id(), case_id()
    async with (
        run_in_process(SPEC, settings) as service,
        httpx.AsyncClient(base_url=service.url, headers=kafka.auth(Role.CASES_READER)) as http,
    ):
        for cid in (slow, shirking, closed):
            await kafka.publish(opened(cid, hint="SH-PD-01", area=PUDONG))
        for cid in (slow, shirking, closed):
            await until(http, cid, lambda v: v["holder"] == "SH-PD-01")

        # The callback clock breached (its deadline was NOW + 2 h): the hub watches, the station keeps the case
        # and calls back late: accepted, stamped when it reached the broker, recorded late.
        await kafka.publish(breach(slow, LadderLevel.STATION, "SH-PD-01"))
        await until(http, slow, lambda v: v["supervisor"] == "HUB-SH")
        sent = datetime.now(UTC)
        await kafka.publish(station_event(StationCalledBack, CallbackPayload, slow, "SH-PD-01", result="已告知改派"))
        view = await until(http, slow, lambda v: v["state"] == "in_progress")
        called = view["history"][-1]
        assert (view["holder"], called["action"], called["late"], called["breach"]) == (
            "SH-PD-01",
            "call_back",
            True,
            "callback:station",
        )

        # A rejection with a reason from HQ's list waits for HQ; HQ overturns it: shirking, one level more.
        await kafka.publish(
            station_event(
                StationRejected, RejectedPayload, shirking, "SH-PD-01", reason="非本网点件", reason_code="wrong_station"
            )
        )
        await until(http, shirking, lambda v: v["pending"] is not None)
        await kafka.publish(ruling(shirking, "SH-PD-01", HqRuling.REJECTION_OVERTURNED))
        view = await until(http, shirking, lambda v: v["supervisor"] == "HUB-SH")
        assert (view["holder"], view["pending"]) == ("SH-PD-01", None)

        # Resolved and closed; the customer's contact, merged by an intake that had not heard yet, comes back.
        await kafka.publish(
            station_event(StationResolved, ResolvedPayload, closed, "SH-PD-01", result=ResolutionResult.RESOLVED)
        )
        await until(http, closed, lambda v: v["state"] == "closed")
        await kafka.publish(merged(closed))
        await until(http, closed, lambda v: v["history"][-1]["action"] == "contact_after_closure")

    events = routing_events(await kafka.collect(CASES_LIFECYCLE, 4 + 10, timeout_s=20))  # intake's 4, routing's 10
    assert [e["type"] for e in events[slow]] == ["case.escalated", "case.escalated", "case.callback_logged"]
    logged = events[slow][2]["payload"]
    assert (logged["station"], logged["counts_as_response"]) == ("SH-PD-01", True)
    assert datetime.fromisoformat(logged["at"]) >= sent - timedelta(seconds=1)  # not the station's claimed `at`
    assert [e["type"] for e in events[shirking]] == ["case.escalated", "case.hq_ruled", "case.escalated"]
    ruled, added = events[shirking][1]["payload"], events[shirking][2]["payload"]
    assert (ruled["ruling"], ruled["station"], ruled["decided_by"]) == (
        "rejection_overturned",
        "SH-PD-01",
        "HQ-CS:A1001",
    )
    assert (added["trigger"], added["holder"], added["supervisor"]) == ("station_rejection", "SH-PD-01", "HUB-SH")
    assert [e["type"] for e in events[closed]] == [
        "case.escalated",
        "case.resolved",
        "case.closed",
        "case.contact_after_closure",
    ]
    after = events[closed][3]["payload"]
    assert (after["station"], after["closed_at"]) == ("SH-PD-01", events[closed][2]["payload"]["closed_at"])
