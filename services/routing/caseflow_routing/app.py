"""Wiring of routing: what it consumes, emits, stores and serves, and the rules files it reloads."""

from __future__ import annotations

from caseflow_contracts.cases import (
    CaseAcknowledged,
    CaseAwaitingCustomer,
    CaseCallbackLogged,
    CaseClosed,
    CaseContactAfterClosure,
    CaseCustomerResponded,
    CaseEscalated,
    CaseHqRuled,
    CaseNoteRefused,
    CaseProgressNoted,
    CaseResolutionProposed,
    CaseResolved,
    CaseTransferred,
)
from caseflow_contracts.topics import CASES_LIFECYCLE, SLA_BREACHES, STATIONS_UPDATES
from caseflow_kit import ServiceSpec, Subscription

from .deps import RoutingDeps, build_deps
from .handlers import LIFECYCLE_HANDLERS, SLA_HANDLERS, STATION_HANDLERS
from .http import routers
from .settings import RoutingSettings
from .store import COLLECTIONS

SPEC: ServiceSpec[RoutingSettings, RoutingDeps] = ServiceSpec(
    name="routing",
    http_port=8082,
    settings_type=RoutingSettings,
    collections=COLLECTIONS,
    subscriptions=[
        # cases.lifecycle also carries routing's own events: only the types in the table are handled.
        Subscription(CASES_LIFECYCLE, handlers=LIFECYCLE_HANDLERS),
        Subscription(STATIONS_UPDATES, handlers=STATION_HANDLERS),
        Subscription(SLA_BREACHES, handlers=SLA_HANDLERS),
    ],
    build_deps=build_deps,
    http=routers,
    rules_files=RoutingDeps.rules_files,
    emits=[
        CaseEscalated,
        CaseTransferred,
        CaseAcknowledged,
        CaseCallbackLogged,
        CaseProgressNoted,
        CaseAwaitingCustomer,
        CaseCustomerResponded,
        CaseResolutionProposed,
        CaseResolved,
        CaseClosed,
        CaseHqRuled,
        CaseNoteRefused,
        CaseContactAfterClosure,
    ],
)
