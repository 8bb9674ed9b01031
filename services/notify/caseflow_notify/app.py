"""Wiring of notify: what it consumes, what it stores, what it serves, its rules file and its delivery worker."""

from __future__ import annotations

from caseflow_contracts.notify import NotificationFailed, NotificationSent
from caseflow_contracts.topics import CASES_LIFECYCLE, CLAIMS_EVENTS, SLA_BREACHES
from caseflow_kit import ServiceSpec, Subscription

from .deps import Deps, NotifyRuntime, build_deps, close_deps
from .handlers import CLAIMS_HANDLERS, LIFECYCLE_HANDLERS, SLA_HANDLERS
from .http import routers
from .settings import NotifySettings
from .store import COLLECTIONS


async def run_worker(runtime: NotifyRuntime) -> None:
    worker = runtime.deps.worker
    if worker is not None:
        await worker.run()


SPEC: ServiceSpec[NotifySettings, Deps] = ServiceSpec(
    name="notify",
    http_port=8085,
    settings_type=NotifySettings,
    collections=COLLECTIONS,
    subscriptions=[
        Subscription(CASES_LIFECYCLE, handlers=LIFECYCLE_HANDLERS),
        Subscription(SLA_BREACHES, handlers=SLA_HANDLERS),
        Subscription(CLAIMS_EVENTS, handlers=CLAIMS_HANDLERS),
    ],
    build_deps=build_deps,
    http=routers,
    background=[run_worker],
    close_deps=close_deps,
    rules_files=lambda deps: [deps.policy_file],
    emits=[NotificationSent, NotificationFailed],
)
