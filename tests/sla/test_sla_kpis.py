"""KPIs and the QA scorecard: the pure figures, and the read endpoints over what sla consumed."""

from __future__ import annotations

from pathlib import Path

import httpx

from caseflow_dev.testing import edge_client
from caseflow_kit.auth import Role
from caseflow_ops.tokens import LocalIssuer
from caseflow_sla.domain import WALL, CaseFacts, Clock, Outcome
from caseflow_sla.domain.kpis import Window, case_figures, clock_figures, figures, report

from .conftest import HOLD, T0, H, Lifecycle, Sla, new_case_id

WINDOW = {"from": "2026-11-24T00:00:00Z", "to": "2026-11-25T00:00:00Z"}


def clock(metric: str, station: str = "SH-01", target: int = 2 * H) -> Clock:
    c = Clock(
        case_id=new_case_id(),
        metric=metric,
        level="station",
        kind="delay",
        priority="normal",
        channel="phone",
        station=station,
        target_s=target,
        warning_s=int(0.8 * target),
        calendar=None,
        policy_version="t",
        started_at=T0,
    )
    c.start(WALL, T0)
    return c


def test_clock_figures_count_met_late_breached_withdrawn_and_open() -> None:
    met = [clock("callback") for _ in range(3)]
    for i, c in enumerate(met):
        c.stop(WALL, T0 + (i + 1) * 1800, Outcome.MET)  # 30, 60, 90 minutes
    late = clock("callback")
    late.fire(WALL, T0 + 2 * H)
    late.stop(WALL, T0 + 4 * H, Outcome.MET)
    open_breach = clock("callback")
    open_breach.fire(WALL, T0 + 2 * H)
    withdrawn = clock("callback")
    withdrawn.fire(WALL, T0 + 2 * H)
    withdrawn.stop(WALL, T0 + 1.5 * H, Outcome.MET)  # stamped before the deadline, arrived after the breach
    reassigned = clock("callback")
    reassigned.stop(WALL, T0 + H, Outcome.REASSIGNED, can_meet=False)
    resolved = clock("resolution", target=48 * H)
    resolved.stop(WALL, T0 + 20 * H, Outcome.MET)
    unresolved = clock("resolution", target=48 * H)
    unresolved.stop(WALL, T0 + 20 * H, Outcome.UNRESOLVED)
    running = clock("resolution", target=48 * H)
    result = clock_figures([*met, late, open_breach, withdrawn, reassigned, resolved, unresolved, running])
    assert result["callback_within_target_rate"] == round(4 / 6, 4)
    assert result["callbacks_decided"] == 6
    assert result["resolution_within_48h_rate"] == 0.5
    assert result["resolutions_decided"] == 2
    assert result["open_breaches"] == 1
    assert result["mean_time_to_callback_s"] == (1800 + 3600 + 5400 + 4 * H + 1.5 * H) / 5
    assert result["p90_time_to_callback_s"] == 4 * H


def test_case_figures_follow_the_seed_definitions() -> None:
    cases = [
        CaseFacts("CF-1", result="resolved", satisfaction=5, payouts={"p1": (1200, "CNY")}),
        CaseFacts("CF-2", result="resolved", repeat_contacts=2, satisfaction=3),
        CaseFacts("CF-3", result="resolved", reopens=1, satisfaction=4),
        CaseFacts("CF-4", result="unresolved"),
        CaseFacts("CF-5"),
    ]
    result = case_figures(cases)
    assert result["cases"] == 5
    assert result["resolution_rate"] == 0.6
    assert result["repeat_contact_rate"] == 0.2
    assert result["first_contact_resolution_rate"] == round(1 / 3, 4)
    assert result["reopen_rate"] == 0.25  # of the four cases that were resolved or decided
    assert (result["csat"], result["csat_answers"]) == (round(2 / 3, 4), 3)
    assert result["claims_paid"] == {"CNY": 1200}


def test_kpis_of_nothing_are_empty_not_zero() -> None:
    result = figures(Window())
    assert result["callback_within_target_rate"] is None
    assert result["csat"] is None
    assert result["mean_time_to_callback_s"] is None
    assert (result["open_breaches"], result["qa_points"], result["cases"]) == (0, 0, 0)


