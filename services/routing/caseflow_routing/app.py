"""FastStream wiring of routing: what it consumes, what it stores, what it serves."""

from __future__ import annotations

from caseflow_contracts import TOPICS
from caseflow_kit import Runtime, ServiceSpec, Subscription

from .settings import RoutingSettings


async def build_deps(runtime: Runtime[RoutingSettings, None]) -> None:
    """Routing has no dependencies of its own yet."""


SPEC: ServiceSpec[RoutingSettings, None] = ServiceSpec(
    name="routing",
    http_port=8082,
    settings_type=RoutingSettings,
    collections=[],
    subscriptions=[Subscription(topic, handlers={}) for topic in TOPICS if "routing" in topic.consumers],
    build_deps=build_deps,
)
