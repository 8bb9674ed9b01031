"""SLA policies as data: targets per kind / priority / channel / ladder level, calendars, warning fraction.

The YAML file (package data `data/policies.yaml` by default) is validated on
load; `resolve()` is the pure lookup the clocks use.
"""

from __future__ import annotations

import re
from datetime import date, time
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from caseflow_contracts.common import CaseKind, Channel, LadderLevel, Priority
from caseflow_contracts.sla import SlaMetric

from .calendar import Calendar

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_SPAN = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _seconds(value: object) -> object:
    """'2h', '30m', '7d', '90s' or a plain number of seconds; 'off' disables a metric."""
    if isinstance(value, str):
        if value.strip().lower() == "off":
            return 0
        found = _DURATION.match(value)
        if not found:
            raise ValueError(f"not a duration: {value!r} (use e.g. 30m, 2h, 7d or off)")
        return int(float(found.group(1)) * _UNIT[found.group(2)])
    return value


Duration = Annotated[int, BeforeValidator(_seconds), Field(ge=0, le=366 * 86400)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Reassignment(StrEnum):
    RESTART = "restart"
    CONTINUE = "continue"


class Match(Strict):
    """Which cases a rule applies to; an empty list matches everything."""

    kind: list[CaseKind] = Field(default_factory=list)
    priority: list[Priority] = Field(default_factory=list)
    channel: list[Channel] = Field(default_factory=list)
    level: list[LadderLevel] = Field(default_factory=list)

    def matches(self, kind: CaseKind, priority: Priority, channel: Channel | None, level: LadderLevel) -> bool:
        return (
            (not self.kind or kind in self.kind)
            and (not self.priority or priority in self.priority)
            and (not self.channel or (channel is not None and channel in self.channel))
            and (not self.level or level in self.level)
        )


class TargetRule(Strict):
    """Targets for the cases the rule matches; later rules override earlier ones metric by metric."""

    match: Match = Field(default_factory=Match)
    targets: dict[SlaMetric, Duration]


class MetricOptions(Strict):
    reassignment: Reassignment = Reassignment.CONTINUE
    working_time: bool = Field(default=False, description="Count only the holder's business hours, if it has any")
    pauses: bool = Field(default=True, description="Whether the clock pauses while the case waits on the customer")


class CalendarSpec(Strict):
    time_zone: str = "Asia/Shanghai"
    week: dict[str, list[str]] = Field(description="mon..sun → ['09:00-18:00', ...]")
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
                _parse_span(span)
        if not any(value.values()):
            raise ValueError("a calendar needs working hours on at least one weekday")
        return value

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    def build(self) -> Calendar:
        week = tuple(tuple(_parse_span(s) for s in self.week.get(d, [])) for d in WEEKDAYS)
        return Calendar(self.time_zone, week, frozenset(self.holidays), frozenset(self.working_days))


def _parse_span(span: str) -> tuple[time, time]:
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


class Policies(Strict):
    version: str = Field(min_length=1, max_length=64)
    warning_fraction: float = Field(default=0.8, gt=0, lt=1)
    rules: list[TargetRule] = Field(min_length=1)
    metrics: dict[SlaMetric, MetricOptions] = Field(default_factory=dict)
    calendars: dict[str, CalendarSpec] = Field(default_factory=dict)
    station_calendars: dict[str, str] = Field(
        default_factory=dict, description="Station code, or a code prefix ending in '*', → calendar name"
    )
    default_calendar: str | None = Field(default=None, description="Calendar of holders not listed; none = 24/7")

    @model_validator(mode="after")
    def _calendars_exist(self) -> Policies:
        names = set(self.calendars)
        for station, name in self.station_calendars.items():
            if name not in names:
                raise ValueError(f"station {station} uses unknown calendar {name!r}")
        if self.default_calendar is not None and self.default_calendar not in names:
            raise ValueError(f"unknown default calendar {self.default_calendar!r}")
        return self


class Target:
    """What one clock must meet: resolved from the policies for one case, metric and level."""

    __slots__ = ("business_hours", "calendar", "reassignment", "seconds", "warning_seconds")

    def __init__(
        self, seconds: int, warning_seconds: int, calendar: Calendar | None, reassignment: Reassignment
    ) -> None:
        self.seconds = seconds
        self.warning_seconds = warning_seconds
        self.calendar = calendar
        self.business_hours = calendar is not None
        self.reassignment = reassignment


class PolicyBook:
    """Validated policies with their calendars built once."""

    def __init__(self, policies: Policies) -> None:
        self.policies = policies
        self.version = policies.version
        self._calendars = {name: spec.build() for name, spec in policies.calendars.items()}

    def options(self, metric: SlaMetric) -> MetricOptions:
        return self.policies.metrics.get(metric, MetricOptions())

    def calendar_name(self, holder: str | None) -> str | None:
        if holder is not None:
            if holder in self.policies.station_calendars:
                return self.policies.station_calendars[holder]
            prefixes = [p for p in self.policies.station_calendars if p.endswith("*") and holder.startswith(p[:-1])]
            if prefixes:
                return self.policies.station_calendars[max(prefixes, key=len)]
        return self.policies.default_calendar

    def calendar(self, name: str | None) -> Calendar | None:
        return self._calendars.get(name) if name else None

    def resolve(
        self,
        metric: SlaMetric,
        *,
        kind: CaseKind,
        priority: Priority,
        channel: Channel | None,
        level: LadderLevel,
        holder: str | None,
    ) -> Target | None:
        """The target for this clock, or None when the policies switch the metric off for such cases."""
        seconds = 0
        for rule in self.policies.rules:
            if metric in rule.targets and rule.match.matches(kind, priority, channel, level):
                seconds = rule.targets[metric]
        if seconds <= 0:
            return None
        options = self.options(metric)
        calendar = self.calendar(self.calendar_name(holder)) if options.working_time else None
        warning = max(1, int(seconds * self.policies.warning_fraction))
        return Target(seconds, warning, calendar, options.reassignment)
