"""The clock state machine, over event time: warnings, breaches held then published, met, withdrawn, pauses."""

from __future__ import annotations

from datetime import UTC, datetime, time

from hypothesis import given, settings
from hypothesis import strategies as st

from caseflow_contracts import deterministic_id
from caseflow_kit.calendar import Calendar
from caseflow_sla.domain import WALL, Clock, Decision, Outcome, Signal, State, WorkingTime
from caseflow_sla.policy import CalendarTime
from caseflow_sla.store import clock_doc, clock_of

T0 = 1_795_000_000.0  # a fixed instant; nothing here reads the real clock
H = 3600


def new_clock(target: int = 2 * H, *, time: WorkingTime = WALL, at: float = T0, lateness: int = 0) -> Clock:
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
        lateness_s=lateness,
    )
    clock.start(time, at)
    return clock


def signals(decisions: list[Decision]) -> list[Signal]:
    return [d.signal for d in decisions]


def test_a_running_clock_warns_at_80_percent_then_breaches_once() -> None:
    clock = new_clock()
    assert clock.due_at == T0 + 0.8 * 2 * H
    assert clock.fire(WALL, T0 + 1000) == []  # an early poll decides nothing
    warning = clock.fire(WALL, T0 + 0.8 * 2 * H)
    assert signals(warning) == [Signal.WARNING]
    assert warning[0].elapsed == int(0.8 * 2 * H)
    assert clock.due_at == T0 + 2 * H
    breach = clock.fire(WALL, T0 + 2 * H + 5)
    assert signals(breach) == [Signal.BREACHED]
    assert breach[0].elapsed == 2 * H + 5
    assert breach[0].deadline_at == T0 + 2 * H
    assert not breach[0].held
    assert clock.due_at is None
    assert clock.fire(WALL, T0 + 3 * H) == []  # never twice


def test_a_breach_is_held_for_the_allowed_lateness_then_published() -> None:
    clock = new_clock(lateness=120)
    clock.fire(WALL, T0 + 0.8 * 2 * H)
    assert clock.due_at == T0 + 2 * H + 120  # the timer looks again when the hold ends
    assert clock.fire(WALL, T0 + 2 * H + 60) == []  # past the deadline, inside the hold
    [breach] = clock.fire(WALL, T0 + 2 * H + 120)
    assert (breach.signal, breach.held, breach.deadline_at) == (Signal.BREACHED, True, T0 + 2 * H)


def test_a_stop_stamped_before_the_deadline_that_arrives_during_the_hold_is_met() -> None:
    clock = new_clock(lateness=120)
    clock.fire(WALL, T0 + 1.7 * H)
    clock.fire(WALL, T0 + 2 * H + 30)  # the timer finds the deadline passed: it holds
    [met] = clock.stop(WALL, T0 + 2 * H - 1, Outcome.MET)
    assert met.signal == Signal.MET
    assert not clock.breached
    assert clock.due_at is None


def test_a_timer_inside_the_hold_sends_no_stale_warning() -> None:
    clock = new_clock(lateness=120)
    assert clock.fire(WALL, T0 + 2 * H + 10) == []
    assert clock.warned
    assert signals(clock.fire(WALL, T0 + 2 * H + 120)) == [Signal.BREACHED]


def test_a_timer_that_fires_late_breaches_without_a_stale_warning() -> None:
    clock = new_clock()
    assert signals(clock.fire(WALL, T0 + 5 * H)) == [Signal.BREACHED]
    assert clock.warned
    assert clock.fire(WALL, T0 + 6 * H) == []


def test_stopping_within_target_is_met_once() -> None:
    clock = new_clock()
    met = clock.stop(WALL, T0 + H, Outcome.MET)
    assert signals(met) == [Signal.MET]
    assert met[0].elapsed == H
    assert clock.state == State.STOPPED
    assert clock.due_at is None
    assert clock.stop(WALL, T0 + H + 1, Outcome.MET) == []


