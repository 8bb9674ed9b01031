"""The HTTP edge of a service: FastAPI beside the FastStream app.

Health, readiness, metrics and the AsyncAPI page need no token; every other route
declares its roles with `caller(...)`. Every refusal is an RFC 9457 problem+json body
(naming the field when a field is at fault), logged without personal data or tokens, and
counted in `caseflow_http_refusals_total{route,reason}`. Bodies larger than
`http_max_body_bytes` are refused with 413 by Starlette's body-limit middleware.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from . import logs
from .asyncapi import page
from .auth import Forbidden, KeysUnavailable, Principal, Role, TokenVerifier, Unauthenticated, authorize

log = logging.getLogger("caseflow.http")
PROBLEM = "application/problem+json"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$")
_STATUS_REASONS = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}
_PROBLEM_BODY = {"content": {PROBLEM: {"schema": {"type": "object"}}}}
#: Documented on every route that needs a token (RFC 9457 problem documents).
REFUSALS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Malformed body (not JSON)", **_PROBLEM_BODY},
    401: {"description": "No valid bearer token (see WWW-Authenticate)", **_PROBLEM_BODY},
    403: {"description": "The token lacks the role, or the station scope", **_PROBLEM_BODY},
    404: {"description": "No such resource", **_PROBLEM_BODY},
    413: {"description": "Body larger than CASEFLOW_HTTP_MAX_BODY_BYTES", **_PROBLEM_BODY},
    422: {"description": "Invalid request; `errors` names each field", **_PROBLEM_BODY},
}


class Refused(Exception):
    """A call the service refuses: raised by endpoints, answered as problem+json (`field` names the culprit)."""

    def __init__(self, status: int, reason: str, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.reason = reason
        self.detail = detail
        self.field = field


class Edge:
    """What the edge's handlers share: the verifier (built at start-up), the refusal counter."""

    def __init__(self, service: str, registry: CollectorRegistry) -> None:
        self.service = service
        self.verifier: TokenVerifier | None = None
        self.refusals = Counter(
            "caseflow_http_refusals",
            "HTTP calls refused, by route template and reason",
            ["route", "reason"],
            registry=registry,
        )


def route_of(request: Request) -> str:
    """The matched route template (bounded label values), never the raw path with its ids."""
    route = request.scope.get("route")
    return str(getattr(route, "path", "unmatched"))


def request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", ""))


