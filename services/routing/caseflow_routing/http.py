"""routing's HTTP endpoints: a case's holder, oversight and history; a unit and its load; the directory reload."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from caseflow_contracts.common import CaseId, StationCode
from caseflow_kit.auth import Principal, Role
from caseflow_kit.http import Refused, caller

from .deps import RoutingRuntime, reload_directory
from .store import case_view, station_load


def routers(runtime: RoutingRuntime) -> Sequence[APIRouter]:
    api = APIRouter(tags=["routing"])

    @api.get("/cases/{case_id}", summary="Who holds a case, who supervises it at which level, and its history")
    async def get_case(case_id: CaseId, who: Annotated[Principal, caller(Role.CASES_READER)]) -> dict[str, Any]:
        view = await case_view(runtime.store, case_id)
        if view is None:
            raise Refused(404, "not_found", f"no case {case_id}")
        return view

    @api.get(
        "/stations/{code}",
        summary="A unit of the directory: its calendar, its chain up the ladder and the open cases it holds",
    )
    async def get_station(
        code: StationCode,
        who: Annotated[Principal, caller(Role.CASES_READER, Role.STATION_AGENT, station_param="code")],
    ) -> dict[str, Any]:
        directory = runtime.deps.directory.index
        if code not in directory:
            raise Refused(404, "not_found", f"no station {code}")
        station = directory.by_code[code]
        return {
            **station.model_dump(mode="json"),
            "calendar": runtime.deps.directory.current.calendars.name_for(code),
            "chain": list(directory.chain(code)),
            "open_cases": await station_load(runtime.store, code),
            "version": directory.version,
        }

    @api.post("/admin/directory/reload", summary="Re-read the station directory now (an invalid file is refused)")
    async def reload_now(who: Annotated[Principal, caller(Role.OPS_ADMIN)]) -> JSONResponse:
        result = await reload_directory(runtime.deps)
        return JSONResponse(asdict(result), status_code=422 if result.error else 200)

    return [api]
