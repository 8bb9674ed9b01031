"""Wiring of claims: what it consumes, what it stores, what it serves."""

from __future__ import annotations

import asyncio

from caseflow_contracts.topics import CASES_LIFECYCLE, STATIONS_UPDATES
from caseflow_kit import Runtime, ServiceSpec, Subscription
from caseflow_kit.rules import RulesFile

from . import handlers
from .deps import ClaimsDeps
from .http import routers
from .rules import CompensationRules
from .settings import ClaimsSettings
from .store import COLLECTIONS


async def build_deps(runtime: Runtime[ClaimsSettings, ClaimsDeps]) -> ClaimsDeps:
    return ClaimsDeps(RulesFile(runtime.settings.claims_rules_path, CompensationRules), runtime.settings)


async def reload_rules(runtime: Runtime[ClaimsSettings, ClaimsDeps]) -> None:
    """Pick up an edited rules file; an invalid one is logged and the rules in force stay."""
    while True:
        await asyncio.sleep(runtime.settings.claims_rules_reload_s)
        runtime.deps.rules_file.reload()


SPEC: ServiceSpec[ClaimsSettings, ClaimsDeps] = ServiceSpec(
    name="claims",
    http_port=8084,
    settings_type=ClaimsSettings,
    collections=COLLECTIONS,
    subscriptions=[
        Subscription(
            CASES_LIFECYCLE,
            handlers={"case.opened": handlers.on_case_opened, "case.resolved": handlers.on_case_resolved},
        ),
        Subscription(STATIONS_UPDATES, handlers={"station.arbitration_declared": handlers.on_arbitration_declared}),
    ],
    build_deps=build_deps,
    http=routers,
    background=[reload_rules],
)
