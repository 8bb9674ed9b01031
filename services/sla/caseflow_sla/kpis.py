"""KPIs over a time window from the clocks (pure): callback rate, 48-hour resolution rate, open breaches, times."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from .domain import Clock, Outcome, State


def _p90(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def _rate(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def kpis(clocks: Iterable[Clock], resolution_target_s: int = 48 * 3600) -> dict[str, Any]:
    """KPIs of the given clocks (already filtered to a window and station).

    - callback_within_target_rate: decided callback clocks (stopped, or breached) that met the target.
    - resolution_within_48h_rate: resolution clocks resolved within 48 h wall-clock of their start, over
      those resolved, unresolved or past 48 h; hand-overs to another level are not counted.
    - open_breaches: breached clocks still running or paused.
    - mean / p90 time to callback: counted seconds from hand-over to the logged callback.
    """
    callbacks_decided = callbacks_met = 0
    times: list[float] = []
    resolutions_decided = resolved_48h = 0
    open_breaches = 0
    for c in clocks:
        if c.breached and c.state in (State.RUNNING, State.PAUSED):
            open_breaches += 1
        if c.metric == "callback" and c.state != State.STOP_FIRST:
            if c.state == State.STOPPED and c.outcome in (Outcome.MET, Outcome.LATE):
                callbacks_decided += 1
                callbacks_met += c.outcome == Outcome.MET
                times.append(float(c.elapsed_at_stop or 0))
            elif c.breached:
                callbacks_decided += 1
        elif c.metric == "resolution" and c.state != State.STOP_FIRST:
            if c.state == State.STOPPED and c.outcome in (Outcome.MET, Outcome.LATE, Outcome.UNRESOLVED):
                resolutions_decided += 1
                wall = (c.stopped_at or c.started_at) - c.started_at
                resolved_48h += c.outcome != Outcome.UNRESOLVED and wall <= resolution_target_s
            elif c.state != State.STOPPED and c.breached:
                resolutions_decided += 1
    return {
        "callback_within_target_rate": _rate(callbacks_met, callbacks_decided),
        "callbacks_decided": callbacks_decided,
        "resolution_within_48h_rate": _rate(resolved_48h, resolutions_decided),
        "resolutions_decided": resolutions_decided,
        "open_breaches": open_breaches,
        "mean_time_to_callback_s": round(sum(times) / len(times), 1) if times else None,
        "p90_time_to_callback_s": _p90(times),
    }
