"""sla's rules files as data: the SLA policies (targets, calendars, allowed lateness, regions) and the QA
table (points per missed duty). Validated on load; the kit's one reload job swaps them when a changed
file validates. `PolicyBook` and `QaTable` are what the domain's `Rules` and `QaPrices` protocols ask for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, ClassVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from caseflow_contracts.common import CaseKind, Channel, LadderLevel, Priority
from caseflow_contracts.qa import QaDuty
from caseflow_contracts.sla import SlaMetric
from caseflow_kit.calendar import (
    Calendar,
    CalendarBook,
    Calendars,
    CalendarSpec,
    add_counted,
    counted_seconds,
    known_zone,
)

from .domain import WALL, Subject, Target, WorkingTime

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


class Match(Strict):
    """Which clocks a rule applies to; an empty list (or no flag) matches everything."""

    kind: list[CaseKind] = Field(default_factory=list)
    priority: list[Priority] = Field(default_factory=list)
    channel: list[Channel] = Field(default_factory=list)
    level: list[LadderLevel] = Field(default_factory=list)
    complaint: bool | None = Field(default=None, description="The case is a complaint (whatever its kind)")
    customer_contact: bool | None = Field(
        default=None, description="A customer has contacted about the case (false: a system-detected exception)"
    )

    def matches(self, subject: Subject, level: str) -> bool:
        return (
            (not self.kind or subject.kind in self.kind)
            and (not self.priority or subject.priority in self.priority)
            and (not self.channel or subject.channel in self.channel)
            and (not self.level or level in self.level)
            and self.complaint in (None, subject.complaint)
            and self.customer_contact in (None, subject.customer_contact)
        )


class TargetRule(Strict):
    """Targets for the clocks the rule matches; later rules override earlier ones metric by metric."""

    match: Match = Field(default_factory=Match)
    targets: dict[SlaMetric, Duration]


class MetricOptions(Strict):
    working_time: bool = Field(default=False, description="Count only the unit's working hours (its calendar)")
    pauses: bool = Field(default=True, description="Whether the clock pauses while the case waits on the customer")


class Policies(Strict):
    #: Its name on policies.versions (see caseflow_kit.rules).
    RULES_KIND: ClassVar[str] = "sla_policies"

    version: str = Field(min_length=1, max_length=64)
    warning_fraction: float = Field(default=0.8, gt=0, lt=1)
    allowed_lateness: Annotated[int, BeforeValidator(_seconds), Field(ge=0, le=3600)] = Field(
        default=120,
        description="How long a breach is held after its deadline for a stop stamped before it to arrive (at most 1h)",
    )
    allowed_lateness_share: float = Field(
        default=0.05, gt=0, le=0.5, description="The hold never exceeds this share of the clock's target"
    )
    rules: list[TargetRule] = Field(min_length=1)
    metrics: dict[SlaMetric, MetricOptions] = Field(default_factory=dict)
    calendars: dict[str, CalendarSpec] = Field(default_factory=dict)
    station_calendars: dict[str, str] = Field(
        default_factory=dict, description="Station code, or a region's code prefix ending in '*', → calendar name"
    )
    default_calendar: str | None = Field(default=None, description="Calendar of stations not listed; none = 24/7")
    regions: dict[str, str] = Field(
        default_factory=dict, description="Station code, or a code prefix ending in '*', → region (for the KPIs)"
    )

    @model_validator(mode="after")
    def _calendars_exist(self) -> Policies:
        self.calendar_book()
        return self

    def calendar_book(self) -> CalendarBook:
        return CalendarBook(calendars=self.calendars, assignments=self.station_calendars, default=self.default_calendar)


@dataclass(frozen=True)
class CalendarTime:
    """A unit's working hours as the domain counts time (the kit's calendar arithmetic)."""

    calendar: Calendar

    def counted(self, start: float, end: float) -> float:
        return counted_seconds(self.calendar, start, end)

    def add(self, start: float, seconds: float) -> float:
        return add_counted(self.calendar, start, seconds)


class PolicyBook:
    """The policies in force with their calendars built once: the domain's `Rules`."""

    def __init__(self, policies: Policies) -> None:
        self.policies = policies
        self._calendars = Calendars(policies.calendar_book())
        self._times: dict[str, WorkingTime] = {}
        #: Every clock of a case asks for its target again at each of the case's events; the rules' answer
        #: depends only on these policies and a few enums (metric, subject, level), so they are scanned once each.
        self._targets: dict[tuple[str, Subject, str], tuple[Target | None, bool]] = {}

    @property
    def version(self) -> str:
        return self.policies.version

    def options(self, metric: str) -> MetricOptions:
        return self.policies.metrics.get(SlaMetric(metric), MetricOptions())

    def pauses(self, metric: str) -> bool:
        return self.options(metric).pauses

    def calendar_name(self, unit: str | None) -> str | None:
        return self._calendars.book.name_for(unit)

    def working_time(self, calendar: str | None) -> WorkingTime:
        if calendar is None or calendar not in self.policies.calendars:
            return WALL  # none, or a calendar a newer policy file no longer has: wall-clock time
        if calendar not in self._times:
            self._times[calendar] = CalendarTime(self._calendars.named(calendar))  # type: ignore[arg-type]
        return self._times[calendar]

    def target(self, metric: str, subject: Subject, level: str, unit: str | None) -> Target | None:
        question = (metric, subject, level)
        if question not in self._targets:
            self._targets[question] = self._wall_target(metric, subject, level)
        found, working_time = self._targets[question]
        if found is None or not working_time:
            return found
        return Target(found.seconds, found.warning_seconds, found.lateness_seconds, self.calendar_name(unit))

    def _wall_target(self, metric: str, subject: Subject, level: str) -> tuple[Target | None, bool]:
        """The target the rules give (the last matching rule's), before any calendar; and whether the metric
        counts working time (then the unit's calendar applies)."""
        seconds = 0
        for rule in self.policies.rules:
            if metric in rule.targets and rule.match.matches(subject, level):
                seconds = rule.targets[SlaMetric(metric)]
        if seconds <= 0:
            return None, False
        p = self.policies
        lateness = min(p.allowed_lateness, int(seconds * p.allowed_lateness_share))
        target = Target(seconds, max(1, int(seconds * p.warning_fraction)), lateness, None)
        return target, self.options(metric).working_time

    def region(self, unit: str | None) -> str | None:
        """A station's region: its own entry, else the longest matching prefix."""
        regions = self.policies.regions
        if unit is None:
            return None
        if unit in regions:
            return regions[unit]
        prefixes = [p for p in regions if p.endswith("*") and unit.startswith(p[:-1])]
        return regions[max(prefixes, key=len)] if prefixes else None


class QaTable(Strict):
    """The QA table (seed 000, "未执行处罚"): points per missed duty, and which breaches miss which duty."""

    #: Its name on policies.versions (see caseflow_kit.rules).
    RULES_KIND: ClassVar[str] = "qa_table"

    version: str = Field(min_length=1, max_length=64)
    time_zone: str = Field(default="Asia/Shanghai", description="Periods (YYYY-MM) are months in this zone")
    points: dict[QaDuty, Annotated[int, Field(ge=0, le=1000)]]
    breaches: dict[SlaMetric, QaDuty] = Field(description="A breach of this clock misses this duty")

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return known_zone(value)

    def breach_duty(self, metric: str) -> str | None:
        duty = self.breaches.get(SlaMetric(metric))
        return None if duty is None else duty.value

    def price(self, duty: str) -> int:
        return self.points.get(QaDuty(duty), 0)

    def period(self, at: float) -> str:
        return datetime.fromtimestamp(at, UTC).astimezone(ZoneInfo(self.time_zone)).strftime("%Y-%m")
