"""The kit's token verification: forged tokens, the JWKS cache against a real local HTTP server, roles and scopes."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec

from caseflow_dev.broker import free_port
from caseflow_dev.testing import forged_tokens
from caseflow_kit.auth import (
    AuthConfig,
    Forbidden,
    JwksKeys,
    KeysUnavailable,
    Principal,
    Role,
    StaticKey,
    TokenVerifier,
    Unauthenticated,
    authorize,
    principal_from,
)
from caseflow_ops.tokens import LocalIssuer

CONFIG = AuthConfig(issuer="caseflow-local", audience="caseflow", algorithms=frozenset({"ES256"}), leeway_s=30)


def verifier(issuer: LocalIssuer) -> TokenVerifier:
    return TokenVerifier(CONFIG, StaticKey(issuer.public_key_file.read_bytes()))


async def test_a_good_token_gives_the_caller_from_its_claims_only(tmp_path: Path) -> None:
    issuer = LocalIssuer.ensure(tmp_path)
    token = issuer.mint("hq-7", ["claims.reviewer", "cases.reader"], ["SH-PD-01", "not a code"])
    who = await verifier(issuer).verify(token)
    assert who == Principal("hq-7", frozenset({"claims.reviewer", "cases.reader"}), frozenset({"SH-PD-01"}))


@pytest.mark.parametrize(
    ("attack", "reason"),
    [
        ("garbage", "malformed"),
        ("alg_none", "alg_not_allowed"),
        ("hmac_with_public_key", "alg_not_allowed"),
        ("expired", "expired"),
        ("not_yet_valid", "not_yet_valid"),
        ("wrong_issuer", "wrong_issuer"),
        ("wrong_audience", "wrong_audience"),
        ("other_key", "bad_signature"),
    ],
)
async def test_forged_tokens_are_refused_with_a_reason(tmp_path: Path, attack: str, reason: str) -> None:
    issuer = LocalIssuer.ensure(tmp_path / "issuer")
    token = forged_tokens(issuer, ["claims.reviewer"], tmp_path / "elsewhere")[attack]
    with pytest.raises(Unauthenticated) as refused:
        await verifier(issuer).verify(token)
    assert refused.value.reason == reason


async def test_a_token_without_expiry_or_with_a_name_for_subject_is_refused(tmp_path: Path) -> None:
    issuer = LocalIssuer.ensure(tmp_path)
    key = issuer.private_key_file.read_bytes()
    no_exp = jwt.encode({"iss": "caseflow-local", "aud": "caseflow", "sub": "x"}, key, algorithm="ES256")
    with pytest.raises(Unauthenticated, match="missing_claim"):
        await verifier(issuer).verify(no_exp)
    with pytest.raises(Unauthenticated, match="bad_subject"):
        await verifier(issuer).verify(issuer.mint("li.lei@example.org", ["cases.reader"]))


def test_hmac_or_none_can_never_be_allowed(tmp_path: Path) -> None:
    key = StaticKey(LocalIssuer.ensure(tmp_path).public_key_file.read_bytes())
    for algorithms in ({"HS256"}, {"none"}, {"ES256", "HS512"}, set()):
        with pytest.raises(ValueError, match="asymmetric"):
            TokenVerifier(replace(CONFIG, algorithms=frozenset(algorithms)), key)


def test_roles_and_station_scope() -> None:
    agent = Principal("a", frozenset({"station.agent"}), frozenset({"SH-PD-01"}))
    arbiter = Principal("b", frozenset({"claims.arbiter"}), frozenset())
    authorize(agent, {Role.STATION_AGENT, Role.CLAIMS_ARBITER}, "SH-PD-01")
    authorize(arbiter, {Role.STATION_AGENT, Role.CLAIMS_ARBITER}, "SH-PD-01")  # network-wide role
    with pytest.raises(Forbidden, match="station_scope"):
        authorize(agent, {Role.STATION_AGENT}, "HZ-XH-01")
    with pytest.raises(Forbidden, match="station_scope"):
        authorize(agent, {Role.STATION_AGENT}, "")  # a station-scoped route must name the station
    with pytest.raises(Forbidden, match="missing_role"):
        authorize(agent, {Role.CLAIMS_REVIEWER})
    keycloak = {"sub": "u1", "realm_access": {"roles": ["cases.reader"]}, "scope": "openid SH-PD-01"}
    who = principal_from(keycloak, "realm_access.roles", "scope")
    assert (who.roles, who.stations) == (frozenset({"cases.reader"}), frozenset({"SH-PD-01"}))


class Issuer:
    """A real OIDC-like JWKS endpoint on loopback, counting fetches; keys can be rotated."""

    def __init__(self) -> None:
        self.keys: dict[str, ec.EllipticCurvePrivateKey] = {}
        self.fetches = 0
        self.up = True
        self.url = ""

    def rotate(self, kid: str) -> None:
        self.keys[kid] = ec.generate_private_key(ec.SECP256R1())

    def mint(self, kid: str, now: int = 2_000_000_000) -> str:
        claims = {"iss": "caseflow-local", "aud": "caseflow", "sub": "u1", "exp": now + 600, "roles": []}
        return jwt.encode(claims, self.keys[kid], algorithm="ES256", headers={"kid": kid})

    async def jwks(self, request: web.Request) -> web.Response:
        self.fetches += 1
        if not self.up:
            return web.Response(status=503)
        keys = [
            {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(k.public_key())), "kid": kid, "alg": "ES256"}
            for kid, k in self.keys.items()
        ]
        keys.append({"kty": "oct", "kid": "shared", "k": "c2VjcmV0"})  # a symmetric key is never used
        return web.json_response({"keys": keys})


@pytest.fixture
async def issuer() -> AsyncIterator[Issuer]:
    served = Issuer()
    app = web.Application()
    app.router.add_get("/jwks", served.jwks)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    served.url = f"http://127.0.0.1:{port}/jwks"
    yield served
    await runner.cleanup()


async def test_jwks_is_cached_and_fetched_again_for_an_unknown_key_id(issuer: Issuer) -> None:
    now = [1000.0]
    keys = JwksKeys(issuer.url, cache_s=300, min_refresh_s=30, clock=lambda: now[0])
    check = TokenVerifier(replace(CONFIG, leeway_s=0), keys)
    issuer.rotate("k1")
    await check.verify(issuer.mint("k1", now=int(time.time())))
    await check.verify(issuer.mint("k1", now=int(time.time())))
    assert issuer.fetches == 1  # cached
    issuer.rotate("k2")
    now[0] += 31
    await check.verify(issuer.mint("k2", now=int(time.time())))  # unknown kid: fetched again
    assert issuer.fetches == 2
    for n in range(20):  # a flood of unknown key ids does not flood the issuer
        with pytest.raises(Unauthenticated, match="unknown_key"):
            await keys.key_for(f"nope-{n}", "ES256")
    assert issuer.fetches == 2
    with pytest.raises(Unauthenticated, match="unknown_key"):
        await keys.key_for("shared", "HS256")
    issuer.up = False
    now[0] += 301
    await check.verify(issuer.mint("k1", now=int(time.time())))  # issuer down: cached keys serve
    assert issuer.fetches == 3


async def test_no_keys_at_all_is_unavailable_not_unauthenticated(issuer: Issuer) -> None:
    issuer.up = False
    with pytest.raises(KeysUnavailable):
        await JwksKeys(issuer.url).key_for("k1", "ES256")
