"""routing's own metrics, beside the kit's (what the ladder and the stations' records did)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter


class RoutingMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.outcomes = Counter(
            "caseflow_routing_outcomes_total",
            "What routing decided, by outcome: escalated, escalation_withdrawn, breach_withdrawn_kept,"
            " late_station_action, note_refused, contact_after_closure, hq_<ruling>",
            ["outcome"],
            registry=registry,
        )

    def count(self, tags: Iterable[str]) -> None:
        for tag in tags:
            self.outcomes.labels(tag).inc()
