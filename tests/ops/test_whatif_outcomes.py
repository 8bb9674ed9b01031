"""Judging a replay against a recording read while the suite runs: the live timer decides some time after a
clock is due, so at the recording's end it may not yet have made a decision the replay makes when due."""

from __future__ import annotations

from caseflow_ops.whatif import outcomes
from caseflow_ops.whatif.outcomes import Outcome


def warning(case_id: str, deadline: str) -> Outcome:
    return Outcome(case_id, "sla.warning", ("metric=callback", "level=station", f"deadline={deadline}"))


EARLIER, LAST = warning("CF-1", "d1"), warning("CF-2", "d2")
CHARGE = Outcome("CF-3", "qa.points_charged", ("station=S", "duty=callback", "points=50", "metric=callback"))


def test_the_live_timers_lag_is_measured_on_the_timer_decisions_both_runs_made() -> None:
    recorded = [(100.3, EARLIER), (101.0, CHARGE)]
    replayed = [(100.0, EARLIER), (100.0, CHARGE)]  # a QA charge is no timer decision: its lag does not count
    assert round(outcomes.timer_lag(recorded, replayed), 6) == 0.3
    assert outcomes.timer_lag([], replayed) == 0.0


def test_a_decision_due_within_the_timers_lag_of_the_end_is_set_apart_not_a_difference() -> None:
    recorded = [(100.3, EARLIER)]  # the live timer decided 0.3 s after the clock was due
    replayed = [(100.0, EARLIER), (105.9, LAST)]  # due at 105.9; the recording ends at 106.0, live had not got there
    kept, beyond = outcomes.beyond_the_end(recorded, replayed, end=106.0)
    assert beyond == [(105.9, LAST)]
    assert outcomes.compare(recorded, kept) == []


def test_earlier_than_the_lag_before_the_end_it_is_a_difference() -> None:
    recorded = [(100.3, EARLIER)]
    replayed = [(100.0, EARLIER), (105.5, LAST)]  # 0.5 s before the end: the live timer would have decided it
    kept, beyond = outcomes.beyond_the_end(recorded, replayed, end=106.0)
    assert beyond == []
    [difference] = outcomes.compare(recorded, kept)
    assert (difference.case_id, difference.side) == ("CF-2", "replayed")


def test_only_what_the_replay_alone_has_is_set_apart() -> None:
    """A decision the recording has and the replay does not stays a difference, at the end too; a decision both
    have is kept however late."""
    recorded = [(100.3, EARLIER), (106.0, LAST)]
    replayed = [(100.0, EARLIER), (105.9, CHARGE)]
    kept, beyond = outcomes.beyond_the_end(recorded, replayed, end=106.0)
    assert beyond == [(105.9, CHARGE)]
    assert [(d.case_id, d.side) for d in outcomes.compare(recorded, kept)] == [("CF-2", "recorded")]
    both = [(100.0, EARLIER), (106.0, LAST)]
    assert outcomes.beyond_the_end(recorded, both, end=106.0) == (both, [])