def test_the_report_groups_by_station_region_and_kind() -> None:
    window = Window(
        cases=[CaseFacts("CF-1", kind="delay", holder="SH-A1"), CaseFacts("CF-2", kind="loss", holder="BJ-B2")],
        clocks=[clock("callback", "SH-A1"), clock("callback", "BJ-B2")],
    )
    regions = {"SH-A1": "east", "BJ-B2": "north"}
    result = report(window, regions.get)  # type: ignore[arg-type]
    assert set(result["stations"]) == {"SH-A1", "BJ-B2"}
    assert {r: v["cases"] for r, v in result["regions"].items()} == {"east": 1, "north": 1}
    assert {k: v["cases"] for k, v in result["kinds"].items()} == {"delay": 1, "loss": 1}
    assert result["overall"]["cases"] == 2


async def story(sla: Sla, lifecycle: Lifecycle) -> tuple[str, str, str]:
    """Three cases on 24 November: SH-A1 calls back in time (a 5 from the customer), SH-B2 breaches and is
    charged back, BJ-C3's callback reaches sla after its breach went out, stamped before the deadline."""
    a, b, c = new_case_id(), new_case_id(), new_case_id()
    await sla.feed(
        lifecycle.opened(a, T0),
        lifecycle.escalated(a, T0, holder="SH-A1"),
        lifecycle.opened(b, T0, kind="loss"),
        lifecycle.escalated(b, T0, holder="SH-B2", kind="loss"),
        lifecycle.opened(c, T0),
        lifecycle.escalated(c, T0, holder="BJ-C3"),
        lifecycle.callback(a, T0 + 0.5 * H, station="SH-A1"),
        lifecycle.merged(b, T0 + H),
    )
    await sla.tick(2 * H + HOLD)  # the breaches of SH-B2 and BJ-C3 go out
    await sla.feed(
        lifecycle.callback(b, T0 + 3 * H, station="SH-B2"),
        lifecycle.callback(c, T0 + 1.9 * H, station="BJ-C3"),  # withdraws BJ-C3's breach
        lifecycle.resolved(a, T0 + 4 * H, station="SH-A1"),
        lifecycle.satisfaction(a, T0 + 5 * H, 5),
        lifecycle.payout(b, T0 + 6 * H, 1200),
        lifecycle.chargeback(b, T0 + 6 * H, "SH-B2", 11200),
    )
    return a, b, c


async def test_the_kpi_endpoint_reports_overall_and_per_station_region_and_kind(
    sla: Sla, lifecycle: Lifecycle, tmp_path: Path
) -> None:
    await story(sla, lifecycle)
    issuer = LocalIssuer.ensure(tmp_path)
    reader = {"Authorization": "Bearer " + issuer.mint("analyst", [Role.CASES_READER])}
    agent = {"Authorization": "Bearer " + issuer.mint("b2-agent", [Role.STATION_AGENT], ["SH-B2"])}
    http = edge_client(sla.runtime, issuer)
    response = await http.get("/kpis", params=WINDOW, headers=reader)
    assert response.status_code == 200
    body = response.json()
    assert body["overall"]["callback_within_target_rate"] == round(2 / 3, 4)  # the withdrawn breach is met
    assert body["stations"]["SH-A1"]["callback_within_target_rate"] == 1.0
    assert body["stations"]["BJ-C3"]["callback_within_target_rate"] == 1.0
    assert body["stations"]["BJ-C3"]["qa_points"] == 0  # its points were given back
    b2 = body["stations"]["SH-B2"]
    assert (b2["callback_within_target_rate"], b2["qa_points"], b2["charged_back"]) == (0.0, 100, {"CNY": 11200})
    assert (b2["repeat_contact_rate"], b2["claims_paid"]) == (1.0, {"CNY": 1200})
    a1 = body["stations"]["SH-A1"]
    assert (a1["resolution_rate"], a1["first_contact_resolution_rate"], a1["csat"]) == (1.0, 1.0, 1.0)
    assert {r: v["cases"] for r, v in body["regions"].items()} == {"east": 2, "north": 1}
    assert body["kinds"]["loss"]["callbacks_decided"] == 1
    east = (await http.get("/kpis", params={**WINDOW, "region": "east"}, headers=reader)).json()
    assert set(east["stations"]) == {"SH-A1", "SH-B2"}
    delays = (await http.get("/kpis", params={**WINDOW, "kind": "delay"}, headers=reader)).json()
    assert delays["overall"]["cases"] == 2
    one = await http.get("/kpis", params={**WINDOW, "station": "SH-B2"}, headers=agent)  # a station reads its own
    assert one.json()["mean_time_to_callback_s"] == 3 * H
    assert (await http.get("/kpis", params={**WINDOW, "station": "SH-A1"}, headers=agent)).status_code == 403
    assert (await http.get("/kpis", params=WINDOW, headers=agent)).status_code == 403  # not the whole network
    earlier = await http.get("/kpis", params={"from": "2026-11-01T00:00:00Z", "to": "2026-11-02"}, headers=reader)
    assert earlier.json()["overall"]["callbacks_decided"] == 0
    bad = await http.get("/kpis", params={"from": "yesterday"}, headers=reader)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "from"
    assert (await http.get("/kpis", params=WINDOW)).status_code == 401


