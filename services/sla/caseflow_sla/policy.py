"""SLA policies as data: targets per kind / priority / channel / ladder level, calendars, warning fraction.

The YAML file (package data `data/policies.yaml` by default) is validated on
load; `resolve()` is the pure lookup the clocks use.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from caseflow_contracts.common import CaseKind, Channel, LadderLevel, Priority
from caseflow_contracts.sla import SlaMetric
from caseflow_kit.calendar import Calendar, CalendarSpec

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


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
