"""Wiring of intake: what it consumes, what it stores, what it serves."""

from __future__ import annotations

import asyncio

from caseflow_contracts.topics import CASES_LIFECYCLE, UPSTREAM_CUSTOMER_CONTACTS, UPSTREAM_PARCEL_EXCEPTIONS
from caseflow_kit import Runtime, ServiceSpec, Subscription
from caseflow_kit.privacy import Pseudonymiser, Sealer
from caseflow_kit.rules import RulesFile

from .handlers import IntakeDeps, on_case_closed, on_case_resolved, on_customer_contact, on_parcel_exception
from .http import routers
from .rules import IntakeRules
from .settings import IntakeSettings
from .store import COLLECTIONS

IntakeRuntime = Runtime[IntakeSettings, IntakeDeps]


async def build_deps(runtime: IntakeRuntime) -> IntakeDeps:
    settings = runtime.settings
    sealer = Sealer.from_settings(settings)
    return IntakeDeps(
        rules=RulesFile(settings.intake_rules_path, IntakeRules),
        sealer=sealer,
        pseudonyms=Pseudonymiser.from_settings(settings, sealer=sealer),
    )


async def reload_rules(runtime: IntakeRuntime) -> None:
    """Pick up an edited rules file; an invalid one is refused and the rules in force stay."""
    interval = runtime.settings.intake_rules_reload_s
    while interval > 0:
        await asyncio.sleep(interval)
        runtime.deps.rules.reload()


SPEC: ServiceSpec[IntakeSettings, IntakeDeps] = ServiceSpec(
    name="intake",
    http_port=8081,
    settings_type=IntakeSettings,
    collections=COLLECTIONS,
    subscriptions=[
        Subscription(UPSTREAM_PARCEL_EXCEPTIONS, handlers={"parcel.exception_reported": on_parcel_exception}),
        Subscription(UPSTREAM_CUSTOMER_CONTACTS, handlers={"customer.contacted": on_customer_contact}),
        # Intake learns from routing when a case ends, to reopen it or link a new one.
        Subscription(CASES_LIFECYCLE, handlers={"case.resolved": on_case_resolved, "case.closed": on_case_closed}),
    ],
    build_deps=build_deps,
    http=routers,
    background=[reload_rules],
)
