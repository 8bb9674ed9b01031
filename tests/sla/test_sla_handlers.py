"""Clocks follow the case: lifecycle events through the real kit consumer and store, time under control."""

from __future__ import annotations

from typing import Any

from caseflow_contracts import deterministic_id
from caseflow_sla.domain import Outcome, State

from .conftest import HOLD, T0, H, Lifecycle, Sla, new_case_id

STATION_CLOCKS = {"callback@station", "resolution@station", "customer_update@station"}


def payload(event: Any) -> Any:
    return event.payload


async def test_callback_within_target_is_met_and_resolution_keeps_running(sla: Sla, lifecycle: Lifecycle) -> None:
    case = new_case_id()
    await sla.feed(lifecycle.escalated(case, T0), lifecycle.callback(case, T0 + H))
    [met] = sla.of(case, "sla.met")
    assert payload(met).metric == "callback"
    assert payload(met).elapsed_seconds == H
    assert payload(met).station == "SH-PUDONG-01"
    assert met.event_id == deterministic_id(case, "callback", "station", "met")
    clocks = await sla.clocks(case)
    assert clocks["resolution@station"]["state"] == State.RUNNING
    assert clocks["resolution@station"]["due_at"] == T0 + 0.8 * 48 * H


async def test_warning_then_a_held_breach_exactly_once_with_the_monitoring_fields(
    sla: Sla, lifecycle: Lifecycle
) -> None:
    case = new_case_id()
    await sla.feed(lifecycle.escalated(case, T0, priority="high", kind="loss"))
    assert await sla.tick(0.5 * H) == []
    [warning] = await sla.tick(1.1 * H)
    assert warning.type == "sla.warning"
    assert payload(warning).metric == "callback"
    assert await sla.tick(0.4 * H) == []  # the deadline: the breach is held for the allowed lateness
    breach, charge = await sla.tick(HOLD)
    assert breach.type == "sla.breached"
    p = payload(breach)
    assert (p.case_id, p.metric, p.level, p.station) == (case, "callback", "station", "SH-PUDONG-01")
    assert (p.kind, p.priority, p.target_seconds) == ("loss", "high", 2 * H)
    assert p.elapsed_seconds >= 2 * H
    assert p.deadline_at.timestamp() == T0 + 2 * H
    assert breach.event_id == deterministic_id(case, "callback", "station", "breached")
    assert (charge.type, payload(charge).duty, payload(charge).points) == ("qa.points_charged", "response_2h", 100)
    assert payload(charge).cause_event_id == breach.event_id
    assert sla.metric("caseflow_sla_breach_holds_total", metric="callback", outcome="published") == 1
    assert await sla.tick(10 * H) == []  # nothing more about the callback, and nothing else due yet
    # the late callback is recorded, accepted, and publishes nothing
    await sla.feed(lifecycle.callback(case, T0 + 13 * H))
    callback = (await sla.clocks(case))["callback@station"]
    assert callback["outcome"] == Outcome.LATE
    assert [e for e in sla.of(case) if e.type in ("sla.met", "sla.breach_withdrawn")] == []


async def test_redelivered_events_change_nothing(sla: Sla, lifecycle: Lifecycle) -> None:
    case = new_case_id()
    escalated = lifecycle.escalated(case, T0)
    await sla.feed(escalated, escalated)
    assert sla.outcomes() == {"case.escalated:handled": 1, "case.escalated:duplicate": 1}
    # the same assignment again under another id (a replay upstream) is a no-op too
    before = await sla.clocks(case)
    await sla.feed(lifecycle.escalated(case, T0))
    after = await sla.clocks(case)
    assert set(before) == STATION_CLOCKS
    assert {k: (v["started_at"], v["_v"]) for k, v in before.items()} == {
        k: (v["started_at"], v["_v"]) for k, v in after.items()
    }


async def test_a_whole_story_in_one_batch_sees_its_own_writes(sla: Sla, lifecycle: Lifecycle) -> None:
    case = new_case_id()
    await sla.feed(
        lifecycle.opened(case, T0, channel="email"),
        lifecycle.escalated(case, T0 + 60, channel="email"),
        lifecycle.awaiting(case, T0 + 0.5 * H),
        lifecycle.responded(case, T0 + 5 * H),
        lifecycle.callback(case, T0 + 5.5 * H),
        batch=True,
    )
    assert sla.outcomes().get("case.callback_logged:handled") == 1
    met = {payload(e).metric: payload(e).elapsed_seconds for e in sla.of(case, "sla.met")}
    assert met == {"callback": 1 * H - 60, "email_acknowledgement": 5.5 * H - 4.5 * H}
    clocks = await sla.clocks(case)
    assert clocks["resolution@station"]["state"] == State.RUNNING
    assert clocks["resolution@station"]["deadline_at"] == T0 + 60 + 48 * H + 4.5 * H


async def test_waiting_on_the_customer_pauses_every_clock(sla: Sla, lifecycle: Lifecycle) -> None:
    case = new_case_id()
    await sla.feed(lifecycle.escalated(case, T0), lifecycle.awaiting(case, T0 + H))
    assert await sla.tick(20 * H) == []  # 21 hours waiting: nothing runs
    await sla.feed(lifecycle.responded(case, T0 + 21 * H))
    clocks = await sla.clocks(case)
    assert clocks["callback@station"]["deadline_at"] == T0 + 22 * H
    await sla.feed(lifecycle.callback(case, T0 + 21.5 * H))
    [met] = sla.of(case, "sla.met")
    assert payload(met).elapsed_seconds == 1.5 * H


