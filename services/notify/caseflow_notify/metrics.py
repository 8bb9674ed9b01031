"""Prometheus metrics of notify's delivery worker (beside the kit's consume/publish metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class NotifyMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.outcomes = Counter(
            "caseflow_notify_outcomes_total",
            "Delivery outcomes by channel: sent, retry, failed, skipped, deferred (quiet hours, circuit open, no case)",
            ["channel", "outcome"],
            registry=registry,
        )
        self.send_seconds = Histogram(
            "caseflow_notify_send_seconds",
            "One send attempt, from the adapter call to its answer",
            ["channel"],
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.breaker_open = Gauge(
            "caseflow_notify_breaker_open",
            "1 while a channel's (or webhook target's) breaker is open",
            ["target"],
            registry=registry,
        )
        self.in_flight = Gauge("caseflow_notify_in_flight", "Sends claimed and not yet recorded", registry=registry)
        self.dead_letters = Counter(
            "caseflow_notify_dead_letters_total",
            "Triggers dead-lettered after a delivery failed for good",
            ["channel"],
            registry=registry,
        )
