"""Prometheus metrics of the shared runtime; FastStream's middleware adds consume metrics (publishing bypasses it)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class KitMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.handled = Counter(
            "caseflow_events_handled_total",
            "Events handled, by topic, type and outcome",
            ["topic", "event_type", "outcome"],
            registry=registry,
        )
        self.dead_letters = Counter(
            "caseflow_dead_letters_total",
            "Events sent to a dead-letter topic, by topic and reason",
            ["topic", "reason"],
            registry=registry,
        )
        self.handle_seconds = Histogram(
            "caseflow_handle_seconds",
            "Time to handle one event, store commit included",
            ["topic"],
            registry=registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
        )
        # Counted in the store by the runtime (refresh_health): every replica's unpublished rows, a crash's too.
        self.outbox_backlog = Gauge(
            "caseflow_outbox_backlog",
            "Outbox rows waiting in the service's store, not yet published",
            registry=registry,
        )
        self.published = Counter(
            "caseflow_events_published_total", "Events published from the outbox", ["topic"], registry=registry
        )
        self.parked = Counter(
            "caseflow_outbox_parked_total",
            "Events the broker refused for good (too large, corrupt), parked in the store, by topic and reason",
            ["topic", "reason"],
            registry=registry,
        )
        self.store_unavailable = Counter(
            "caseflow_store_unavailable_total",
            "Batches retried because the store could not be reached (never dead-lettered)",
            registry=registry,
        )
        self.ready = Gauge("caseflow_ready", "1 while the service's readiness checks pass", registry=registry)
