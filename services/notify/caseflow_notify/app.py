"""FastStream wiring of notify: what it consumes, what it stores, what it serves."""

from __future__ import annotations

from caseflow_contracts import TOPICS
from caseflow_kit import Runtime, ServiceSpec, Subscription

from .settings import NotifySettings


async def build_deps(runtime: Runtime[NotifySettings, None]) -> None:
    """Notify has no dependencies of its own yet."""


SPEC: ServiceSpec[NotifySettings, None] = ServiceSpec(
    name="notify",
    http_port=8085,
    settings_type=NotifySettings,
    collections=[],
    subscriptions=[Subscription(topic, handlers={}) for topic in TOPICS if "notify" in topic.consumers],
    build_deps=build_deps,
)
