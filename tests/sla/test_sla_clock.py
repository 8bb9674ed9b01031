"""The clock state machine, over event time: warnings, breaches and met targets once each, pauses, out of order."""

from __future__ import annotations

from datetime import UTC, datetime, time

from hypothesis import given, settings
from hypothesis import strategies as st

from caseflow_kit.calendar import Calendar
from caseflow_sla import domain
from caseflow_sla.domain import Clock, Outcome, Signal, State

T0 = 1_795_000_000.0  # a fixed instant; nothing here reads the real clock
H = 3600


def new_clock(target: int = 2 * H, *, calendar: Calendar | None = None, at: float = T0) -> Clock:
    clock = Clock(
        case_id="CF-20261124000001",
        metric="callback",
        level="station",
        kind="delay",
        priority="normal",
        channel="phone",
        station="SH-01",
        target_s=target,
        warning_s=int(target * 0.8),
        calendar=None,
        policy_version="test",
        started_at=at,
    )
    return domain.start_clock(clock, calendar, at)


def signals(decisions: list[domain.Decision]) -> list[Signal]:
    return [d.signal for d in decisions]


def test_a_running_clock_warns_at_80_percent_then_breaches_once() -> None:
    clock = new_clock()
    assert clock.due_at == T0 + 0.8 * 2 * H
    assert domain.fire(clock, None, T0 + 1000) == []  # an early poll decides nothing
    warning = domain.fire(clock, None, T0 + 0.8 * 2 * H)
    assert signals(warning) == [Signal.WARNING]
    assert warning[0].elapsed == int(0.8 * 2 * H)
    assert clock.due_at == T0 + 2 * H
    breach = domain.fire(clock, None, T0 + 2 * H + 5)
    assert signals(breach) == [Signal.BREACHED]
    assert breach[0].elapsed == 2 * H + 5
    assert breach[0].deadline_at == T0 + 2 * H
    assert clock.due_at is None
    assert domain.fire(clock, None, T0 + 3 * H) == []  # never twice


def test_a_timer_that_fires_late_breaches_without_a_stale_warning() -> None:
    clock = new_clock()
    assert signals(domain.fire(clock, None, T0 + 5 * H)) == [Signal.BREACHED]
    assert clock.warned
    assert domain.fire(clock, None, T0 + 6 * H) == []


def test_stopping_within_target_is_met_once() -> None:
    clock = new_clock()
    met = domain.stop(clock, None, T0 + H, Outcome.MET, can_meet=True)
    assert signals(met) == [Signal.MET]
    assert met[0].elapsed == H
    assert clock.state == State.STOPPED
    assert clock.due_at is None
    assert domain.stop(clock, None, T0 + H + 1, Outcome.MET, can_meet=True) == []


def test_a_stop_past_the_deadline_that_the_timer_missed_is_a_breach() -> None:
    """Event time decides: the callback came after the deadline, so it is a breach even if no timer fired yet."""
    clock = new_clock()
    decisions = domain.stop(clock, None, T0 + 3 * H, Outcome.MET, can_meet=True)
    assert signals(decisions) == [Signal.BREACHED]
    assert decisions[0].elapsed == 3 * H
    assert clock.outcome == Outcome.LATE


def test_a_stop_after_a_published_breach_is_recorded_late_without_events() -> None:
    clock = new_clock()
    domain.fire(clock, None, T0 + 2 * H)
    assert domain.stop(clock, None, T0 + 3 * H, Outcome.MET, can_meet=True) == []
    assert clock.outcome == Outcome.LATE
    assert clock.elapsed_at_stop == 3 * H


def test_a_handover_stops_without_met() -> None:
    clock = new_clock()
    assert domain.stop(clock, None, T0 + H, Outcome.HANDED_OVER, can_meet=False) == []
    assert clock.outcome == Outcome.HANDED_OVER


def test_pause_and_resume_move_the_deadline_by_the_paused_time() -> None:
    clock = new_clock()
    assert domain.pause(clock, None, T0 + H)
    assert clock.due_at is None
    assert not domain.pause(clock, None, T0 + H + 10)  # already paused
    assert domain.fire(clock, None, T0 + 10 * H) == []  # paused clocks never fire
    assert domain.resume(clock, None, T0 + 5 * H)
    assert clock.deadline_at == T0 + 6 * H
    assert clock.warn_at == T0 + 5 * H + 0.6 * H
    assert not domain.resume(clock, None, T0 + 5 * H + 1)
    assert signals(domain.stop(clock, None, T0 + 5.5 * H, Outcome.MET, can_meet=True)) == [Signal.MET]
    assert clock.elapsed_at_stop == 1.5 * H


