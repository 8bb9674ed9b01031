"""What one run decided, summed up the way operations reads it: breaches by metric, level and station, QA points
per station, callback and 48-hour resolution rates, escalations by level, payouts and chargebacks by claim kind,
platform and station (in fen, exact), breaches per hour of day; and each case's outcome, to list the changed ones.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from caseflow_contracts import Event

from .outcomes import outcome_of


@dataclass
class Summary:
    breaches: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # metric, level, station
    qa_points: Counter[str] = field(default_factory=Counter)  # station -> points charged net of reversals
    escalations: Counter[str] = field(default_factory=Counter)  # level
    met: Counter[str] = field(default_factory=Counter)  # metric -> clocks met
    missed: Counter[str] = field(default_factory=Counter)  # metric -> clocks breached (and not withdrawn)
    payouts: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # kind, platform, station -> fen
    chargebacks: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # kind, platform, station -> fen
    breaches_by_hour: Counter[int] = field(default_factory=Counter)  # hour of day (UTC) of the deadline
    outcomes: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # case -> its outcomes

    def rate(self, metric: str) -> float | None:
        """The share of the metric's clocks met (None: no clock of it was decided)."""
        decided = self.met[metric] + self.missed[metric]
        return self.met[metric] / decided if decided else None

    def to_json(self) -> dict[str, Any]:
        return {
            "breaches": [
                {"metric": m, "level": lv, "station": s, "count": n} for (m, lv, s), n in sorted(self.breaches.items())
            ],
            "breaches_total": sum(self.breaches.values()),
            "qa_points": dict(sorted(self.qa_points.items())),
            "qa_points_total": sum(self.qa_points.values()),
            "callback_rate": self.rate("callback"),
            "resolution_48h_rate": self.rate("resolution"),
            "escalations": dict(sorted(self.escalations.items())),
            "payouts_fen": [
                {"claim_kind": k, "platform": p, "station": s, "fen": n}
                for (k, p, s), n in sorted(self.payouts.items())
            ],
            "chargebacks_fen": [
                {"claim_kind": k, "platform": p, "station": s, "fen": n}
                for (k, p, s), n in sorted(self.chargebacks.items())
            ],
            "breaches_by_hour": {str(h): self.breaches_by_hour[h] for h in range(24)},
        }


class _Context:
    """Facts other events give about a case or claim: its platform, its station, a claim's kind."""

    def __init__(self, events: Iterable[Event]) -> None:
        self.platform: dict[str, str] = {}
        self.holder: dict[str, str] = {}
        self.claim_kind: dict[str, str] = {}
        for e in events:
            p: Any = e.payload
            if e.type == "case.opened":
                self.platform[p.case_id] = p.platform or "-"
            elif e.type == "case.escalated":
                self.holder[p.case_id] = p.holder
            elif e.type == "claim.opened":
                self.claim_kind[p.claim_id] = str(p.claim_kind)

    def of_claim(self, p: Any) -> tuple[str, str, str]:
        return (
            self.claim_kind.get(p.claim_id, "-"),
            self.platform.get(p.case_id, "-"),
            self.holder.get(p.case_id, "-"),
        )


def summarise(events: Iterable[Event]) -> Summary:
    """Sum up one run's events (recorded or replayed, the same way)."""
    ordered = list(events)
    facts, s = _Context(ordered), Summary()
    for e in ordered:
        p: Any = e.payload
        kind = e.type
        if kind == "sla.breached":
            s.breaches[(str(p.metric), str(p.level), p.station or "-")] += 1
            s.missed[str(p.metric)] += 1
            s.breaches_by_hour[p.deadline_at.astimezone(UTC).hour] += 1
        elif kind == "sla.breach_withdrawn":
            s.breaches[(str(p.metric), str(p.level), p.station or "-")] -= 1
            s.missed[str(p.metric)] -= 1
            s.met[str(p.metric)] += 1
            s.breaches_by_hour[p.deadline_at.astimezone(UTC).hour] -= 1
        elif kind == "sla.met":
            s.met[str(p.metric)] += 1
        elif kind == "qa.points_charged":
            s.qa_points[p.station] += p.points
        elif kind == "qa.points_reversed":
            s.qa_points[p.station] -= p.points
        elif kind == "case.escalated":
            s.escalations[str(p.level)] += 1
        elif kind == "payout.issued":
            s.payouts[facts.of_claim(p)] += p.amount.amount_minor
        elif kind == "chargeback.issued":
            s.chargebacks[facts.of_claim(p)] += p.total.amount_minor
        elif kind == "chargeback.reversed":
            s.chargebacks[facts.of_claim(p)] -= p.total.amount_minor
        if (o := outcome_of(e)) is not None:
            s.outcomes[o.case_id].append(o.text())
    for counter in (s.breaches, s.breaches_by_hour, s.qa_points, s.chargebacks):
        for key in [k for k, n in counter.items() if n == 0]:
            del counter[key]
    return s


def changed_cases(before: Summary, after: Summary) -> list[dict[str, Any]]:
    """Cases whose outcomes differ, each with its outcomes before and after (sorted: order is not compared)."""
    changed = []
    for case_id in sorted(set(before.outcomes) | set(after.outcomes)):
        was, now = sorted(before.outcomes.get(case_id, [])), sorted(after.outcomes.get(case_id, []))
        if was != now:
            changed.append({"case_id": case_id, "before": was, "after": now})
    return changed