def problem(
    request: Request,
    status: int,
    reason: str,
    detail: str,
    *,
    errors: Sequence[dict[str, Any]] = (),
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """An RFC 9457 problem document; the refusal is counted and logged (route template and reason only)."""
    edge: Edge = request.app.state.edge
    route = route_of(request)
    edge.refusals.labels(route=route, reason=reason).inc()
    log.info(
        "request refused",
        extra=logs.log_fields(
            method=request.method, route=route, status=status, reason=reason, request_id=request_id(request)
        ),
    )
    body: dict[str, Any] = {
        "type": f"https://caseflow.example/problems/{reason.replace('_', '-')}",
        "title": reason.replace("_", " "),
        "status": status,
        "detail": detail,
        "instance": f"urn:caseflow:request:{request_id(request)}",
    }
    if errors:
        body["errors"] = list(errors)
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _field(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or str(loc[0] if loc else "body")


async def _invalid(request: Request, exc: RequestValidationError) -> Response:
    found = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in found):
        return problem(request, 400, "malformed_body", "the body is not valid JSON")
    # The caller's own input is not echoed back (it may hold personal data).
    errors = [{"field": _field(e.get("loc", ())), "message": str(e.get("msg", ""))} for e in found[:20]]
    names = ", ".join(dict.fromkeys(e["field"] for e in errors))
    return problem(request, 422, "invalid_request", f"invalid: {names}", errors=errors)


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    reason = _STATUS_REASONS.get(exc.status_code, "refused")
    headers = dict(exc.headers or {})
    return problem(request, exc.status_code, reason, str(exc.detail), headers=headers or None)


async def _unauthenticated(request: Request, exc: Unauthenticated) -> Response:
    challenge = 'Bearer realm="caseflow"'
    if exc.reason != "missing_token":  # RFC 6750 §3: no error code when no credentials were sent
        challenge += f', error="invalid_token", error_description="{exc.reason}"'
    return problem(
        request, 401, exc.reason, "a valid bearer token is required", headers={"WWW-Authenticate": challenge}
    )


async def _forbidden(request: Request, exc: Forbidden) -> Response:
    return problem(request, 403, exc.reason, exc.detail)


async def _refused(request: Request, exc: Refused) -> Response:
    errors = [{"field": exc.field, "message": exc.detail}] if exc.field else []
    return problem(request, exc.status, exc.reason, exc.detail, errors=errors)


async def _keys_unavailable(request: Request, exc: Exception) -> Response:
    log.warning("token keys unavailable", extra=logs.log_fields(detail=str(exc)))
    return problem(request, 503, "auth_unavailable", "the token issuer's keys cannot be fetched; try again")


async def _internal(request: Request, exc: Exception) -> Response:
    log.exception("request failed", extra=logs.log_fields(route=route_of(request), request_id=request_id(request)))
    return problem(request, 500, "internal_error", "the service failed; quote the request id in `instance`")


_bearer = HTTPBearer(auto_error=False, description="OAuth2 / OIDC access token (JWT) of the configured issuer")


async def authenticated(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthenticated("missing_token")
    edge: Edge = request.app.state.edge
    if edge.verifier is None:
        raise KeysUnavailable("the service is starting")
    return await edge.verifier.verify(credentials.credentials)


def caller(*roles: Role, station_param: str | None = None) -> Any:
    """A FastAPI dependency: the verified caller, holding one of `roles`.

    `station_param` names the path (or query) parameter holding the station a route is about:
    a `station.agent` token must name that station (and must give one when it is a query parameter).
    """
    allowed = frozenset(roles)

    async def dependency(request: Request, principal: Annotated[Principal, Depends(authenticated)]) -> Principal:
        station = None
        if station_param:
            station = request.path_params.get(station_param) or request.query_params.get(station_param, "")
        authorize(principal, allowed, station)
        return principal

    return Depends(dependency)


class RequestIds:
    """Gives every request an id (the caller's `X-Request-ID` when well-formed) and returns it as a header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers", [])).get(b"x-request-id", b"").decode("latin-1")
        rid = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_id(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        await self.app(scope, receive, send_with_id)


def build_app(
    *,
    service: str,
    edge: Edge,
    routers: Sequence[APIRouter],
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None,
    ready: Callable[[], Awaitable[dict[str, bool]]],
    registry: CollectorRegistry,
    asyncapi: Callable[[], dict[str, Any]],
    max_body_bytes: int,
    description: str = "",
) -> FastAPI:
    app = FastAPI(
        title=f"caseflow {service}",
        version="1.0.0",
        description=description,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
        max_body_size=max_body_bytes,
    )
    app.state.edge = edge
    app.add_middleware(RequestIds)
    handlers: Sequence[tuple[type[Exception], Callable[..., Awaitable[Response]]]] = (
        (RequestValidationError, _invalid),
        (StarletteHTTPException, _http_error),
        (Unauthenticated, _unauthenticated),
        (Forbidden, _forbidden),
        (Refused, _refused),
        (KeysUnavailable, _keys_unavailable),
        (Exception, _internal),
    )
    for kind, handler in handlers:
        app.exception_handler(kind)(handler)

    ops = APIRouter(tags=["operations"])

    @ops.get("/healthz", summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @ops.get("/readyz", summary="Readiness: store and broker reachable, consumers running")
    async def readyz() -> JSONResponse:
        checks = await ready()
        ok = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ok else "not_ready", "checks": checks}, status_code=200 if ok else 503
        )

    @ops.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    asyncapi_page: list[str] = []

    @ops.get("/docs/asyncapi", summary="The service's AsyncAPI page", response_class=HTMLResponse)
    async def asyncapi_html() -> HTMLResponse:
        if not asyncapi_page:
            asyncapi_page.append(page(asyncapi()))
        return HTMLResponse(asyncapi_page[0])

    @ops.get("/docs/asyncapi.json", summary="The service's AsyncAPI document: its channels and messages")
    async def asyncapi_json() -> dict[str, Any]:
        return asyncapi()

    app.include_router(ops)
    for router in routers:
        app.include_router(router, responses=REFUSALS)
    return app
