"""Working-time arithmetic: table-driven cases and properties (no real waiting anywhere)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caseflow_kit.calendar import Calendar, add_counted, counted_seconds

DAY = ((time(9), time(12)), (time(13), time(18)))  # 8 working hours
OFFICE = Calendar(
    "Asia/Shanghai",
    (DAY, DAY, DAY, DAY, DAY, (), ()),
    holidays=frozenset({date(2026, 10, 1)}),
    working_days=frozenset({date(2026, 10, 10)}),
)


def sh(text: str) -> float:
    """A Shanghai local time (UTC+8) as epoch seconds."""
    naive = datetime.fromisoformat(text)
    return naive.replace(tzinfo=UTC).timestamp() - 8 * 3600


@pytest.mark.parametrize(
    ("start", "end", "hours"),
    [
        ("2026-11-23 10:00", "2026-11-23 11:00", 1),  # Monday morning
        ("2026-11-23 11:00", "2026-11-23 14:00", 2),  # over lunch
        ("2026-11-23 07:00", "2026-11-23 09:30", 0.5),  # before opening
        ("2026-11-23 17:00", "2026-11-24 10:00", 2),  # overnight
        ("2026-11-27 17:00", "2026-11-30 10:00", 2),  # over the weekend
        ("2026-09-30 17:00", "2026-10-02 10:00", 2),  # over a holiday (Thu 1 Oct)
        ("2026-10-10 09:00", "2026-10-10 18:00", 8),  # a make-up Saturday works
        ("2026-11-28 09:00", "2026-11-28 18:00", 0),  # an ordinary Saturday does not
        ("2026-11-23 12:00", "2026-11-23 11:00", 0),  # backwards: nothing
    ],
)
def test_counted_seconds_in_working_time(start: str, end: str, hours: float) -> None:
    assert counted_seconds(OFFICE, sh(start), sh(end)) == hours * 3600


@pytest.mark.parametrize(
    ("start", "hours", "deadline"),
    [
        ("2026-11-23 10:30", 2, "2026-11-23 13:30"),  # lunch does not count
        ("2026-11-23 10:00", 2, "2026-11-23 12:00"),  # ends exactly at lunch
        ("2026-11-23 17:00", 2, "2026-11-24 10:00"),  # overnight
        ("2026-11-27 17:30", 2, "2026-11-30 10:30"),  # Friday evening → Monday
        ("2026-11-28 03:00", 1, "2026-11-30 10:00"),  # received on a Saturday night
        ("2026-09-30 17:00", 2, "2026-10-02 10:00"),  # holiday skipped
        ("2026-11-23 09:00", 0, "2026-11-23 09:00"),
    ],
)
def test_add_counted_finds_the_working_deadline(start: str, hours: float, deadline: str) -> None:
    assert add_counted(OFFICE, sh(start), hours * 3600) == sh(deadline)


def test_without_a_calendar_every_second_counts() -> None:
    assert counted_seconds(None, 100.0, 7300.0) == 7200.0
    assert add_counted(None, 100.0, 7200) == 7300.0


def test_a_calendar_without_working_time_cannot_reach_a_deadline() -> None:
    closed = Calendar("UTC", (((time(9), time(10)),), (), (), (), (), (), ()), holidays=frozenset())
    every_monday = frozenset(date.fromordinal(d) for d in range(739000, 742000) if date.fromordinal(d).weekday() == 0)
    never = Calendar("UTC", closed.week, holidays=every_monday)
    with pytest.raises(ValueError, match="no working time"):
        add_counted(never, sh("2026-11-23 10:00"), 60)


def test_midnight_end_means_the_end_of_the_day() -> None:
    late = ((time(20), time(0)),)
    calendar = Calendar("UTC", (late,) * 7)
    start = datetime(2026, 11, 23, 23, 0, tzinfo=UTC).timestamp()
    assert add_counted(calendar, start, 2 * 3600) == datetime(2026, 11, 24, 21, 0, tzinfo=UTC).timestamp()


instants = st.floats(min_value=sh("2026-01-01 00:00"), max_value=sh("2027-12-31 00:00"), allow_nan=False)


@settings(max_examples=100)
@given(start=instants, seconds=st.integers(min_value=0, max_value=30 * 86400))
def test_add_counted_is_the_inverse_of_counted_seconds(start: float, seconds: int) -> None:
    deadline = add_counted(OFFICE, start, seconds)
    assert deadline >= start
    assert counted_seconds(OFFICE, start, deadline) == pytest.approx(seconds, abs=1e-3)


@settings(max_examples=100)
@given(a=instants, b=instants, c=instants)
def test_counted_seconds_adds_up_over_consecutive_spans(a: float, b: float, c: float) -> None:
    x, y, z = sorted((a, b, c))
    total = counted_seconds(OFFICE, x, z)
    assert total == pytest.approx(counted_seconds(OFFICE, x, y) + counted_seconds(OFFICE, y, z), abs=1e-3)
    assert total <= z - x
