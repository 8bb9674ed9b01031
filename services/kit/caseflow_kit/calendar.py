"""The one working-calendar model: when a unit works, and working-time arithmetic over it.

Pure (the standard library and pydantic): the rules files of every service describe calendars with
`CalendarSpec`, `CalendarBook` says which calendar a station (or a prefix of station codes) keeps,
and the arithmetic is done on epoch seconds (UTC). sla counts a station's working time to its 2-hour
callback with it, routing asks whether a station is open, notify finds when a customer's quiet
hours end. A domain module takes a `Calendar` through a protocol of its own; it need not import this.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: How far ahead a deadline may be searched for (guards against a calendar with no working time).
MAX_DAYS = 3 * 366
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


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

    def is_open(self, instant: float) -> bool:
        day = self.local_day(instant)
        return any(a <= instant < b for d in (day - timedelta(days=1), day) for a, b in self.utc_intervals(d))

    def next_open(self, instant: float) -> float:
        """`instant` if working time, else when working time next begins."""
        return add_counted(self, instant, 0.0) if self.is_open(instant) else _next_start(self, instant)


def _next_start(calendar: Calendar, instant: float) -> float:
    day = calendar.local_day(instant)
    for _ in range(MAX_DAYS):
        for a, _b in calendar.utc_intervals(day):
            if a >= instant:
                return a
        day += timedelta(days=1)
    raise ValueError("the calendar has no working time within three years")


def counted_seconds(calendar: Calendar | None, start: float, end: float) -> float:
    """Counted seconds in [start, end): wall time without a calendar, working time with one."""
    if end <= start:
        return 0.0
    if calendar is None:
        return end - start
    total = 0.0
    day = calendar.local_day(start) - timedelta(days=1)  # a span may start the day before and run past midnight
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


# -- as data ---------------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def known_zone(value: str) -> str:
    """The one time-zone validator of every rules file."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


def parse_span(span: str) -> tuple[time, time]:
    """'09:00-18:00' as local times; '24:00' ends at midnight."""
    found = _SPAN.match(span.strip())
    if not found:
        raise ValueError(f"not a working-hours span: {span!r} (use HH:MM-HH:MM)")
    h1, m1, h2, m2 = (int(g) for g in found.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2 != 0):
        raise ValueError(f"not a valid time in {span!r}")
    start, end = time(h1, m1), time(0) if h2 == 24 else time(h2, m2)
    if end != time(0) and end <= start:
        raise ValueError(f"span ends before it starts: {span!r}")
    return start, end


class CalendarSpec(_Strict):
    """A calendar in a rules file: zone, hours per weekday, public holidays, make-up working days (调休)."""

    time_zone: str = "Asia/Shanghai"
    week: dict[str, list[str]] = Field(description="mon..sun -> ['09:00-18:00', ...]")
    holidays: list[date] = Field(default_factory=list)
    working_days: list[date] = Field(default_factory=list, description="Make-up working days (调休) on weekends")

    @field_validator("week")
    @classmethod
    def _week(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = set(value) - set(WEEKDAYS)
        if unknown:
            raise ValueError(f"unknown weekday(s): {sorted(unknown)}")
        for spans in value.values():
            for span in spans:
                parse_span(span)
        if not any(value.values()):
            raise ValueError("a calendar needs working hours on at least one weekday")
        return value

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return known_zone(value)

    def build(self) -> Calendar:
        week = tuple(tuple(parse_span(s) for s in self.week.get(d, [])) for d in WEEKDAYS)
        return Calendar(self.time_zone, week, frozenset(self.holidays), frozenset(self.working_days))


class CalendarBook(_Strict):
    """Named calendars and who keeps which: a station code, or a code prefix ending in '*', then a default."""

    calendars: dict[str, CalendarSpec] = Field(default_factory=dict)
    assignments: dict[str, str] = Field(
        default_factory=dict, description="Station code, or a prefix ending in '*', -> calendar name"
    )
    default: str | None = Field(default=None, description="Calendar of units not listed; none: around the clock")

    @model_validator(mode="after")
    def _names_exist(self) -> CalendarBook:
        names = set(self.calendars)
        for unit, name in self.assignments.items():
            if name not in names:
                raise ValueError(f"{unit} keeps an unknown calendar {name!r}")
        if self.default is not None and self.default not in names:
            raise ValueError(f"unknown default calendar {self.default!r}")
        return self

    def name_for(self, unit: str | None) -> str | None:
        """The calendar a unit keeps: its own entry, else the longest matching prefix, else the default."""
        if unit is not None:
            if unit in self.assignments:
                return self.assignments[unit]
            prefixes = [p for p in self.assignments if p.endswith("*") and unit.startswith(p[:-1])]
            if prefixes:
                return self.assignments[max(prefixes, key=len)]
        return self.default


class Calendars:
    """A book with its calendars built once (the rules in force)."""

    def __init__(self, book: CalendarBook) -> None:
        self.book = book
        self._built = {name: spec.build() for name, spec in book.calendars.items()}

    def named(self, name: str | None) -> Calendar | None:
        return None if name is None else self._built[name]

    def for_unit(self, unit: str | None) -> Calendar | None:
        return self.named(self.book.name_for(unit))
