"""HTTP edge of a service: health, readiness, metrics, and the service's read endpoints."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    params: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass(frozen=True)
class Response:
    status: int
    body: Any

    @classmethod
    def not_found(cls, what: str) -> Response:
        return cls(404, {"error": "not_found", "detail": what})

    @classmethod
    def bad_request(cls, detail: str) -> Response:
        return cls(400, {"error": "bad_request", "detail": detail})


Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Route:
    """`Route("GET", "/cases/{case_id}", endpoint)`: a read (or review) endpoint of a service."""

    method: str
    path: str
    endpoint: Endpoint

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method != self.method:
            return None
        pattern = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.path) + "$"
        found = re.match(pattern, path)
        return found.groupdict() if found else None


async def _send(send: Send, status: int, body: bytes, content_type: str) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", content_type.encode())]})
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


class HttpEdge:
    """Serves /healthz, /readyz, /metrics and the routes; hands everything else (lifespan, AsyncAPI) to `inner`."""

    def __init__(
        self,
        inner: ASGIApp,
        routes: list[Route],
        ready: Callable[[], Awaitable[dict[str, bool]]],
        registry: Any,
    ) -> None:
        self.inner = inner
        self.routes = routes
        self.ready = ready
        self.registry = registry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        if path == "/healthz":
            await _send(send, 200, b'{"status":"alive"}', "application/json")
        elif path == "/readyz":
            checks = await self.ready()
            ok = all(checks.values())
            body = json.dumps({"status": "ready" if ok else "not_ready", "checks": checks}).encode()
            await _send(send, 200 if ok else 503, body, "application/json")
        elif path == "/metrics":
            await _send(send, 200, generate_latest(self.registry), CONTENT_TYPE_LATEST)
        else:
            for route in self.routes:
                params = route.match(method, path)
                if params is not None:
                    query = {k: v[-1] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}
                    request = Request(method, path, params, query, await _read_body(receive))
                    response = await route.endpoint(request)
                    body = json.dumps(response.body, ensure_ascii=False, default=str).encode()
                    await _send(send, response.status, body, "application/json; charset=utf-8")
                    return
            await self.inner(scope, receive, send)
