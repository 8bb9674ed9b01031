"""The outcomes a replay is judged on, and the comparison of two sets of them.

An outcome is what the issue names: every breach and warning (case, metric, level, deadline), every QA charge
and reversal, every escalation, every claim decision, payout and chargeback with its amount. Two runs agree
when they have the same outcomes, as a multiset per case; the first outcome (in time) found in one run and not
in the other is where the case diverged.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from caseflow_contracts import Event


def _money(m: Any) -> str:
    return f"{m.amount_minor} {m.currency}"


def _clock(p: Any) -> tuple[str, ...]:
    return (f"metric={p.metric}", f"level={p.level}", f"deadline={p.deadline_at.isoformat()}")


def _qa(p: Any) -> tuple[str, ...]:
    return (f"station={p.station}", f"duty={p.duty}", f"points={p.points}", f"metric={p.metric}")


#: Event type -> the fields that make its outcome (beside the case).
FIELDS: dict[str, Callable[[Any], tuple[str, ...]]] = {
    "sla.warning": _clock,
    "sla.breached": _clock,
    "sla.breach_withdrawn": _clock,
    "qa.points_charged": _qa,
    "qa.points_reversed": _qa,
    "case.escalated": lambda p: (f"holder={p.holder}", f"level={p.level}"),
    "claim.decided": lambda p: (f"decision={p.decision}", f"amount={_money(p.amount)}"),
    "payout.issued": lambda p: (f"amount={_money(p.amount)}",),
    "chargeback.issued": lambda p: (f"station={p.station}", f"total={_money(p.total)}"),
    "chargeback.reversed": lambda p: (f"station={p.station}", f"total={_money(p.total)}"),
}


@dataclass(frozen=True, order=True)
class Outcome:
    case_id: str
    type: str
    fields: tuple[str, ...]

    def text(self) -> str:
        return f"{self.type} {' '.join(self.fields)}"


def outcome_of(event: Event) -> Outcome | None:
    fields = FIELDS.get(event.type)
    if fields is None:
        return None
    p: Any = event.payload
    return Outcome(p.case_id, event.type, fields(p))


@dataclass(frozen=True)
class Difference:
    """A case whose outcomes differ: the first one (in time) that only one side has."""

    case_id: str
    at: float
    side: str  # "recorded" or "replayed": the side that has it
    outcome: Outcome
    count: int  # outcomes of the case found on one side only

    def text(self) -> str:
        other = "replay" if self.side == "recorded" else "recording"
        return f"{self.case_id}: {self.outcome.text()} (not in the {other}; {self.count} difference(s) in the case)"


def timed(events: Iterable[tuple[float, Event]]) -> list[tuple[float, Outcome]]:
    return [(at, o) for at, e in events if (o := outcome_of(e)) is not None]


#: sla's timer decisions: live, a timer loop makes them, some time after they are due; the replay when due.
TIMER_DECISIONS = frozenset({"sla.warning", "sla.breached"})


def _earliest(items: Iterable[tuple[float, Outcome]]) -> dict[Outcome, float]:
    found: dict[Outcome, float] = {}
    for at, o in items:
        if o.type in TIMER_DECISIONS and at < found.get(o, math.inf):
            found[o] = at
    return found


def timer_lag(recorded: list[tuple[float, Outcome]], replayed: list[tuple[float, Outcome]]) -> float:
    """How long after the replay the live timer made a decision, at most, over the timer decisions both have."""
    live, replay = _earliest(recorded), _earliest(replayed)
    return max((live[o] - replay[o] for o in live.keys() & replay.keys()), default=0.0)


def beyond_the_end(
    recorded: list[tuple[float, Outcome]], replayed: list[tuple[float, Outcome]], end: float
) -> tuple[list[tuple[float, Outcome]], list[tuple[float, Outcome]]]:
    """The replayed outcomes the recording can be held to, and those it cannot: only in the replay, and decided
    within the live timer's lag (`timer_lag`) of the recording's `end`. Live, the timer had not got to them yet
    when the recording ended (a period read while the suite runs); what they caused comes no earlier."""
    cutoff = end - max(0.0, timer_lag(recorded, replayed))
    extra = Counter(o for _, o in replayed) - Counter(o for _, o in recorded)
    kept: list[tuple[float, Outcome]] = []
    beyond: list[tuple[float, Outcome]] = []
    for at, o in sorted(replayed, key=lambda item: item[0], reverse=True):  # the last ones are the unsettled
        if extra[o] > 0 and at > cutoff:
            extra[o] -= 1
            beyond.append((at, o))
        else:
            kept.append((at, o))
    return kept[::-1], beyond[::-1]


def compare(recorded: list[tuple[float, Outcome]], replayed: list[tuple[float, Outcome]]) -> list[Difference]:
    """Per case, the outcomes that one side has and the other has not; the earliest of them first."""
    left, right = Counter(o for _, o in recorded), Counter(o for _, o in replayed)
    only_left, only_right = left - right, right - left
    found: dict[str, list[tuple[float, str, Outcome]]] = defaultdict(list)
    for side, only, timeline in (("recorded", only_left, recorded), ("replayed", only_right, replayed)):
        pending = Counter(only)
        for at, o in sorted(timeline, key=lambda item: item[0]):
            if pending[o] > 0:
                pending[o] -= 1
                found[o.case_id].append((at, side, o))
    differences = []
    for case_id, items in found.items():
        at, side, o = min(items, key=lambda item: item[0])
        differences.append(Difference(case_id, at, side, o, len(items)))
    return sorted(differences, key=lambda d: (d.at, d.case_id))
