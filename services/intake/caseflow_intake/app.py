"""Wiring of intake: what it consumes, what it stores, what it serves."""

from __future__ import annotations

from caseflow_contracts.topics import CASES_LIFECYCLE, UPSTREAM_CUSTOMER_CONTACTS, UPSTREAM_PARCEL_EXCEPTIONS
from caseflow_kit import ServiceSpec, Subscription

from . import handlers as h
from .deps import IntakeDeps, build_deps
from .events import EMITS
from .http import routers
from .settings import IntakeSettings
from .store import COLLECTIONS

SPEC: ServiceSpec[IntakeSettings, IntakeDeps] = ServiceSpec(
    name="intake",
    http_port=8081,
    settings_type=IntakeSettings,
    collections=COLLECTIONS,
    subscriptions=[
        Subscription(UPSTREAM_PARCEL_EXCEPTIONS, handlers={"parcel.exception_reported": h.on_parcel_exception}),
        Subscription(
            UPSTREAM_CUSTOMER_CONTACTS,
            handlers={
                "customer.contacted": h.on_customer_contact,
                "customer.satisfaction_answered": h.on_satisfaction_answered,
            },
        ),
        # routing owns the case's state: intake follows its closes and its word on contacts after closure.
        Subscription(
            CASES_LIFECYCLE,
            handlers={
                "case.resolved": h.on_case_resolved,
                "case.closed": h.on_case_closed,
                "case.contact_after_closure": h.on_contact_after_closure,
            },
        ),
    ],
    build_deps=build_deps,
    http=routers,
    rules_files=lambda deps: [deps.rules],
    emits=EMITS,
)
