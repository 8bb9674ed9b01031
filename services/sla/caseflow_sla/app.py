"""FastStream wiring of sla: what it consumes, what it stores, what it serves, what runs beside."""

from __future__ import annotations

from caseflow_contracts.qa import QaPointsCharged, QaPointsReversed
from caseflow_contracts.sla import SlaBreached, SlaBreachWithdrawn, SlaMet, SlaWarning
from caseflow_contracts.topics import CASES_LIFECYCLE, CLAIMS_EVENTS, NOTIFY_DELIVERIES
from caseflow_kit import ServiceSpec, Subscription

from .deps import SlaDeps, build_deps, rules_files
from .handlers import CLAIMS, DELIVERIES, DELIVERIES_ONLY, LIFECYCLE
from .http import routers
from .settings import SlaSettings
from .store import COLLECTIONS
from .timers import run_timers

SPEC: ServiceSpec[SlaSettings, SlaDeps] = ServiceSpec(
    name="sla",
    http_port=8083,
    settings_type=SlaSettings,
    collections=COLLECTIONS,
    subscriptions=[
        Subscription(CASES_LIFECYCLE, handlers=LIFECYCLE),
        Subscription(NOTIFY_DELIVERIES, handlers=DELIVERIES, only=DELIVERIES_ONLY),
        Subscription(CLAIMS_EVENTS, handlers=CLAIMS),
    ],
    build_deps=build_deps,
    http=routers,
    background=[run_timers],
    rules_files=rules_files,
    emits=(SlaWarning, SlaMet, SlaBreached, SlaBreachWithdrawn, QaPointsCharged, QaPointsReversed),
)
