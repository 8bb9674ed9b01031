"""KPIs (seed 003 §2.3.2, §9), pure: per station, region and kind, over what a window holds.

Three families, each over its own time:
- the cases stations received in the window (their holder now): resolution rate, repeat-contact rate,
  first-contact resolution, reopen rate, CSAT (share of 4-5 among the customers' own answers), claims paid;
- the clocks started in the window (their station): callback within target (2 hours by default), resolution
  within 48 hours, open breaches, time to callback; a withdrawn breach counts as met, a clock that ended
  because HQ reassigned the case (or whose cause was withdrawn) is not counted;
- what was charged in the window: QA points (net of reversals) and chargebacks (net of reversals).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .case import CaseFacts, Chargeback
from .clock import Clock, Outcome, State
from .qa import QaEntry

NOT_COUNTED = (Outcome.REASSIGNED, Outcome.CANCELLED, Outcome.HANDED_OVER)


#: Whether a record of a (station, kind) belongs to a group.
Test = Callable[[str | None, str | None], bool]


@dataclass
class Window:
    """What one group (a station, a region, a kind, or everything) holds in the window."""

    cases: list[CaseFacts] = field(default_factory=list)
    clocks: list[Clock] = field(default_factory=list)
    qa: list[QaEntry] = field(default_factory=list)
    chargebacks: list[Chargeback] = field(default_factory=list)

    def where(self, test: Test) -> Window:
        return Window(
            [c for c in self.cases if test(c.holder, c.kind)],
            [c for c in self.clocks if test(c.station, c.kind)],
            [e for e in self.qa if test(e.station, e.kind)],
            [b for b in self.chargebacks if test(b.station, b.kind)],
        )


def matching(
    region_of: Callable[[str | None], str | None],
    *,
    station: str | None = None,
    region: str | None = None,
    kind: str | None = None,
) -> Test:
    """Records of this station, region and kind (each: any when not given)."""

    def test(unit: str | None, case_kind: str | None) -> bool:
        return (
            (station is None or unit == station)
            and (region is None or region_of(unit) == region)
            and (kind is None or case_kind == kind)
        )

    return test


def _rate(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def _p90(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def _sums(pairs: Iterable[tuple[int, str]]) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for amount, currency in pairs:
        totals[currency] += amount
    return dict(sorted(totals.items()))


def case_figures(cases: list[CaseFacts]) -> dict[str, Any]:
    resolved = [c for c in cases if c.result == "resolved"]
    finished = [c for c in cases if c.result is not None or c.closed_at is not None or c.reopens]
    answers = [c.satisfaction for c in cases if c.satisfaction is not None]
    return {
        "cases": len(cases),
        "resolution_rate": _rate(len(resolved), len(cases)),
        "repeat_contact_rate": _rate(sum(c.repeat_contacts > 0 for c in cases), len(cases)),
        "first_contact_resolution_rate": _rate(
            sum(c.repeat_contacts == 0 and c.reopens == 0 for c in resolved), len(resolved)
        ),
        "reopen_rate": _rate(sum(c.reopens > 0 for c in finished), len(finished)),
        "csat": _rate(sum(score >= 4 for score in answers), len(answers)),
        "csat_answers": len(answers),
        "claims_paid": _sums(pay for c in cases for pay in c.payouts.values()),
    }


def clock_figures(clocks: list[Clock], resolution_target_s: int = 48 * 3600) -> dict[str, Any]:
    callbacks_decided = callbacks_met = resolutions_decided = resolved_in_time = open_breaches = 0
    times: list[float] = []
    for c in clocks:
        if c.state == State.STOP_FIRST or (c.outcome in NOT_COUNTED and not c.breached):
            continue
        if c.breached and c.live and not c.withdrawn:
            open_breaches += 1
        stopped = c.state == State.STOPPED
        if c.metric == "callback":
            if stopped and c.outcome in (Outcome.MET, Outcome.LATE):
                callbacks_decided += 1
                callbacks_met += c.outcome == Outcome.MET
                times.append(float(c.elapsed_at_stop or 0))
            elif c.breached:
                callbacks_decided += 1
        elif c.metric == "resolution":
            if stopped and c.outcome in (Outcome.MET, Outcome.LATE, Outcome.UNRESOLVED):
                resolutions_decided += 1
                wall = (c.stopped_at or c.started_at) - c.started_at
                resolved_in_time += c.outcome != Outcome.UNRESOLVED and wall <= resolution_target_s
            elif c.breached:
                resolutions_decided += 1
    return {
        "callback_within_target_rate": _rate(callbacks_met, callbacks_decided),
        "callbacks_decided": callbacks_decided,
        "resolution_within_48h_rate": _rate(resolved_in_time, resolutions_decided),
        "resolutions_decided": resolutions_decided,
        "open_breaches": open_breaches,
        "mean_time_to_callback_s": round(sum(times) / len(times), 1) if times else None,
        "p90_time_to_callback_s": _p90(times),
    }


def figures(window: Window) -> dict[str, Any]:
    return {
        **case_figures(window.cases),
        **clock_figures(window.clocks),
        "qa_points": sum(e.points for e in window.qa if e.reversed_at is None),
        "charged_back": _sums((b.amount_minor, b.currency) for b in window.chargebacks),
    }


def report(window: Window, region_of: Callable[[str | None], str | None]) -> dict[str, Any]:
    """Overall, and per station, region and kind."""
    stations = sorted({s for s in _units(window) if s})
    regions = sorted({r for s in stations if (r := region_of(s))})
    kinds = sorted({k for k in _kinds(window) if k})
    return {
        "overall": figures(window),
        "stations": {s: figures(window.where(matching(region_of, station=s))) for s in stations},
        "regions": {r: figures(window.where(matching(region_of, region=r))) for r in regions},
        "kinds": {k: figures(window.where(matching(region_of, kind=k))) for k in kinds},
    }


def _units(window: Window) -> Iterable[str | None]:
    yield from (c.holder for c in window.cases)
    yield from (c.station for c in window.clocks)
    yield from (e.station for e in window.qa)
    yield from (b.station for b in window.chargebacks)


def _kinds(window: Window) -> Iterable[str | None]:
    yield from (c.kind for c in window.cases)
    yield from (c.kind for c in window.clocks)
    yield from (e.kind for e in window.qa)
    yield from (b.kind for b in window.chargebacks)
