"""The rules of issues 15 and 20 through sla's real consumer and store: stations keep their clocks, only a
callback that told the result counts, system-detected cases have no callback clock, complaints carry their
7-day clock, breaches are held and withdrawn on event time, and the QA scorecard follows."""

from __future__ import annotations

from typing import Any

from caseflow_contracts import Event, deterministic_id
from caseflow_sla.domain import Outcome, State

from .conftest import HOLD, T0, H, Lifecycle, Sla, new_case_id

D = 24 * H


def payload(event: Any) -> Any:
    return event.payload


def types(events: list[Any]) -> list[str]:
    return [e.type for e in events]


def climbed(lifecycle: Lifecycle, case: str, at: float) -> Event:
    """routing's answer to the station's callback breach: the hub now supervises the case."""
    return lifecycle.escalated(
        case, at, level="hub", supervisor="HUB-SH", trigger="sla_breach", trigger_ref="callback:station"
    )


async def test_an_escalation_adds_the_supervisors_follow_up_and_leaves_the_stations_clocks_running(
    sla: Sla, lifecycle: Lifecycle
) -> None:
    case = new_case_id()
    await sla.feed(lifecycle.escalated(case, T0))
    [breach, _charge] = [e for e in await sla.tick(2 * H + HOLD) if e.type != "sla.warning"]
    await sla.feed(climbed(lifecycle, case, T0 + 2.1 * H))
    clocks = await sla.clocks(case)
    assert {k: c["state"] for k, c in clocks.items()} == {
        "callback@station": State.RUNNING,  # breached, still owed: the station's late callback is accepted
        "resolution@station": State.RUNNING,
        "customer_update@station": State.RUNNING,
        "escalation_follow_up@hub": State.RUNNING,
    }
    assert clocks["escalation_follow_up@hub"]["station"] == "HUB-SH"
    assert all(c["station"] == "SH-PUDONG-01" for k, c in clocks.items() if k.endswith("@station"))
    # the station calls back late (its event says the case's level now: hub): its own clock ends late,
    # and the customer heard from the case, so the supervisor's follow-up is met
    await sla.feed(lifecycle.callback(case, T0 + 2.5 * H, level="hub"))
    clocks = await sla.clocks(case)
    assert clocks["callback@station"]["outcome"] == Outcome.LATE
    assert [payload(e).metric for e in sla.of(case, "sla.met")] == ["escalation_follow_up"]
    assert payload(breach).level == "station"
    # the station still resolves its case within 48 hours: met, never "handed over"
    await sla.feed(lifecycle.resolved(case, T0 + 30 * H, level="hub"))
    clocks = await sla.clocks(case)
    assert clocks["resolution@station"]["outcome"] == Outcome.MET
    assert "resolution" in [payload(e).metric for e in sla.of(case, "sla.met")]


async def test_a_supervisors_callback_meets_its_follow_up_but_not_the_stations_2_hour_duty(
    sla: Sla, lifecycle: Lifecycle
) -> None:
    case = new_case_id()
    await sla.feed(
        lifecycle.escalated(case, T0),
        lifecycle.escalated(case, T0 + 0.5 * H, level="hub", supervisor="HUB-SH", trigger="repeat_contact"),
        lifecycle.callback(case, T0 + H, station="HUB-SH", level="hub"),
    )
    clocks = await sla.clocks(case)
    assert clocks["escalation_follow_up@hub"]["outcome"] == Outcome.MET
    assert clocks["callback@station"]["state"] == State.RUNNING


async def test_only_a_callback_that_told_the_result_stops_the_2_hour_clock(sla: Sla, lifecycle: Lifecycle) -> None:
    case = new_case_id()
    await sla.feed(lifecycle.escalated(case, T0), lifecycle.callback(case, T0 + 0.5 * H, counts=False))
    assert (await sla.clocks(case))["callback@station"]["state"] == State.RUNNING
    assert sla.of(case) == []
    await sla.feed(lifecycle.callback(case, T0 + 1.5 * H))
    [met] = sla.of(case, "sla.met")
    assert (payload(met).metric, payload(met).elapsed_seconds) == ("callback", 1.5 * H)


