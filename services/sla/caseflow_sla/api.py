"""Read endpoint: GET /kpis?station=...&from=...&to=... (ISO-8601 or epoch seconds; window on clock start)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from caseflow_kit import Request, Response, Route, Runtime
from caseflow_kit.store import Query

from .domain import Clock
from .handlers import SlaDeps
from .kpis import kpis
from .settings import SlaSettings
from .store import CLOCKS

DEFAULT_WINDOW_S = 7 * 86400


def _instant(text: str | None, default: float) -> float:
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        pass
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def routes(runtime: Runtime[SlaSettings, SlaDeps]) -> list[Route]:
    async def get_kpis(request: Request) -> Response:
        now = runtime.deps.now()
        try:
            to = _instant(request.query.get("to"), now)
            start = _instant(request.query.get("from"), to - DEFAULT_WINDOW_S)
        except ValueError as exc:
            return Response.bad_request(f"from / to: {exc}")
        if start >= to:
            return Response.bad_request("from must be before to")
        station = request.query.get("station")
        where = {"station": station} if station else {}
        docs = await runtime.store.find(CLOCKS, Query(where=where, range_field="started_at", gte=start, lt=to))
        clocks = [Clock.from_doc(d) for d in docs]
        body: dict[str, object] = {"from": _iso(start), "to": _iso(to)}
        if station:
            body |= {"station": station, **kpis(clocks)}
            return Response(200, body)
        by_station: dict[str, list[Clock]] = defaultdict(list)
        for clock in clocks:
            if clock.station:
                by_station[clock.station].append(clock)
        body |= {"overall": kpis(clocks), "stations": {s: kpis(cs) for s, cs in sorted(by_station.items())}}
        return Response(200, body)

    return [Route("GET", "/kpis", get_kpis)]
