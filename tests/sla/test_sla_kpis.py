"""KPIs: the pure computation, and the read endpoint over a harness store."""

from __future__ import annotations

from pathlib import Path

from caseflow_dev.testing import edge_client
from caseflow_kit.auth import Role
from caseflow_ops.tokens import LocalIssuer
from caseflow_sla import domain
from caseflow_sla.domain import Clock, Outcome
from caseflow_sla.kpis import kpis

from .conftest import T0, H, Lifecycle, SlaHarness, new_case_id


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
    return domain.start_clock(c, None, T0)


def test_kpis_count_met_late_breached_and_open() -> None:
    met = [clock("callback") for _ in range(3)]
    for i, c in enumerate(met):
        domain.stop(c, None, T0 + (i + 1) * 1800, Outcome.MET, can_meet=True)  # 30, 60, 90 minutes
    late = clock("callback")
    domain.fire(late, None, T0 + 2 * H)
    domain.stop(late, None, T0 + 4 * H, Outcome.MET, can_meet=True)
    open_breach = clock("callback")
    domain.fire(open_breach, None, T0 + 2 * H)
    resolved = clock("resolution", target=48 * H)
    domain.stop(resolved, None, T0 + 20 * H, Outcome.MET, can_meet=True)
    unresolved = clock("resolution", target=48 * H)
    domain.stop(unresolved, None, T0 + 20 * H, Outcome.UNRESOLVED, can_meet=True)
    running = clock("resolution", target=48 * H)
    handed = clock("resolution", target=48 * H)
    domain.stop(handed, None, T0 + H, Outcome.HANDED_OVER, can_meet=False)
    result = kpis([*met, late, open_breach, resolved, unresolved, running, handed])
    assert result["callback_within_target_rate"] == round(3 / 5, 4)
    assert result["callbacks_decided"] == 5
    assert result["resolution_within_48h_rate"] == 0.5
    assert result["resolutions_decided"] == 2
    assert result["open_breaches"] == 1
    assert result["mean_time_to_callback_s"] == (1800 + 3600 + 5400 + 4 * H) / 4
    assert result["p90_time_to_callback_s"] == 4 * H


def test_kpis_of_nothing_are_empty_not_zero() -> None:
    result = kpis([])
    assert result["callback_within_target_rate"] is None
    assert result["mean_time_to_callback_s"] is None
    assert result["open_breaches"] == 0


async def test_the_endpoint_reports_overall_and_per_station(
    sla: SlaHarness, lifecycle: Lifecycle, tmp_path: Path
) -> None:
    a, b = new_case_id(), new_case_id()
    await sla.feed(
        lifecycle.escalated(a, T0, holder="SH-A1"),
        lifecycle.escalated(b, T0, holder="SH-B2"),
        lifecycle.callback(a, T0 + 0.5 * H, station="SH-A1"),
        lifecycle.callback(b, T0 + 3 * H, station="SH-B2"),
    )
    issuer = LocalIssuer.ensure(tmp_path)
    reader = {"Authorization": "Bearer " + issuer.mint("analyst", [Role.CASES_READER])}
    agent = {"Authorization": "Bearer " + issuer.mint("b2-agent", [Role.STATION_AGENT], ["SH-B2"])}
    http = edge_client(sla.runtime, issuer)
    window = {"from": "2026-11-24T00:00:00Z", "to": "2026-11-25T00:00:00Z"}
    response = await http.get("/kpis", params=window, headers=reader)
    assert response.status_code == 200
    body = response.json()
    assert body["overall"]["callback_within_target_rate"] == 0.5
    assert body["stations"]["SH-A1"]["callback_within_target_rate"] == 1.0
    assert body["stations"]["SH-B2"]["callback_within_target_rate"] == 0.0
    one = await http.get("/kpis", params={**window, "station": "SH-B2"}, headers=agent)  # a station reads its own
    assert one.json()["mean_time_to_callback_s"] == 3 * H
    assert (await http.get("/kpis", params={**window, "station": "SH-A1"}, headers=agent)).status_code == 403
    assert (await http.get("/kpis", params=window, headers=agent)).status_code == 403  # not the whole network
    earlier = await http.get("/kpis", params={"from": "2026-11-01T00:00:00Z", "to": "2026-11-02"}, headers=reader)
    assert earlier.json()["overall"]["callbacks_decided"] == 0
    bad = await http.get("/kpis", params={"from": "yesterday"}, headers=reader)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "from"
    assert (await http.get("/kpis", params=window)).status_code == 401
