"""The QA scorecard (seed 000, "未执行处罚"): which missed duty costs a station how many points, and when
they are given back. Pure: the prices come from sla's QA table through the `QaPrices` protocol."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

from caseflow_contracts import deterministic_id

from .clock import Clock, Decision, QaMark, Signal


class QaPrices(Protocol):
    @property
    def version(self) -> str: ...

    def breach_duty(self, metric: str) -> str | None:
        """The duty a breach of this metric misses (none: the metric costs no points)."""

    def price(self, duty: str) -> int:
        """The table's points for a duty (0: not charged)."""

    def period(self, at: float) -> str:
        """The scorecard period (YYYY-MM in the table's time zone) of an instant."""


@dataclass(frozen=True)
class QaEntry:
    """Points a station lost, with the cause: a line of the scorecard (reversed when disproved)."""

    case_id: str
    station: str
    duty: str
    points: int
    period: str
    cause_event_id: str
    at: float
    reason: str
    table_version: str
    kind: str | None = None
    metric: str | None = None
    reversed_at: float | None = None

    @cached_property
    def entry_id(self) -> str:
        """The id of the entry and of its qa.points_charged event: one charge per cause and duty."""
        return deterministic_id("qa", self.case_id, self.cause_event_id, self.duty)

    @cached_property
    def reversal_id(self) -> str:
        return deterministic_id("qa-reversed", self.entry_id)


def charge_breach(clock: Clock, decision: Decision, prices: QaPrices) -> QaEntry | None:
    """The points a published breach costs the clock's station; remembered on the clock."""
    duty = prices.breach_duty(clock.metric)
    points = prices.price(duty) if duty else 0
    if duty is None or points <= 0 or clock.station is None or clock.qa is not None:
        return None
    at = decision.deadline_at
    clock.qa = QaMark(duty, points, prices.period(at), prices.version, at)
    return _entry(clock, clock.qa)


def reverse_breach(clock: Clock, at: float) -> QaEntry | None:
    """The charge of a withdrawn breach, reversed at `at` (none if the breach cost nothing)."""
    if clock.qa is None or clock.station is None:
        return None
    return _entry(clock, clock.qa, reversed_at=at)


def _entry(clock: Clock, mark: QaMark, reversed_at: float | None = None) -> QaEntry:
    return QaEntry(
        case_id=clock.case_id,
        station=clock.station or "",
        duty=mark.duty,
        points=mark.points,
        period=mark.period,
        cause_event_id=clock.event_id(Signal.BREACHED),
        at=mark.at,
        reason=f"{clock.metric} target missed at {clock.level} ({clock.target_s}s)",
        table_version=mark.table_version,
        kind=clock.kind,
        metric=clock.metric,
        reversed_at=reversed_at,
    )


def charge_duty(
    prices: QaPrices,
    *,
    case_id: str,
    station: str,
    duty: str,
    cause_event_id: str,
    at: float,
    reason: str,
    kind: str | None,
) -> QaEntry | None:
    """A duty missed outside the clocks (a record refused for forbidden words, shirking an HQ overturned)."""
    points = prices.price(duty)
    if points <= 0:
        return None
    period = prices.period(at)
    return QaEntry(case_id, station, duty, points, period, cause_event_id, at, reason, prices.version, kind=kind)
