"""Wiring of notify: what it consumes, what it stores, what it serves, its rules file and its delivery worker."""

from __future__ import annotations

from caseflow_contracts.notify import NotificationFailed, NotificationSent
from caseflow_contracts.topics import CASES_LIFECYCLE, CLAIMS_EVENTS, SLA_BREACHES
from caseflow_kit import ServiceSpec, Subscription

from . import handlers as h
from .deps import Deps, NotifyRuntime, build_deps, close_deps
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
        Subscription(
            CASES_LIFECYCLE,
            handlers={
                "case.opened": h.on_case_opened,
                "case.escalated": h.on_step,
                "case.transferred": h.on_step,
                "case.progress_noted": h.on_step,
                "case.resolved": h.on_case_resolved,
                "case.closed": h.on_case_closed,
                "case.reopened": h.on_case_reopened,
            },
        ),
        Subscription(SLA_BREACHES, handlers={"sla.breached": h.on_step, "sla.breach_withdrawn": h.on_breach_withdrawn}),
        Subscription(CLAIMS_EVENTS, handlers={"claim.decided": h.on_step, "payout.issued": h.on_step}),
    ],
    build_deps=build_deps,
    http=routers,
    background=[run_worker],
    close_deps=close_deps,
    rules_files=lambda deps: [deps.policy_file],
    emits=[NotificationSent, NotificationFailed],
)
