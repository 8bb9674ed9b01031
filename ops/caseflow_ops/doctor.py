"""One report on a running installation, and whether anything in it is wrong.

Checked: the topics against the catalog (each topic and its dead-letter twin exist, with the
catalog's partitions and retention), every service's consumer group and its lag, the dead
letters not yet replayed and why they were parked, and each service's readiness and the
outbox rows waiting in its store (`caseflow_outbox_backlog`, counted in the store).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from caseflow_contracts import TOPICS
from caseflow_contracts.topics import DAY_MS, DLQ_RETENTION_DAYS

from . import dlq, lag, status
from .catalog import default_groups
from .kafka import Cluster, partitions_of


@dataclass(frozen=True)
class Finding:
    area: str  # topics, groups, dead letters, services, broker
    subject: str
    ok: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"area": self.area, "subject": self.subject, "ok": self.ok, "detail": self.detail}


@dataclass(frozen=True)
class Limits:
    """What counts as wrong: the alert thresholds, and the partition cap a small cluster was created with."""

    max_lag: int = 1000
    max_backlog: int = 100
    max_partitions: int | None = None


def expected_topics(limits: Limits) -> dict[str, tuple[int, int]]:
    """Every catalog topic and dead-letter twin: (partitions, retention.ms)."""
    found: dict[str, tuple[int, int]] = {}
    for t in TOPICS:
        partitions = min(t.partitions, limits.max_partitions) if limits.max_partitions else t.partitions
        found[t.name] = (partitions, t.retention_ms)
        found[t.dlq] = (1, DLQ_RETENTION_DAYS * DAY_MS)
    return found


def _retention(response: Any) -> dict[str, int | None]:
    found: dict[str, int | None] = {}
    for resource in response.to_object()["resources"]:
        entries = {e["config_names"]: e["config_value"] for e in resource["config_entries"]}
        value = entries.get("retention.ms")
        found[resource["resource_name"]] = int(value) if value not in (None, "") else None
    return found


async def check_topics(cluster: Cluster, limits: Limits) -> list[Finding]:
    wanted = expected_topics(limits)
    problems: list[Finding] = []
    present: list[str] = []
    async with cluster.consumer() as consumer:
        for name, (partitions, _) in wanted.items():
            parts = await partitions_of(consumer, cluster.name(name))
            if not parts:
                what = "dead-letter topic" if name.endswith(".dlq") else "topic"
                problems.append(Finding("topics", name, False, f"missing {what}"))
            elif len(parts) != partitions:
                problems.append(
                    Finding("topics", name, False, f"{len(parts)} partitions, the catalog says {partitions}")
                )
            else:
                present.append(name)
    if present:
        async with cluster.admin() as admin:
            resources = [ConfigResource(ConfigResourceType.TOPIC, cluster.name(n)) for n in present]
            retention: dict[str, int | None] = {}
            for response in await admin.describe_configs(resources):
                retention |= _retention(response)
        for name in present:
            got, expected = retention.get(cluster.name(name)), wanted[name][1]
            if got != expected:
                problems.append(Finding("topics", name, False, f"retention.ms {got}, the catalog says {expected}"))
    if not problems:
        return [Finding("topics", "catalog", True, f"{len(wanted)} topics with the catalog's partitions and retention")]
    return problems


async def check_groups(cluster: Cluster, limits: Limits) -> list[Finding]:
    found = []
    for row in await lag.consumer_lag(cluster, default_groups()):
        subject = f"{row.group} {row.topic}"
        if row.lag > limits.max_lag:
            found.append(Finding("groups", subject, False, f"{row.lag} events behind (more than {limits.max_lag})"))
        else:
            committed = "" if row.committed else ", no commit yet"
            found.append(Finding("groups", subject, True, f"{row.lag} behind{committed}"))
    return found


async def check_dead_letters(cluster: Cluster) -> list[Finding]:
    waiting = [d for d in await dlq.depths(cluster) if d.pending_replay]
    if not waiting:
        return [Finding("dead letters", "all", True, "none waiting for a replay")]
    return [
        Finding(
            "dead letters",
            d.dlq,
            False,
            f"{d.pending_replay} not replayed: "
            + ", ".join(f"{reason} {count}" for reason, count in d.reasons.items())
            + ("" if d.complete else ", ..."),
        )
        for d in waiting
    ]


async def check_services(urls: Mapping[str, str], limits: Limits, timeout_s: float) -> list[Finding]:
    found = []
    for s in await status.suite_status(urls, timeout_s=timeout_s):
        backlog = s.metrics.get("caseflow_outbox_backlog", 0.0)
        if not s.ready:
            failing = [name for name, ok in s.checks.items() if not ok]
            detail = s.error or f"not ready: {', '.join(failing) or 'no checks reported'} failing"
            found.append(Finding("services", s.service, False, detail))
        elif backlog > limits.max_backlog:
            found.append(Finding("services", s.service, False, f"{backlog:.0f} outbox rows unpublished in its store"))
        else:
            found.append(Finding("services", s.service, True, f"ready, outbox backlog {backlog:.0f}"))
    return found


async def diagnose(
    cluster: Cluster, urls: Mapping[str, str], limits: Limits = Limits(), *, timeout_s: float = 3.0
) -> list[Finding]:
    """Every check; a broker that cannot be reached is one finding, not the end of the report."""
    found: list[Finding] = []
    try:
        found += await check_topics(cluster, limits)
        found += await check_groups(cluster, limits)
        found += await check_dead_letters(cluster)
    except KafkaError as exc:
        found.append(Finding("broker", cluster.bootstrap, False, f"{type(exc).__name__}: {exc}"))
    found += await check_services(urls, limits, timeout_s)
    return found
