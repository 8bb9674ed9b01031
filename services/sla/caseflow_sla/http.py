"""sla's HTTP endpoints: the KPIs (per station, region, kind and window) and the QA scorecard (per station and
period). Reads only; every one needs a bearer token, a station agent reads its own station only."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from caseflow_contracts.common import CaseKind, StationCode
from caseflow_kit import Runtime
from caseflow_kit.auth import Principal, Role
from caseflow_kit.http import Refused, caller

from . import store
from .deps import SlaDeps
from .domain import QaEntry
from .domain.kpis import Window, figures, matching, report
from .settings import SlaSettings

DEFAULT_WINDOW_S = 7 * 86400
PERIOD = r"^[0-9]{4}-(0[1-9]|1[0-2])$"


def _epoch(moment: datetime) -> float:
    """A moment given without an offset is UTC (epoch seconds are accepted too)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def _line(entry: QaEntry) -> dict[str, Any]:
    return {
        "case_id": entry.case_id,
        "duty": entry.duty,
        "points": entry.points,
        "metric": entry.metric,
        "cause_event_id": entry.cause_event_id,
        "reason": entry.reason,
        "at": _iso(entry.at),
        "reversed_at": _iso(entry.reversed_at) if entry.reversed_at is not None else None,
    }


def _totals(entries: list[QaEntry]) -> dict[str, int]:
    charged = sum(e.points for e in entries)
    reversed_ = sum(e.points for e in entries if e.reversed_at is not None)
    return {"points": charged - reversed_, "charged": charged, "reversed": reversed_}


def routers(runtime: Runtime[SlaSettings, SlaDeps]) -> Sequence[APIRouter]:
    api = APIRouter()

    @api.get(
        "/kpis",
        tags=["kpis"],
        summary="KPIs over a window: overall and per station, region and kind (or one station's own)",
    )
    async def get_kpis(
        *,
        who: Annotated[Principal, caller(Role.CASES_READER, Role.STATION_AGENT, station_param="station")],
        station: StationCode | None = None,
        region: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,64}$")] = None,
        kind: CaseKind | None = None,
        start: Annotated[datetime | None, Query(alias="from", description="ISO-8601 or epoch seconds")] = None,
        end: Annotated[datetime | None, Query(alias="to", description="ISO-8601 or epoch seconds")] = None,
    ) -> dict[str, object]:
        to = _epoch(end) if end else runtime.clock.time()
        lo = _epoch(start) if start else to - DEFAULT_WINDOW_S
        if lo >= to:
            raise Refused(422, "invalid_request", "from must be before to", field="from")
        region_of = runtime.deps.book.region
        test = matching(region_of, station=station, region=region, kind=kind.value if kind else None)
        window = Window(*await store.window(runtime.store, lo, to)).where(test)
        body: dict[str, object] = {"from": _iso(lo), "to": _iso(to), "region": region, "kind": kind}
        if station:
            return body | {"station": station, **figures(window)}
        return body | report(window, region_of)

    @api.get("/stations/{station}/scorecard", tags=["qa"], summary="A station's QA scorecard for one period")
    async def get_scorecard(
        who: Annotated[
            Principal, caller(Role.CASES_READER, Role.FINANCE_AUDITOR, Role.STATION_AGENT, station_param="station")
        ],
        station: StationCode,
        period: Annotated[str | None, Query(pattern=PERIOD, description="YYYY-MM; the current month if absent")] = None,
    ) -> dict[str, object]:
        period = period or runtime.deps.prices.period(runtime.clock.time())
        entries = await store.scorecard(runtime.store, station, period)
        return {"station": station, "period": period, **_totals(entries), "entries": [_line(e) for e in entries]}

    @api.get("/scorecard", tags=["qa"], summary="Every station's QA points for one period")
    async def get_scorecards(
        who: Annotated[Principal, caller(Role.CASES_READER, Role.FINANCE_AUDITOR)],
        period: Annotated[str | None, Query(pattern=PERIOD, description="YYYY-MM; the current month if absent")] = None,
    ) -> dict[str, object]:
        period = period or runtime.deps.prices.period(runtime.clock.time())
        by_station: dict[str, list[QaEntry]] = {}
        for entry in await store.scorecard(runtime.store, None, period):
            by_station.setdefault(entry.station, []).append(entry)
        return {"period": period, "stations": {s: _totals(e) for s, e in sorted(by_station.items())}}

    return [api]
