"""Wiring of claims: what it consumes, what it stores, what it serves."""

from __future__ import annotations

from caseflow_contracts.topics import CASES_LIFECYCLE, STATIONS_UPDATES
from caseflow_kit import ServiceSpec, Subscription

from . import handlers
from .deps import ClaimsDeps, build_deps, rules_files
from .events import EMITS
from .http import routers
from .settings import ClaimsSettings
from .store import COLLECTIONS

SPEC: ServiceSpec[ClaimsSettings, ClaimsDeps] = ServiceSpec(
    name="claims",
    http_port=8084,
    settings_type=ClaimsSettings,
    collections=COLLECTIONS,
    subscriptions=[
        Subscription(
            CASES_LIFECYCLE,
            handlers={
                "case.opened": handlers.on_case_opened,
                "case.merged": handlers.on_case_merged,
                "case.resolved": handlers.on_case_resolved,
            },
        ),
        Subscription(STATIONS_UPDATES, handlers={"station.arbitration_declared": handlers.on_arbitration_declared}),
    ],
    build_deps=build_deps,
    http=routers,
    rules_files=rules_files,
    emits=EMITS,
)
