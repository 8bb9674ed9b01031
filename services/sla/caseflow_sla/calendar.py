"""Working-time arithmetic: how many counted seconds lie between two instants, and when N counted seconds end.

Pure functions over epoch seconds (UTC). A `Calendar` is a station's business
hours: a time zone, working intervals per weekday, holidays and make-up working
days (调休). Without a calendar every second counts (24/7).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

#: How far ahead a deadline may be searched for (guards against a calendar with no working time).
MAX_DAYS = 3 * 366


@dataclass(frozen=True)
class Calendar:
    """Working hours in a time zone. `week[0]` is Monday; each entry lists (start, end) local times."""

    time_zone: str
    week: tuple[tuple[tuple[time, time], ...], ...]
    holidays: frozenset[date] = field(default_factory=frozenset)
    working_days: frozenset[date] = field(default_factory=frozenset)
    working_day_hours: tuple[tuple[time, time], ...] = ()

    def __post_init__(self) -> None:
        if len(self.week) != 7:
            raise ValueError("a calendar week has seven days")

    def intervals_on(self, day: date) -> tuple[tuple[time, time], ...]:
        """Local working intervals of one calendar day."""
        if day in self.holidays:
            return ()
        if day in self.working_days:
            return self.working_day_hours or next((d for d in self.week if d), ())
        return self.week[day.weekday()]

    def utc_intervals(self, day: date) -> list[tuple[float, float]]:
        zone = ZoneInfo(self.time_zone)
        spans = []
        for start, end in self.intervals_on(day):
            a = datetime.combine(day, start, zone).timestamp()
            b = (
                datetime.combine(day + timedelta(days=1), time(0), zone)
                if end == time(0)
                else datetime.combine(day, end, zone)
            ).timestamp()
            if b > a:
                spans.append((a, b))
        return spans

    def local_day(self, instant: float) -> date:
        return datetime.fromtimestamp(instant, ZoneInfo(self.time_zone)).date()


def counted_seconds(calendar: Calendar | None, start: float, end: float) -> float:
    """Counted seconds in [start, end): wall time without a calendar, working time with one."""
    if end <= start:
        return 0.0
    if calendar is None:
        return end - start
    total = 0.0
    day = calendar.local_day(start)
    last = calendar.local_day(end)
    while day <= last:
        for a, b in calendar.utc_intervals(day):
            lo, hi = max(a, start), min(b, end)
            if hi > lo:
                total += hi - lo
        day += timedelta(days=1)
    return total


def add_counted(calendar: Calendar | None, start: float, seconds: float) -> float:
    """The instant when `seconds` counted seconds have passed since `start`."""
    if seconds <= 0:
        return start
    if calendar is None:
        return start + seconds
    remaining = seconds
    day = calendar.local_day(start)
    for _ in range(MAX_DAYS):
        for a, b in calendar.utc_intervals(day):
            lo = max(a, start)
            if b <= lo:
                continue
            if b - lo >= remaining:
                return lo + remaining
            remaining -= b - lo
        day += timedelta(days=1)
    raise ValueError("the calendar has no working time within three years")