async def test_a_chargeback_for_a_case_sla_never_saw_opened_counts_in_the_kpis(
    sla: Sla, lifecycle: Lifecycle, tmp_path: Path
) -> None:
    """Its kind is unknown, and stored as absent: the KPIs read it back instead of failing on the whole window."""
    await sla.feed(lifecycle.chargeback(new_case_id(), T0 + H, "SH-B2", 5000))
    issuer = LocalIssuer.ensure(tmp_path)
    reader = {"Authorization": "Bearer " + issuer.mint("analyst", [Role.CASES_READER])}
    response = await edge_client(sla.runtime, issuer).get("/kpis", params=WINDOW, headers=reader)
    assert response.status_code == 200, response.text
    assert response.json()["stations"]["SH-B2"]["charged_back"] == {"CNY": 5000}


async def test_the_scorecard_reads_per_station_and_period_with_the_causes(
    sla: Sla, lifecycle: Lifecycle, tmp_path: Path
) -> None:
    _, b, c = await story(sla, lifecycle)
    issuer = LocalIssuer.ensure(tmp_path)
    finance = {"Authorization": "Bearer " + issuer.mint("finance", [Role.FINANCE_AUDITOR])}
    agent = {"Authorization": "Bearer " + issuer.mint("b2-agent", [Role.STATION_AGENT], ["SH-B2"])}
    http: httpx.AsyncClient = edge_client(sla.runtime, issuer)
    mine = (await http.get("/stations/SH-B2/scorecard", params={"period": "2026-11"}, headers=agent)).json()
    assert (mine["points"], mine["charged"], mine["reversed"]) == (100, 100, 0)
    [line] = mine["entries"]
    assert (line["case_id"], line["duty"], line["metric"], line["points"]) == (b, "response_2h", "callback", 100)
    [breach] = sla.of(b, "sla.breached")
    assert line["cause_event_id"] == breach.event_id
    withdrawn = (await http.get("/stations/BJ-C3/scorecard", params={"period": "2026-11"}, headers=finance)).json()
    assert (withdrawn["points"], withdrawn["charged"], withdrawn["reversed"]) == (0, 100, 100)
    assert withdrawn["entries"][0]["case_id"] == c
    assert withdrawn["entries"][0]["reversed_at"] is not None
    network = (await http.get("/scorecard", params={"period": "2026-11"}, headers=finance)).json()
    assert network["stations"] == {
        "BJ-C3": {"points": 0, "charged": 100, "reversed": 100},
        "SH-B2": {"points": 100, "charged": 100, "reversed": 0},
    }
    assert (await http.get("/stations/SH-A1/scorecard", headers=agent)).status_code == 403
    assert (await http.get("/scorecard", headers=agent)).status_code == 403
    assert (await http.get("/stations/SH-B2/scorecard", params={"period": "2026-13"}, headers=agent)).status_code == 422
    later = (await http.get("/stations/SH-B2/scorecard", params={"period": "2026-12"}, headers=agent)).json()
    assert later["entries"] == []
    current = (await http.get("/stations/SH-B2/scorecard", headers=agent)).json()
    assert current["period"] == "2026-11"  # the service's clock says November
