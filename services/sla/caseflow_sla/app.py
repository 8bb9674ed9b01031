"""FastStream wiring of sla: what it consumes, what it stores, what it serves."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from caseflow_contracts.topics import CASES_LIFECYCLE, NOTIFY_DELIVERIES
from caseflow_kit import Runtime, ServiceSpec, Subscription
from caseflow_kit.rules import RulesFile

from . import handlers as h
from .handlers import SlaDeps
from .http import routers
from .policy import Policies, PolicyBook
from .settings import SlaSettings
from .store import COLLECTIONS
from .timers import run_timers


def policies_path(settings: SlaSettings) -> Path:
    return settings.policies_file or Path(str(resources.files("caseflow_sla") / "data" / "policies.yaml"))


async def build_deps(runtime: Runtime[SlaSettings, SlaDeps]) -> SlaDeps:
    rules = RulesFile(policies_path(runtime.settings), Policies)
    return SlaDeps(store=runtime.store, rules=rules, book=PolicyBook(rules.current), producer=runtime.service)


SPEC: ServiceSpec[SlaSettings, SlaDeps] = ServiceSpec(
    name="sla",
    http_port=8083,
    settings_type=SlaSettings,
    collections=COLLECTIONS,
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
    http=routers,
    background=[run_timers],
)