def test_a_stop_past_the_deadline_that_the_timer_missed_is_a_breach() -> None:
    """Event time decides: the callback came after the deadline, so it is a breach even if no timer fired yet."""
    clock = new_clock(lateness=120)
    decisions = clock.stop(WALL, T0 + 3 * H, Outcome.MET)
    assert signals(decisions) == [Signal.BREACHED]
    assert decisions[0].elapsed == 3 * H
    assert clock.outcome == Outcome.LATE


def test_a_stop_after_a_published_breach_is_recorded_late_without_events() -> None:
    clock = new_clock()
    clock.fire(WALL, T0 + 2 * H)
    assert clock.stop(WALL, T0 + 3 * H, Outcome.MET) == []
    assert clock.outcome == Outcome.LATE
    assert clock.elapsed_at_stop == 3 * H
    assert not clock.withdrawn


def test_a_stop_stamped_before_the_deadline_after_the_breach_went_out_withdraws_it() -> None:
    clock = new_clock(lateness=120)
    clock.fire(WALL, T0 + 2 * H + 120)
    assert clock.breached
    [withdrawn] = clock.stop(WALL, T0 + 2 * H - 60, Outcome.MET)
    assert withdrawn.signal == Signal.WITHDRAWN
    assert withdrawn.stopped_at == T0 + 2 * H - 60
    assert withdrawn.deadline_at == T0 + 2 * H
    assert (clock.outcome, clock.met, clock.withdrawn) == (Outcome.MET, True, True)
    assert clock.stop(WALL, T0 + 2 * H, Outcome.MET) == []  # once


def test_a_clock_ended_for_another_reason_before_the_deadline_withdraws_its_breach_without_met() -> None:
    clock = new_clock()
    clock.fire(WALL, T0 + 2 * H)
    assert signals(clock.stop(WALL, T0 + H, Outcome.REASSIGNED, can_meet=False)) == [Signal.WITHDRAWN]
    assert (clock.outcome, clock.met) == (Outcome.REASSIGNED, False)


def test_a_stop_that_cannot_meet_decides_nothing_within_the_target() -> None:
    clock = new_clock()
    assert clock.stop(WALL, T0 + H, Outcome.CLOSED, can_meet=False) == []
    assert clock.outcome == Outcome.CLOSED
    assert not clock.met


def test_a_cancelled_clock_decides_nothing_and_never_fires() -> None:
    clock = new_clock()
    assert clock.cancel(T0 + 10 * H)
    assert (clock.state, clock.outcome, clock.due_at) == (State.STOPPED, Outcome.CANCELLED, None)
    assert clock.fire(WALL, T0 + 20 * H) == []
    assert not clock.cancel(T0 + 21 * H)


def test_pause_and_resume_move_the_deadline_by_the_paused_time() -> None:
    clock = new_clock()
    assert clock.pause(WALL, T0 + H)
    assert clock.due_at is None
    assert not clock.pause(WALL, T0 + H + 10)  # already paused
    assert clock.fire(WALL, T0 + 10 * H) == []  # paused clocks never fire
    assert clock.resume(WALL, T0 + 5 * H)
    assert clock.deadline_at == T0 + 6 * H
    assert clock.warn_at == T0 + 5 * H + 0.6 * H
    assert not clock.resume(WALL, T0 + 5 * H + 1)
    assert signals(clock.stop(WALL, T0 + 5.5 * H, Outcome.MET)) == [Signal.MET]
    assert clock.elapsed_at_stop == 1.5 * H


def test_event_times_never_run_backwards_on_a_clock() -> None:
    clock = new_clock()
    clock.pause(WALL, T0 + H)
    clock.resume(WALL, T0 + 30)  # an older time than the pause: counts as the pause time
    assert clock.running_since == T0 + H
    decisions = clock.stop(WALL, T0 + 10, Outcome.MET)  # older than the resume
    assert decisions[0].elapsed == H


