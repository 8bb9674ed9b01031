"""sla's own metrics, beside the kit's: breaches held and withdrawn, QA points."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter

from .domain import Emitted, QaEntry, Signal


class SlaMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.holds = Counter(
            "caseflow_sla_breach_holds_total",
            "Breaches held for the allowed lateness after their deadline, by metric and how the hold ended:"
            " published (nothing stopped the clock in time) or cleared (a stop stamped before the deadline"
            " reached sla during the hold)",
            ["metric", "outcome"],
            registry=registry,
        )
        self.withdrawn = Counter(
            "caseflow_sla_breaches_withdrawn_total",
            "Breaches withdrawn after they were published (sla.breach_withdrawn): what stopped the clock happened"
            " before the deadline and reached sla after the breach, by metric",
            ["metric"],
            registry=registry,
        )
        self.qa_points = Counter(
            "caseflow_sla_qa_points_total",
            "QA scorecard points charged to stations and reversed, by duty",
            ["duty", "direction"],
            registry=registry,
        )

    def count(self, signals: Sequence[Emitted], entries: Sequence[QaEntry], now: float) -> None:
        """What a decision published. A decision re-run after a write clash with another replica counts again."""
        for emitted in signals:
            clock, decision = emitted.clock, emitted.decision
            if decision.signal == Signal.WITHDRAWN:
                self.withdrawn.labels(clock.metric).inc()
            elif decision.signal == Signal.BREACHED and decision.held:
                self.holds.labels(clock.metric, "published").inc()
            elif decision.signal == Signal.MET and now > decision.deadline_at:
                self.holds.labels(clock.metric, "cleared").inc()
        for entry in entries:
            direction = "reversed" if entry.reversed_at is not None else "charged"
            self.qa_points.labels(entry.duty, direction).inc(entry.points)
