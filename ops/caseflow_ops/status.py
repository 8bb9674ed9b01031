"""Service status: readiness checks and the headline metrics of every service, over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

#: Metrics shown per service, summed over their labels.
HEADLINE = (
    "caseflow_ready",
    "caseflow_events_handled_total",
    "caseflow_dead_letters_total",
    "caseflow_outbox_backlog",
    "caseflow_events_published_total",
)


@dataclass
class ServiceStatus:
    service: str
    url: str
    ready: bool = False
    checks: dict[str, bool] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    outcomes: dict[str, float] = field(default_factory=dict)
    dead_letters: dict[str, float] = field(default_factory=dict)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "url": self.url,
            "ready": self.ready,
            "checks": self.checks,
            "metrics": self.metrics,
            "outcomes": self.outcomes,
            "dead_letters": self.dead_letters,
            "error": self.error,
        }


@dataclass
class Headline:
    totals: dict[str, float] = field(default_factory=dict)
    outcomes: dict[str, float] = field(default_factory=dict)
    dead_letters: dict[str, float] = field(default_factory=dict)


def _add(into: dict[str, float], key: str, value: float) -> None:
    into[key] = into.get(key, 0.0) + value


def headline(text: str) -> Headline:
    """The headline metrics summed over their labels; events by outcome; dead letters by `topic/reason`
    (notify's failed deliveries by `channel/delivery_failed`)."""
    found = Headline()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in HEADLINE:
                _add(found.totals, sample.name, sample.value)
            if sample.name == "caseflow_events_handled_total":
                _add(found.outcomes, sample.labels.get("outcome", "?"), sample.value)
            if sample.name == "caseflow_dead_letters_total":
                _add(
                    found.dead_letters,
                    f"{sample.labels.get('topic', '?')}/{sample.labels.get('reason', '?')}",
                    sample.value,
                )
            if sample.name == "caseflow_notify_dead_letters_total":  # notify parks failed deliveries itself
                _add(found.dead_letters, f"{sample.labels.get('channel', '?')}/delivery_failed", sample.value)
    return found


async def service_status(client: httpx.AsyncClient, service: str, url: str) -> ServiceStatus:
    status = ServiceStatus(service, url)
    try:
        ready = await client.get(f"{url}/readyz")
        body = ready.json()
        status.ready = ready.status_code == 200
        status.checks = {str(k): bool(v) for k, v in body.get("checks", {}).items()}
        metrics = await client.get(f"{url}/metrics")
        metrics.raise_for_status()
        found = headline(metrics.text)
        status.metrics, status.outcomes, status.dead_letters = found.totals, found.outcomes, found.dead_letters
    except (httpx.HTTPError, ValueError) as exc:
        status.error = f"{type(exc).__name__}: {exc}"
    return status


async def suite_status(urls: Mapping[str, str], *, timeout_s: float = 3) -> list[ServiceStatus]:
    """Every service's status, asked concurrently."""
    async with httpx.AsyncClient(timeout=timeout_s) as client:
        return list(await asyncio.gather(*(service_status(client, s, u) for s, u in urls.items())))
