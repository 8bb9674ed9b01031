"""FastStream wiring of sla: what it consumes, what it stores, what it serves."""

from __future__ import annotations

from caseflow_contracts import TOPICS
from caseflow_kit import Runtime, ServiceSpec, Subscription

from .settings import SlaSettings


async def build_deps(runtime: Runtime[SlaSettings, None]) -> None:
    """Sla has no dependencies of its own yet."""


SPEC: ServiceSpec[SlaSettings, None] = ServiceSpec(
    name="sla",
    http_port=8083,
    settings_type=SlaSettings,
    collections=[],
    subscriptions=[Subscription(topic, handlers={}) for topic in TOPICS if "sla" in topic.consumers],
    build_deps=build_deps,
)