def test_event_times_never_run_backwards_on_a_clock() -> None:
    clock = new_clock()
    domain.pause(clock, None, T0 + H)
    domain.resume(clock, None, T0 + 30)  # an older time than the pause: counts as the pause time
    assert clock.running_since == T0 + H
    decisions = domain.stop(clock, None, T0 + 10, Outcome.MET, can_meet=True)  # older than the resume
    assert decisions[0].elapsed == H


def test_a_stop_that_arrives_before_its_start_is_decided_when_the_start_comes() -> None:
    clock = new_clock()
    domain.stop_first(clock, T0 + 3 * H, Outcome.MET)
    assert clock.state == State.STOP_FIRST
    assert clock.due_at is None
    late = domain.start_after_stop(clock, None, T0)
    assert signals(late) == [Signal.BREACHED]
    other = new_clock()
    domain.stop_first(other, T0 + H, Outcome.MET)
    assert signals(domain.start_after_stop(other, None, T0)) == [Signal.MET]
    stale = new_clock()
    domain.stop_first(stale, T0 - H, Outcome.MET)  # a stop from before this start: belongs to an earlier episode
    assert domain.start_after_stop(stale, None, T0) == []
    assert stale.state == State.RUNNING
    assert stale.due_at == T0 + 0.8 * 2 * H


def test_a_restart_measures_afresh_but_keeps_the_once_only_flags() -> None:
    clock = new_clock()
    domain.fire(clock, None, T0 + 2 * H)
    assert domain.restart(clock, None, T0 + 3 * H)
    assert clock.state == State.RUNNING
    assert clock.started_at == T0 + 3 * H
    assert clock.due_at is None  # already breached at this level: no second breach
    assert not domain.restart(clock, None, T0)  # an older start than the one in force


def test_working_time_clock_sleeps_outside_business_hours() -> None:
    nine_to_five = ((time(1), time(9)),)  # 09:00-17:00 in Shanghai is 01:00-09:00 UTC
    calendar = Calendar("UTC", (nine_to_five,) * 5 + ((), ()))
    friday_8am = datetime(2026, 11, 20, 8, tzinfo=UTC).timestamp()
    clock = new_clock(calendar=calendar, at=friday_8am)
    # 1 h on Friday (08:00-09:00) and 1 h on Monday (01:00-02:00 UTC)
    assert clock.deadline_at == datetime(2026, 11, 23, 2, tzinfo=UTC).timestamp()
    assert domain.fire(clock, calendar, friday_8am + 86400) == []  # Saturday: not even the warning


def test_the_document_round_trips() -> None:
    clock = new_clock()
    domain.fire(clock, None, T0 + 2 * H)
    doc = clock.to_doc(7)
    assert doc["_id"] == "CF-20261124000001|callback|station"
    assert doc["_v"] == 7
    assert "due_at" not in doc  # no timer: absent from the due-time index
    assert Clock.from_doc(doc) == clock


actions = st.lists(
    st.tuples(st.sampled_from(["fire", "pause", "resume", "stop"]), st.floats(min_value=0, max_value=10 * H)),
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(steps=actions)
def test_whatever_happens_each_signal_is_decided_at_most_once(steps: list[tuple[str, float]]) -> None:
    clock = new_clock()
    seen: list[Signal] = []
    now = T0
    for action, delta in steps:
        now += delta
        if action == "fire":
            seen += signals(domain.fire(clock, None, now))
        elif action == "pause":
            domain.pause(clock, None, now)
        elif action == "resume":
            domain.resume(clock, None, now)
        else:
            seen += signals(domain.stop(clock, None, now, Outcome.MET, can_meet=True))
    assert len(seen) == len(set(seen))
    assert not (Signal.MET in seen and Signal.BREACHED in seen)
    if clock.due_at is not None:
        assert clock.state == State.RUNNING
        assert not clock.breached