async def test_a_reassignment_by_hq_ends_the_old_stations_clocks_and_starts_the_new_ones(
    sla: Sla, lifecycle: Lifecycle
) -> None:
    case = new_case_id()
    await sla.feed(
        lifecycle.escalated(case, T0, holder="SH-A1"),
        lifecycle.transferred(case, T0 + 1.5 * H, from_station="SH-A1", to_station="SH-B2"),
    )
    clocks = await sla.clocks(case)
    old = {k: c for k, c in clocks.items() if "#" not in k}
    new = {k: c for k, c in clocks.items() if k.endswith("#1")}
    assert {(c["station"], c["outcome"]) for c in old.values()} == {("SH-A1", Outcome.REASSIGNED)}
    assert set(new) == {"callback@station#1", "resolution@station#1", "customer_update@station#1"}
    assert {(c["station"], c["started_at"], c["state"]) for c in new.values()} == {
        ("SH-B2", T0 + 1.5 * H, State.RUNNING)
    }
    assert await sla.tick(H) == []  # the new station has its own two hours
    [warning] = await sla.tick(0.7 * H)
    assert (warning.type, payload(warning).station) == ("sla.warning", "SH-B2")
    [breach, charge] = await sla.tick(0.3 * H + HOLD)
    assert breach.event_id == deterministic_id(case, "callback", "station", "e1", "breached")
    assert (payload(charge).station, payload(charge).points) == ("SH-B2", 100)


async def test_a_reopened_case_goes_back_to_its_station_with_new_clocks(sla: Sla, lifecycle: Lifecycle) -> None:
    case = new_case_id()
    await sla.feed(
        lifecycle.escalated(case, T0),
        lifecycle.callback(case, T0 + H),
        lifecycle.resolved(case, T0 + 5 * H),
        lifecycle.closed(case, T0 + 6 * H),
        lifecycle.reopened(case, T0 + 2 * D),
        lifecycle.escalated(case, T0 + 2 * D + 60, level="hub", supervisor="HUB-SH", trigger="reopened"),
    )
    clocks = await sla.clocks(case)
    assert {k: (c["station"], c["state"]) for k, c in clocks.items() if k.endswith("#1")} == {
        "callback@station#1": ("SH-PUDONG-01", State.RUNNING),
        "resolution@station#1": ("SH-PUDONG-01", State.RUNNING),
        "customer_update@station#1": ("SH-PUDONG-01", State.RUNNING),
        "escalation_follow_up@hub#1": ("HUB-SH", State.RUNNING),
    }
    assert clocks["callback@station#1"]["started_at"] == T0 + 2 * D
    await sla.feed(lifecycle.callback(case, T0 + 2 * D + H, level="hub"))
    mets = [e for e in sla.of(case, "sla.met") if payload(e).metric == "callback"]
    assert len(mets) == 2
    assert len({e.event_id for e in mets}) == 2  # a new episode: a new event, not a duplicate of the first


async def test_a_system_detected_exception_has_a_resolution_clock_and_no_callback_until_a_customer_calls(
    sla: Sla, lifecycle: Lifecycle
) -> None:
    case = new_case_id()
    await sla.feed(lifecycle.opened(case, T0, channel="upstream"), lifecycle.escalated(case, T0, channel="upstream"))
    assert set(await sla.clocks(case)) == {"resolution@station"}
    await sla.feed(lifecycle.merged(case, T0 + 3 * H, channel="phone"))
    clocks = await sla.clocks(case)
    assert set(clocks) == {"resolution@station", "callback@station", "customer_update@station"}
    assert clocks["callback@station"]["started_at"] == T0 + 3 * H
    await sla.feed(lifecycle.callback(case, T0 + 4 * H))
    [met] = sla.of(case, "sla.met")
    assert (payload(met).metric, payload(met).elapsed_seconds) == ("callback", H)
    repeat = (await sla.runtime.store.get("sla_cases", case)) or {}
    assert repeat["repeat_contacts"] == 1


async def test_a_callback_made_after_the_customers_call_answers_it_though_the_merge_reached_sla_later(
    sla: Sla, lifecycle: Lifecycle
) -> None:
    """Event time, not arrival order: the station called back 10 minutes after the customer's call; routing's
    record of the callback reached sla before intake's merge of the call (another topic)."""
    case = new_case_id()
    await sla.feed(lifecycle.opened(case, T0, channel="upstream"), lifecycle.escalated(case, T0, channel="upstream"))
    await sla.feed(lifecycle.callback(case, T0 + 3 * H + 600))
    await sla.feed(lifecycle.merged(case, T0 + 3 * H + 900, channel="phone", contact_at=T0 + 3 * H))
    [met] = sla.of(case, "sla.met")
    assert (payload(met).metric, payload(met).elapsed_seconds) == ("callback", 600)
    assert sla.of(case, "sla.breached") == []


async def test_every_complaint_carries_the_7_day_clock_and_a_regulator_appeal_its_10_days(
    sla: Sla, lifecycle: Lifecycle
) -> None:
    delay_complaint, later_complaint, appeal, plain = (new_case_id() for _ in range(4))
    await sla.feed(
        lifecycle.opened(delay_complaint, T0, kind="delay", complaint=True),
        lifecycle.opened(later_complaint, T0, kind="damage"),
        lifecycle.merged(later_complaint, T0 + D, complaint=True),
        lifecycle.opened(appeal, T0, kind="regulator_appeal", priority="urgent", complaint=True),
        lifecycle.opened(plain, T0, kind="delay"),
    )
    answer = {
        case: (c["target_s"], c["started_at"])
        for case in (delay_complaint, later_complaint, appeal)
        for c in [(await sla.clocks(case))["complaint_answer@hq"]]
    }
    assert answer == {
        delay_complaint: (7 * D, T0),
        later_complaint: (7 * D, T0 + D),
        appeal: (10 * D, T0),
    }
    assert "complaint_answer@hq" not in await sla.clocks(plain)


