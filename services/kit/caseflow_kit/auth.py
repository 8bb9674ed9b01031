"""Who is calling: OAuth2 / OIDC bearer JWTs verified with PyJWT, and what their roles allow.

One module for every service. A token is accepted only when its signature checks against
the issuer's key (a configured public key, or the issuer's JWKS: fetched, cached, fetched
again when a token names a key id not seen yet, at most once per `auth_jwks_min_refresh_s`),
its `alg` is on the allow-list (asymmetric only: never `none`, never HMAC, so a public key
can never be used as a shared secret), and `iss`, `aud`, `exp`, `nbf` hold within a bounded
clock skew. The caller's identity (`sub`), roles and stations come from the token only.

PyJWT (with `cryptography`) does the cryptography and the registered-claim checks; this
module only chooses the key and maps failures to reasons a caller and a metric can read.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import httpx
import jwt
from jwt.api_jwk import PyJWK

#: Asymmetric signature algorithms only; `none` and HS* are refused whatever the settings say.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
#: An actor id travels on events: an opaque id, never an e-mail address or a name.
_SUBJECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$")
_STATION = re.compile(r"^[A-Z0-9][A-Z0-9\-]{1,31}$")


class Role(StrEnum):
    CASES_READER = "cases.reader"
    CLAIMS_REVIEWER = "claims.reviewer"
    CLAIMS_APPROVER = "claims.approver"
    CLAIMS_ARBITER = "claims.arbiter"
    FINANCE_AUDITOR = "finance.auditor"
    STATION_AGENT = "station.agent"
    OPS_ADMIN = "ops.admin"


class Unauthenticated(Exception):
    """No usable credentials: 401 with `WWW-Authenticate`. `reason` is a short code, safe to log and count."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Forbidden(Exception):
    """Authenticated, but not allowed to do this: 403."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


class KeysUnavailable(Exception):
    """The issuer's keys cannot be fetched and none are cached: 503, not the caller's fault."""


@dataclass(frozen=True)
class Principal:
    """The verified caller."""

    subject: str
    roles: frozenset[str]
    stations: frozenset[str]

    def has(self, role: Role) -> bool:
        return role.value in self.roles


# -- pure rules -------------------------------------------------------------------------------------


def authorize(principal: Principal, allowed: Collection[Role], station: str | None = None) -> None:
    """Raise Forbidden unless one of the caller's roles is allowed here.

    `station.agent` is scoped: it allows a route about a station only when the token names
    that station. Every other role is network-wide.
    """
    held = [role for role in allowed if principal.has(role)]
    if not held:
        raise Forbidden("missing_role", "needs one of the roles " + ", ".join(sorted(r.value for r in allowed)))
    if held == [Role.STATION_AGENT] and station is not None and station not in principal.stations:
        raise Forbidden("station_scope", "the token does not cover this station")


def claim_at(claims: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path (`realm_access.roles`), None when absent."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def as_strings(value: Any) -> frozenset[str]:
    """A claim given as a list of strings or as one space-separated string (OAuth2 `scope` style)."""
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(v for v in value if isinstance(v, str))
    return frozenset()


def principal_from(claims: Mapping[str, Any], roles_claim: str, stations_claim: str) -> Principal:
    subject = claims.get("sub")
    if not isinstance(subject, str) or not _SUBJECT.match(subject):
        raise Unauthenticated("bad_subject")
    stations = frozenset(s for s in as_strings(claim_at(claims, stations_claim)) if _STATION.match(s))
    return Principal(subject, as_strings(claim_at(claims, roles_claim)), stations)


# -- keys -------------------------------------------------------------------------------------------


class KeySource(Protocol):
    async def key_for(self, kid: str | None, alg: str) -> Any: ...


class StaticKey:
    """One configured public key (PEM), whatever the token's `kid`."""

    def __init__(self, pem: bytes) -> None:
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        self.key = load_pem_public_key(pem)

    async def key_for(self, kid: str | None, alg: str) -> Any:
        return self.key


