"""What one run decided, summed up the way operations reads it: breaches by metric, level and station, QA points
per station, callback and 48-hour resolution rates, escalations by level, payouts and chargebacks by claim kind,
platform and station (in fen, exact), breaches per hour of day; and each case's outcome, to list the changed ones.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from caseflow_contracts import Event

from .outcomes import Outcome, outcome_of


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


class Tally:
    """One run's summary and outcomes, added up as its events come: the events are not kept. What depends on
    facts other events give (a payout's claim kind, platform and station) is settled at the end, on the facts as
    the whole run gave them."""

    def __init__(self) -> None:
        self.summary = Summary()
        #: (when, outcome) of every outcome, to compare runs (see outcomes.compare)
        self.outcomes: list[tuple[float, Outcome]] = []
        self.platform: dict[str, str] = {}  # case -> its platform
        self.holder: dict[str, str] = {}  # case -> who held it at its last escalation
        self.claim_kind: dict[str, str] = {}  # claim -> its kind
        #: (payouts or chargebacks, claim id, case id, fen): settled by `finished`
        self.money: list[tuple[str, str, str, int]] = []

    def add(self, at: float, e: Event) -> None:
        p: Any = e.payload
        kind = e.type
        s = self.summary
        if kind == "case.opened":
            self.platform[p.case_id] = p.platform or "-"
        elif kind == "case.escalated":
            self.holder[p.case_id] = p.holder
            s.escalations[str(p.level)] += 1
        elif kind == "claim.opened":
            self.claim_kind[p.claim_id] = str(p.claim_kind)
        elif kind == "sla.breached":
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
        elif kind == "payout.issued":
            self.money.append(("payouts", p.claim_id, p.case_id, p.amount.amount_minor))
        elif kind == "chargeback.issued":
            self.money.append(("chargebacks", p.claim_id, p.case_id, p.total.amount_minor))
        elif kind == "chargeback.reversed":
            self.money.append(("chargebacks", p.claim_id, p.case_id, -p.total.amount_minor))
        if (o := outcome_of(e)) is not None:
            self.outcomes.append((at, o))

    def merge(self, other: Tally) -> None:
        """Add another part's tally (a period split across processes: whole stories each)."""
        for name in ("breaches", "qa_points", "escalations", "met", "missed", "breaches_by_hour"):
            getattr(self.summary, name).update(getattr(other.summary, name))
        self.outcomes += other.outcomes
        self.outcomes.sort(key=lambda item: item[0])  # stable: a case's own outcomes keep their order
        self.platform.update(other.platform)
        self.holder.update(other.holder)
        self.claim_kind.update(other.claim_kind)
        self.money += other.money

    def finished(self) -> Summary:
        s = self.summary
        for which, claim_id, case_id, fen in self.money:
            place = (
                self.claim_kind.get(claim_id, "-"),
                self.platform.get(case_id, "-"),
                self.holder.get(case_id, "-"),
            )
            getattr(s, which)[place] += fen
        self.money = []
        for _, o in self.outcomes:
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
