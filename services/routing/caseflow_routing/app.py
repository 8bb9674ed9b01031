"""Wiring of routing: what it consumes, what it stores, what it serves."""

from __future__ import annotations

from caseflow_contracts.topics import CASES_LIFECYCLE, SLA_BREACHES, STATIONS_UPDATES
from caseflow_kit import Runtime, ServiceSpec, Subscription

from .deps import RoutingDeps, poll_directory
from .directory import DirectoryHolder
from .handlers import LIFECYCLE_HANDLERS, SLA_HANDLERS, STATION_HANDLERS
from .http import routers
from .settings import RoutingSettings
from .store import COLLECTIONS, seed_loads


async def build_deps(runtime: Runtime[RoutingSettings, RoutingDeps]) -> RoutingDeps:
    holder = DirectoryHolder(runtime.settings.directory_path)
    await seed_loads(runtime.store, runtime.unit_of_work, holder.current.by_code)
    return RoutingDeps(directory=holder)


SPEC: ServiceSpec[RoutingSettings, RoutingDeps] = ServiceSpec(
    name="routing",
    http_port=8082,
    settings_type=RoutingSettings,
    collections=COLLECTIONS,
    subscriptions=[
        # cases.lifecycle also carries routing's own events: only these three types are handled.
        Subscription(CASES_LIFECYCLE, handlers=LIFECYCLE_HANDLERS),
        Subscription(STATIONS_UPDATES, handlers=STATION_HANDLERS),
        Subscription(SLA_BREACHES, handlers=SLA_HANDLERS),
    ],
    build_deps=build_deps,
    http=routers,
    background=[poll_directory],
)
