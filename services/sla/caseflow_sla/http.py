"""sla's HTTP endpoint: GET /kpis?station=...&from=...&to=... (ISO-8601 with an offset; window on clock start)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from caseflow_contracts.common import StationCode
from caseflow_kit import Runtime
from caseflow_kit.auth import Principal, Role
from caseflow_kit.http import Refused, caller
from caseflow_kit.store import Query as StoreQuery

from .domain import Clock
from .handlers import SlaDeps
from .kpis import kpis
from .settings import SlaSettings
from .store import CLOCKS

DEFAULT_WINDOW_S = 7 * 86400


def _epoch(moment: datetime) -> float:
    """A moment given without an offset is UTC (epoch seconds are accepted too)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def routers(runtime: Runtime[SlaSettings, SlaDeps]) -> Sequence[APIRouter]:
    api = APIRouter(tags=["kpis"])

    @api.get("/kpis", summary="Callback and resolution KPIs over clocks started in a window, overall or per station")
    async def get_kpis(
        who: Annotated[Principal, caller(Role.CASES_READER, Role.STATION_AGENT, station_param="station")],
        station: StationCode | None = None,
        start: Annotated[
            datetime | None, Query(alias="from", description="ISO-8601 (UTC without an offset) or epoch seconds")
        ] = None,
        end: Annotated[
            datetime | None, Query(alias="to", description="ISO-8601 (UTC without an offset) or epoch seconds")
        ] = None,
    ) -> dict[str, object]:
        to = _epoch(end) if end else runtime.deps.now()
        lo = _epoch(start) if start else to - DEFAULT_WINDOW_S
        if lo >= to:
            raise Refused(422, "invalid_request", "from must be before to", field="from")
        where = {"station": station} if station else {}
        docs = await runtime.store.find(CLOCKS, StoreQuery(where=where, range_field="started_at", gte=lo, lt=to))
        clocks = [Clock.from_doc(d) for d in docs]
        body: dict[str, object] = {"from": _iso(lo), "to": _iso(to)}
        if station:
            return body | {"station": station, **kpis(clocks)}
        by_station: dict[str, list[Clock]] = defaultdict(list)
        for clock in clocks:
            if clock.station:
                by_station[clock.station].append(clock)
        return body | {"overall": kpis(clocks), "stations": {s: kpis(cs) for s, cs in sorted(by_station.items())}}

    return [api]
