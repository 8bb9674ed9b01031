"""Routing's HTTP endpoints: a case's holder, level and history; the station directory and its reload."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict

from caseflow_kit import Request, Response, Route, Runtime

from .deps import RoutingDeps
from .directory import ReloadResult
from .settings import RoutingSettings
from .store import case_view, seed_loads, station_load

log = logging.getLogger("caseflow.routing.api")
RoutingRuntime = Runtime[RoutingSettings, RoutingDeps]


async def reload_directory(runtime: RoutingRuntime, *, force: bool = False) -> ReloadResult:
    """Swap in an edited directory (when valid) and give its new stations their open-case counters."""
    # Reading and validating thousands of stations takes a moment: off the event loop.
    result = await asyncio.to_thread(runtime.deps.directory.reload, force=force)
    if result.changed:
        await seed_loads(runtime.store, runtime.unit_of_work, runtime.deps.directory.current.by_code)
    return result


def routes(runtime: RoutingRuntime) -> list[Route]:
    async def get_case(request: Request) -> Response:
        view = await case_view(runtime.store, request.params["case_id"])
        return Response(200, view) if view is not None else Response.not_found(request.params["case_id"])

    async def get_station(request: Request) -> Response:
        directory = runtime.deps.directory.current
        code = request.params["code"]
        if code not in directory:
            return Response.not_found(code)
        station = directory.by_code[code]
        return Response(
            200,
            {
                **station.model_dump(mode="json"),
                "chain": list(directory.chain(code)),
                "open_cases": await station_load(runtime.store, code),
                "version": directory.version,
            },
        )

    async def reload_now(request: Request) -> Response:
        result = await reload_directory(runtime, force=True)
        body = asdict(result)
        return Response(422, body) if result.error else Response(200, body)

    return [
        Route("GET", "/cases/{case_id}", get_case),
        Route("GET", "/stations/{code}", get_station),
        Route("POST", "/admin/directory/reload", reload_now),
    ]


async def poll_directory(runtime: RoutingRuntime) -> None:
    """Background task: pick up directory edits without a restart (a bad file is refused and logged)."""
    while True:
        await asyncio.sleep(runtime.settings.directory_poll_seconds)
        try:
            await reload_directory(runtime)
        except Exception:  # a store hiccup must not end the poller; the next round tries again
            log.exception("directory reload failed")
