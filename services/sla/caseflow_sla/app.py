"""FastStream wiring of sla: what it consumes, what it stores, what it serves."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from caseflow_contracts.topics import CASES_LIFECYCLE, NOTIFY_DELIVERIES
from caseflow_kit import Runtime, ServiceSpec, Subscription
from caseflow_kit.rules import RulesFile

from . import handlers as h
from .api import routes
from .handlers import SlaDeps
from .lease import LEASE_COLLECTION, RelayLease
from .policy import Policies, PolicyBook
from .settings import SlaSettings
from .store import COLLECTIONS
from .timers import run_timers


def policies_path(settings: SlaSettings) -> Path:
    return settings.policies_file or Path(str(resources.files("caseflow_sla") / "data" / "policies.yaml"))


async def build_deps(runtime: Runtime[SlaSettings, SlaDeps]) -> SlaDeps:
    rules = RulesFile(policies_path(runtime.settings), Policies)
    lease = RelayLease(runtime.store, ttl_s=runtime.settings.relay_lease_s)
    # Replicas may share one store: only the lease holder relays the outbox (see lease.py; a kit gap).
    setattr(runtime.relay, "flush", lease.guard(runtime.relay.flush))  # noqa: B010
    return SlaDeps(
        store=runtime.store, rules=rules, book=PolicyBook(rules.current), producer=runtime.service, lease=lease
    )


async def close_deps(deps: SlaDeps) -> None:
    if deps.lease is not None:
        await deps.lease.release()


SPEC: ServiceSpec[SlaSettings, SlaDeps] = ServiceSpec(
    name="sla",
    http_port=8083,
    settings_type=SlaSettings,
    collections=[*COLLECTIONS, LEASE_COLLECTION],
    subscriptions=[
        Subscription(
            CASES_LIFECYCLE,
            handlers={
                "case.opened": h.on_opened,
                "case.escalated": h.on_escalated,
                "case.transferred": h.on_transferred,
                "case.callback_logged": h.on_callback_logged,
                "case.progress_noted": h.on_progress_noted,
                "case.awaiting_customer": h.on_awaiting_customer,
                "case.customer_responded": h.on_customer_responded,
                "case.resolved": h.on_resolved,
                "case.closed": h.on_closed,
            },
        ),
        Subscription(NOTIFY_DELIVERIES, handlers={"notification.sent": h.on_notification_sent}),
    ],
    build_deps=build_deps,
    routes=routes,
    background=[run_timers],
    close_deps=close_deps,
)
