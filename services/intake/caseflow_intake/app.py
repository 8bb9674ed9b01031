"""FastStream wiring of intake: what it consumes, what it stores, what it serves."""

from __future__ import annotations

from caseflow_contracts import TOPICS
from caseflow_kit import Runtime, ServiceSpec, Subscription

from .settings import IntakeSettings


async def build_deps(runtime: Runtime[IntakeSettings, None]) -> None:
    """Intake has no dependencies of its own yet."""


SPEC: ServiceSpec[IntakeSettings, None] = ServiceSpec(
    name="intake",
    http_port=8081,
    settings_type=IntakeSettings,
    collections=[],
    subscriptions=[Subscription(topic, handlers={}) for topic in TOPICS if "intake" in topic.consumers],
    build_deps=build_deps,
)