def test_a_stop_that_arrives_before_its_start_is_decided_when_the_start_comes() -> None:
    clock = new_clock()
    clock.stop_first(T0 + 3 * H, Outcome.MET)
    assert clock.state == State.STOP_FIRST
    assert clock.due_at is None
    assert signals(clock.start_after_stop(WALL, T0)) == [Signal.BREACHED]
    other = new_clock()
    other.stop_first(T0 + H, Outcome.MET)
    assert signals(other.start_after_stop(WALL, T0)) == [Signal.MET]
    stale = new_clock()
    stale.stop_first(T0 - H, Outcome.MET)  # a stop from before this start: belongs to an earlier episode
    assert stale.start_after_stop(WALL, T0) == []
    assert stale.state == State.RUNNING
    assert stale.due_at == T0 + 0.8 * 2 * H


def test_a_restart_measures_afresh_but_keeps_the_once_only_flags() -> None:
    clock = new_clock()
    clock.fire(WALL, T0 + 2 * H)
    assert clock.restart(WALL, T0 + 3 * H)
    assert clock.state == State.RUNNING
    assert clock.started_at == T0 + 3 * H
    assert clock.due_at is None  # already breached: no second breach
    assert not clock.restart(WALL, T0)  # an older start than the one in force
    assert not clock.restart(WALL, T0 + 3 * H)  # the same start again


def test_working_time_clock_sleeps_outside_business_hours() -> None:
    nine_to_five = ((time(1), time(9)),)  # 09:00-17:00 in Shanghai is 01:00-09:00 UTC
    hours = CalendarTime(Calendar("UTC", (nine_to_five,) * 5 + ((), ())))
    friday_8am = datetime(2026, 11, 20, 8, tzinfo=UTC).timestamp()
    clock = new_clock(time=hours, at=friday_8am)
    # 1 h on Friday (08:00-09:00) and 1 h on Monday (01:00-02:00 UTC)
    assert clock.deadline_at == datetime(2026, 11, 23, 2, tzinfo=UTC).timestamp()
    assert clock.fire(hours, friday_8am + 86400) == []  # Saturday: not even the warning


def test_episodes_give_new_ids_and_episode_zero_keeps_the_old_ones() -> None:
    first, later = new_clock(), new_clock()
    later.episode = 2
    assert first.id == "CF-20261124000001|callback|station"
    assert later.id == "CF-20261124000001|callback|station|2"
    assert first.event_id(Signal.BREACHED) == deterministic_id("CF-20261124000001", "callback", "station", "breached")
    assert later.event_id(Signal.BREACHED) != first.event_id(Signal.BREACHED)


def test_the_document_round_trips() -> None:
    clock = new_clock()
    clock.fire(WALL, T0 + 2 * H)
    doc = clock_doc(clock, slot=3, version=7)
    assert doc["_id"] == "CF-20261124000001|callback|station"
    assert doc["_v"] == 7
    assert "timer" not in doc  # no timer: absent from the due-time index
    assert clock_of(doc) == clock
    running = new_clock()
    assert clock_doc(running, slot=3)["timer"] == f"0003|{T0 + 0.8 * 2 * H:020.6f}"


actions = st.lists(
    st.tuples(
        st.sampled_from(["fire", "pause", "resume", "stop", "late_stop"]), st.floats(min_value=0, max_value=10 * H)
    ),
    max_size=12,
)


@settings(max_examples=300)
@given(steps=actions, lateness=st.sampled_from([0, 120]))
def test_whatever_happens_each_signal_is_decided_at_most_once(steps: list[tuple[str, float]], lateness: int) -> None:
    clock = new_clock(lateness=lateness)
    seen: list[Signal] = []
    now = T0
    for action, delta in steps:
        now += delta
        if action == "fire":
            seen += signals(clock.fire(WALL, now))
        elif action == "pause":
            clock.pause(WALL, now)
        elif action == "resume":
            clock.resume(WALL, now)
        else:  # a stop stamped now, or one stamped earlier that arrives only now
            seen += signals(clock.stop(WALL, now - (delta if action == "late_stop" else 0), Outcome.MET))
    assert len(seen) == len(set(seen))
    assert not (Signal.MET in seen and Signal.BREACHED in seen)
    assert Signal.WITHDRAWN not in seen or Signal.BREACHED in seen  # only a published breach is withdrawn
    if clock.due_at is not None:
        assert clock.state == State.RUNNING
        assert not clock.breached
