"""FastStream wiring of claims: what it consumes, what it stores, what it serves."""

from __future__ import annotations

from caseflow_contracts import TOPICS
from caseflow_kit import Runtime, ServiceSpec, Subscription

from .settings import ClaimsSettings


async def build_deps(runtime: Runtime[ClaimsSettings, None]) -> None:
    """Claims has no dependencies of its own yet."""


SPEC: ServiceSpec[ClaimsSettings, None] = ServiceSpec(
    name="claims",
    http_port=8084,
    settings_type=ClaimsSettings,
    collections=[],
    subscriptions=[Subscription(topic, handlers={}) for topic in TOPICS if "claims" in topic.consumers],
    build_deps=build_deps,
)