async def test_an_on_time_callback_that_arrives_during_the_hold_stops_the_breach(
    sla: Sla, lifecycle: Lifecycle
) -> None:
    case = new_case_id()
    await sla.feed(lifecycle.escalated(case, T0))
    await sla.tick(1.7 * H)
    await sla.tick(0.3 * H + 30)  # past the deadline: the breach is held
    assert types(sla.of(case)) == ["sla.warning"]
    await sla.feed(lifecycle.callback(case, T0 + 2 * H - 5))  # stamped before the deadline, arrives late
    assert types(sla.of(case)) == ["sla.warning", "sla.met"]
    assert await sla.tick(HOLD) == []
    assert sla.metric("caseflow_sla_breach_holds_total", metric="callback", outcome="cleared") == 1


async def test_a_breach_disproved_after_it_went_out_is_withdrawn_with_its_points(
    sla: Sla, lifecycle: Lifecycle
) -> None:
    case = new_case_id()
    await sla.feed(lifecycle.escalated(case, T0))
    breach, charge = [e for e in await sla.tick(2 * H + HOLD) if e.type != "sla.warning"]
    # routing climbed for the breach; its escalation reaches sla before the late callback does
    await sla.feed(climbed(lifecycle, case, T0 + 2 * H + HOLD))
    sla.clock.advance(10 * 60)
    withdrawn, reversed_ = await sla.feed(lifecycle.callback(case, T0 + 2 * H - 1, level="hub"))
    assert withdrawn.type == "sla.breach_withdrawn"
    p = payload(withdrawn)
    assert (p.breach_event_id, p.metric, p.level, p.station) == (breach.event_id, "callback", "station", "SH-PUDONG-01")
    assert p.stopped_at.timestamp() == T0 + 2 * H - 1
    assert p.withdrawn_at.timestamp() == sla.clock.time()
    assert reversed_.type == "qa.points_reversed"
    assert (payload(reversed_).cause_event_id, payload(reversed_).points) == (payload(charge).cause_event_id, 100)
    clocks = await sla.clocks(case)
    assert (clocks["callback@station"]["outcome"], clocks["callback@station"]["withdrawn"]) == (Outcome.MET, True)
    # the follow-up owed for the escalation that breach caused is cancelled: no breach of it later
    assert clocks["escalation_follow_up@hub"]["outcome"] == Outcome.CANCELLED
    assert [e for e in await sla.tick(5 * H) if payload(e).metric == "escalation_follow_up"] == []
    assert sla.metric("caseflow_sla_breaches_withdrawn_total", metric="callback") == 1


async def test_an_escalation_for_a_breach_already_withdrawn_owes_no_follow_up(sla: Sla, lifecycle: Lifecycle) -> None:
    case = new_case_id()
    await sla.feed(lifecycle.escalated(case, T0))
    await sla.tick(2 * H + HOLD)
    await sla.feed(
        lifecycle.callback(case, T0 + H),
        climbed(lifecycle, case, T0 + 2 * H + HOLD),
    )
    assert types(sla.of(case, "sla.breach_withdrawn")) == ["sla.breach_withdrawn"]
    assert "escalation_follow_up@hub" not in await sla.clocks(case)


async def test_records_refused_and_shirking_cost_the_station_its_points(sla: Sla, lifecycle: Lifecycle) -> None:
    case = new_case_id()
    events = await sla.feed(
        lifecycle.escalated(case, T0),
        lifecycle.note_refused(case, T0 + H),
        lifecycle.hq_ruled(case, T0 + 2 * H, ruling="rejection_upheld"),
        lifecycle.hq_ruled(case, T0 + 3 * H, ruling="rejection_overturned"),
    )
    duties = [
        (payload(e).duty, payload(e).points, payload(e).station, payload(e).period) for e in (events[0], events[3])
    ]
    assert duties == [("record", 100, "SH-PUDONG-01", "2026-11"), ("shirking", 50, "SH-PUDONG-01", "2026-11")]
    # Between the rulings the station's 2-hour callback came due (the hold ended at 2 h 2 min): decided as
    # its timer would have on time, before the overturning of 3 h is applied, whichever sla saw first.
    assert types(events) == ["qa.points_charged", "sla.breached", "qa.points_charged", "qa.points_charged"]
    assert [payload(e).duty for e in events[2:3]] == ["response_2h"]