class JwksKeys:
    """The issuer's JWKS: cached for `cache_s`; an unknown `kid` refetches at most every `min_refresh_s`."""

    def __init__(
        self,
        url: str,
        *,
        cache_s: float = 300.0,
        min_refresh_s: float = 30.0,
        timeout_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self.cache_s = cache_s
        self.min_refresh_s = min_refresh_s
        self.timeout_s = timeout_s
        self.clock = clock
        self.transport = transport
        self.keys: dict[str, PyJWK] = {}
        self.fetched_at: float | None = None
        self.fetches = 0
        self._lock = asyncio.Lock()

    def _age(self) -> float:
        return float("inf") if self.fetched_at is None else self.clock() - self.fetched_at

    async def key_for(self, kid: str | None, alg: str) -> Any:
        if self._age() > self.cache_s or (kid not in self.keys and self._age() >= self.min_refresh_s):
            await self._refresh(seen=self.fetched_at)
        key = self.keys.get(kid or "")
        if key is None:
            raise Unauthenticated("unknown_key")
        return key

    async def _refresh(self, seen: float | None) -> None:
        async with self._lock:
            if self.fetched_at != seen:
                return  # another request refreshed while this one waited
            try:
                async with httpx.AsyncClient(timeout=self.timeout_s, transport=self.transport) as client:
                    response = await client.get(self.url)
                    response.raise_for_status()
                    found = jwt.PyJWKSet.from_dict(response.json())
            except (httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
                if not self.keys:
                    raise KeysUnavailable(f"JWKS not available: {type(exc).__name__}") from None
                return  # keep serving the keys we have; the next unknown kid tries again
            finally:
                self.fetched_at = self.clock()
                self.fetches += 1
            # Symmetric (oct) keys in a JWKS are ignored: a shared secret never verifies a caller here.
            self.keys = {k.key_id: k for k in found.keys if k.key_id and k.algorithm_name in ASYMMETRIC_ALGORITHMS}


# -- verification -----------------------------------------------------------------------------------

_REASONS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "expired"),
    (jwt.ImmatureSignatureError, "not_yet_valid"),
    (jwt.InvalidAudienceError, "wrong_audience"),
    (jwt.InvalidIssuerError, "wrong_issuer"),
    (jwt.MissingRequiredClaimError, "missing_claim"),
    (jwt.InvalidSignatureError, "bad_signature"),
    (jwt.InvalidAlgorithmError, "alg_not_allowed"),
    (jwt.DecodeError, "malformed"),
)


@dataclass(frozen=True)
class AuthConfig:
    issuer: str
    audience: str
    algorithms: frozenset[str]
    leeway_s: int
    roles_claim: str = "roles"
    stations_claim: str = "stations"


class TokenVerifier:
    def __init__(self, config: AuthConfig, keys: KeySource) -> None:
        unsafe = config.algorithms - ASYMMETRIC_ALGORITHMS
        if unsafe or not config.algorithms:
            raise ValueError(f"only asymmetric JWT algorithms may be allowed, not {sorted(unsafe) or 'none'}")
        self.config = config
        self.keys = keys

    async def verify(self, token: str) -> Principal:
        config = self.config
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("malformed") from None
        alg = header.get("alg")
        if alg not in config.algorithms:
            raise Unauthenticated("alg_not_allowed")
        kid = header.get("kid")
        key = await self.keys.key_for(kid if isinstance(kid, str) else None, alg)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=config.audience,
                issuer=config.issuer,
                leeway=config.leeway_s,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            reason = next((why for kind, why in _REASONS if isinstance(exc, kind)), "invalid")
            raise Unauthenticated(reason) from None
        return principal_from(claims, config.roles_claim, config.stations_claim)


def key_source(
    jwks_url: str | None,
    public_key_file: Path | None,
    *,
    cache_s: float,
    min_refresh_s: float,
) -> KeySource:
    if public_key_file is not None:
        return StaticKey(public_key_file.read_bytes())
    if jwks_url:
        return JwksKeys(jwks_url, cache_s=cache_s, min_refresh_s=min_refresh_s)
    raise ValueError("set CASEFLOW_AUTH_JWKS_URL or CASEFLOW_AUTH_PUBLIC_KEY_FILE: the HTTP edge verifies tokens")
