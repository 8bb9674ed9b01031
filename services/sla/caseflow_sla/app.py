"""FastStream wiring of sla: what it consumes, what it stores, what it serves."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from caseflow_contracts.topics import CASES_LIFECYCLE, NOTIFY_DELIVERIES
from caseflow_kit import Runtime, ServiceSpec, Subscription
from caseflow_kit.outbox import OutboxRelay
from caseflow_kit.rules import RulesFile

from . import handlers as h
from .api import routes
from .handlers import SlaDeps
from .lease import LEASE_COLLECTION, RelayLease
from .policy import Policies, PolicyBook
from .publisher import BatchPublisher
from .settings import SlaSettings
from .store import COLLECTIONS
from .timers import run_timers


def policies_path(settings: SlaSettings) -> Path:
    return settings.policies_file or Path(str(resources.files("caseflow_sla") / "data" / "policies.yaml"))


async def build_deps(runtime: Runtime[SlaSettings, SlaDeps]) -> SlaDeps:
    rules = RulesFile(policies_path(runtime.settings), Policies)
    lease = RelayLease(runtime.store, ttl_s=runtime.settings.relay_lease_s)
    publisher = BatchPublisher(runtime.settings, client_id=f"caseflow-{runtime.service}-relay")
    # Two kit gaps worked around here: replicas sharing one store must not both relay the outbox (a lease
    # decides who does), and per-message publishing is too slow for thousands of breaches a second.
    relay = OutboxRelay(runtime.store, publisher.publish, runtime.metrics)
    setattr(relay, "flush", lease.guard(relay.flush))  # noqa: B010
    runtime.relay = relay
    return SlaDeps(
        store=runtime.store,
        rules=rules,
        book=PolicyBook(rules.current),
        producer=runtime.service,
        lease=lease,
        publisher=publisher,
    )


async def close_deps(deps: SlaDeps) -> None:
    if deps.lease is not None:
        await deps.lease.release()
    if deps.publisher is not None:
        await deps.publisher.stop()


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
