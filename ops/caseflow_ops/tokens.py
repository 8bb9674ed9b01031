"""A local token issuer for the embedded stack, the tests and `caseflowctl token`.

Production verifies tokens of the organisation's OIDC provider (CASEFLOW_AUTH_JWKS_URL).
Without one, the embedded stack makes an ES256 key pair under `<data dir>/auth/` (the
private key readable by its owner only), points the services at the public key, and this
module mints short-lived tokens with the private one:

    caseflowctl token --role claims.reviewer --station SH-PD-01
"""

from __future__ import annotations

import getpass
import hashlib
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

LOCAL_ISSUER = "caseflow-local"
AUDIENCE = "caseflow"
ALGORITHM = "ES256"
MAX_TTL_S = 12 * 3600


@dataclass(frozen=True)
class LocalIssuer:
    private_key_file: Path
    public_key_file: Path
    issuer: str = LOCAL_ISSUER
    audience: str = AUDIENCE

    @classmethod
    def at(cls, data_dir: Path) -> LocalIssuer:
        folder = data_dir / "auth"
        return cls(folder / "issuer-key.pem", folder / "issuer-key.pub.pem")

    @classmethod
    def ensure(cls, data_dir: Path) -> LocalIssuer:
        """The issuer under `data_dir`, its key pair made on first use."""
        issuer = cls.at(data_dir)
        if not issuer.private_key_file.exists():
            issuer.private_key_file.parent.mkdir(parents=True, exist_ok=True)
            key = ec.generate_private_key(ec.SECP256R1())
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            issuer.private_key_file.touch(mode=0o600)
            issuer.private_key_file.write_bytes(pem)
            issuer.public_key_file.write_bytes(
                key.public_key().public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            )
        return issuer

    def env(self) -> dict[str, str]:
        """What a service needs to verify this issuer's tokens."""
        return {
            "CASEFLOW_AUTH_ISSUER": self.issuer,
            "CASEFLOW_AUTH_AUDIENCE": self.audience,
            "CASEFLOW_AUTH_PUBLIC_KEY_FILE": str(self.public_key_file.resolve()),
        }

    def settings(self) -> dict[str, Any]:
        return {
            "auth_issuer": self.issuer,
            "auth_audience": self.audience,
            "auth_public_key_file": self.public_key_file,
        }

    def key_id(self) -> str:
        return hashlib.sha256(self.public_key_file.read_bytes()).hexdigest()[:16]

    def mint(
        self,
        subject: str,
        roles: list[str],
        stations: list[str] | None = None,
        *,
        ttl_s: int = 900,
        now: float | None = None,
        **claims: Any,
    ) -> str:
        if not 0 < ttl_s <= MAX_TTL_S:
            raise ValueError(f"a local token lives between 1 s and {MAX_TTL_S} s")
        issued = int(time.time() if now is None else now)
        payload = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "iat": issued,
            "nbf": issued,
            "exp": issued + ttl_s,
            "roles": roles,
            "stations": stations or [],
            **claims,
        }
        key = self.private_key_file.read_bytes()
        return jwt.encode(payload, key, algorithm=ALGORITHM, headers={"kid": self.key_id()})


def default_subject() -> str:
    """`dev-<login>`, as an opaque id (the actor id travels on events)."""
    return "dev-" + (re.sub(r"[^A-Za-z0-9._-]", "-", getpass.getuser()) or "operator")