async def test_out_of_order_callback_before_its_escalation(sla: Sla, lifecycle: Lifecycle) -> None:
    case = new_case_id()
    await sla.feed(lifecycle.callback(case, T0 + 0.5 * H))
    assert (await sla.clocks(case))["callback@station"]["state"] == State.STOP_FIRST
    await sla.feed(lifecycle.escalated(case, T0))
    [met] = sla.of(case, "sla.met")
    assert payload(met).elapsed_seconds == 0.5 * H


async def test_a_stale_assignment_is_ignored(sla: Sla, lifecycle: Lifecycle) -> None:
    case = new_case_id()
    await sla.feed(
        lifecycle.escalated(case, T0 + H, holder="HUB-SH", level="hub", trigger="explicit_request"),
        lifecycle.escalated(case, T0, holder="SH-A1"),  # older: arrives late
    )
    clocks = await sla.clocks(case)
    assert "callback@station" not in clocks
    assert clocks["callback@hub"]["station"] == "HUB-SH"


async def test_resolution_stops_what_runs_and_close_silences_the_rest(sla: Sla, lifecycle: Lifecycle) -> None:
    case = new_case_id()
    await sla.feed(
        lifecycle.opened(case, T0, kind="complaint", channel="email"),
        lifecycle.escalated(case, T0 + 0.1 * H, kind="complaint", channel="email"),
        lifecycle.callback(case, T0 + H),
        lifecycle.resolved(case, T0 + 30 * H),
    )
    met = sorted(payload(e).metric for e in sla.of(case, "sla.met"))
    assert met == ["callback", "complaint_answer", "email_acknowledgement", "resolution"]
    # no progress update for 30 hours: the 24-hour update clock is decided breached by the resolution's time
    assert [payload(e).metric for e in sla.of(case, "sla.breached")] == ["customer_update"]
    other = new_case_id()
    await sla.feed(lifecycle.escalated(other, T0), lifecycle.closed(other, T0 + H))
    assert sla.of(other) == []
    clocks = await sla.clocks(other)
    assert set(clocks) == STATION_CLOCKS
    assert {(c["state"], c["outcome"]) for c in clocks.values()} == {(State.STOPPED, Outcome.CLOSED)}


async def test_timers_that_came_due_while_nobody_watched_fire_at_once_and_once(sla: Sla, lifecycle: Lifecycle) -> None:
    cases = [new_case_id() for _ in range(30)]
    await sla.feed(*(lifecycle.escalated(c, T0) for c in cases))
    fired = await sla.tick(3 * 24 * H)  # three days of nobody watching
    breaches = [(payload(e).case_id, payload(e).metric, payload(e).level) for e in fired if e.type == "sla.breached"]
    assert len(breaches) == len(set(breaches)) == 30 * 3  # callback, resolution, customer update per case
    assert not [e for e in fired if e.type == "sla.warning"]
    charges = [payload(e).duty for e in fired if e.type == "qa.points_charged"]
    assert sorted(charges) == ["resolution_48h"] * 30 + ["response_2h"] * 30
    assert await sla.tick(60) == []


async def test_an_email_to_the_customer_acknowledges_an_email_contact(sla: Sla, lifecycle: Lifecycle) -> None:
    case, other, early = new_case_id(), new_case_id(), new_case_id()
    await sla.feed(
        lifecycle.opened(case, T0, channel="email"),
        lifecycle.opened(other, T0, channel="email"),
        lifecycle.notification_sent(case, T0 + 0.5 * H, channel="sms"),  # not an e-mail: no acknowledgement
        lifecycle.notification_sent(case, T0 + H),
        # notify.deliveries is another topic: its e-mail may be handled before the case.opened it answers
        lifecycle.notification_sent(early, T0 + 0.5 * H),
        lifecycle.opened(early, T0, channel="email"),
    )
    assert [(payload(e).metric, payload(e).elapsed_seconds) for e in sla.of(case, "sla.met")] == [
        ("email_acknowledgement", H)
    ]
    assert [(payload(e).metric, payload(e).elapsed_seconds) for e in sla.of(early, "sla.met")] == [
        ("email_acknowledgement", 0.5 * H)
    ]
    [breach] = [e for e in await sla.tick(5 * H) if e.type == "sla.breached"]
    assert (payload(breach).case_id, payload(breach).metric) == (other, "email_acknowledgement")


async def test_a_timer_that_lagged_behind_an_input_decides_first_as_it_would_have_on_time(
    sla: Sla, lifecycle: Lifecycle
) -> None:
    """The warning came due at 1.6 h; the callback happened at 1.8 h and reached sla before its timer loop
    fired (a busy machine, a restart): the warning is still decided, before the callback stops the clock,
    as on time, so the outcome does not depend on which came first (and the what-if replay agrees)."""
    case = new_case_id()
    await sla.feed(lifecycle.escalated(case, T0))
    await sla.feed(lifecycle.callback(case, T0 + 1.8 * H))  # no timer ran in between
    assert [(e.type, payload(e).metric) for e in sla.of(case) if e.type.startswith("sla.")] == [
        ("sla.warning", "callback"),
        ("sla.met", "callback"),
    ]
