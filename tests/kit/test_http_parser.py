"""The services' HTTP servers (and the local receivers of the suite's tools) parse requests with httptools."""

from __future__ import annotations

import uvicorn.config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


async def _app(scope: object, receive: object, send: object) -> None:
    raise AssertionError("never called")


def test_uvicorn_takes_the_c_parser() -> None:
    """uvicorn's default (`http="auto"`, as `caseflow_kit.runtime.serve` leaves it) is httptools when it is installed,
    else h11, pure Python, at about three times the CPU a request (README, Performance)."""
    config = uvicorn.config.Config(_app, log_config=None)
    config.load()

    assert config.http_protocol_class is HttpToolsProtocol
