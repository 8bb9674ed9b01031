"""Routing's HTTP endpoints: a case's holder, level and history; the station directory and its reload."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import asdict

from caseflow_kit import Request, Response, Route, Runtime

from .deps import RoutingDeps
from .settings import RoutingSettings
from .store import case_view

log = logging.getLogger("caseflow.routing.api")
RoutingRuntime = Runtime[RoutingSettings, RoutingDeps]


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
            200, {**station.model_dump(mode="json"), "chain": list(directory.chain(code)), "version": directory.version}
        )

    async def reload_directory(request: Request) -> Response:
        result = runtime.deps.directory.reload(force=True)
        body = asdict(result)
        return Response(422, body) if result.error else Response(200, body)

    return [
        Route("GET", "/cases/{case_id}", get_case),
        Route("GET", "/stations/{code}", get_station),
        Route("POST", "/admin/directory/reload", reload_directory),
    ]


async def poll_directory(runtime: RoutingRuntime) -> None:
    """Background task: pick up directory edits without a restart (a bad file is refused and logged)."""
    while True:
        await asyncio.sleep(runtime.settings.directory_poll_seconds)
        with contextlib.suppress(Exception):
            runtime.deps.directory.reload()
