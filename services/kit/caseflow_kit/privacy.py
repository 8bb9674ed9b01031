"""Personal data: masking for readers, sealing (AES-256-GCM) for the two services that hold the key,
pseudonyms (HMAC-SHA256 under a key of their own) for intake."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

_NOT_DIGIT = re.compile(r"\D")


def mask_phone(phone: str | None) -> str | None:
    """138****5678; short numbers keep only their last two digits."""
    if not phone:
        return None
    digits = _NOT_DIGIT.sub("", phone)
    if len(digits) >= 11:
        return f"{digits[-11:-8]}****{digits[-4:]}"
    return "*" * max(len(digits) - 2, 1) + digits[-2:]


def mask_name(name: str | None) -> str | None:
    """张*, 欧阳**, J*** D**."""
    if not name:
        return None
    if " " in name.strip():
        return " ".join(part[0] + "*" * (len(part) - 1) for part in name.split() if part)
    return name[0] + "*" * max(len(name) - 1, 1)


def mask_email(email: str | None) -> str | None:
    """z***@example.com."""
    if not email or "@" not in email:
        return None
    local, domain = email.split("@", 1)
    return f"{local[:1]}***@{domain}"


def mask_id_number(id_number: str | None) -> str | None:
    if not id_number:
        return None
    return id_number[:2] + "*" * max(len(id_number) - 4, 1) + id_number[-2:]


class PiiSettings(BaseSettings):
    """The personal-data key: given only to intake and notify, from a Kubernetes Secret."""

    model_config = SettingsConfigDict(env_prefix="CASEFLOW_", extra="ignore", frozen=True)

    pii_key: SecretStr = Field(description="base64 of 32 random bytes (AES-256-GCM)")
    pii_key_id: str = Field(default="k1", pattern=r"^[A-Za-z0-9._-]{1,32}$", description="Id of the current key")
    pii_old_keys: dict[str, SecretStr] = Field(
        default_factory=dict, description="Retired keys still able to open, JSON {id: base64}"
    )


class PseudonymSettings(BaseSettings):
    """The pseudonym key: intake's alone, from its own Kubernetes Secret, never rotated with the PII key."""

    model_config = SettingsConfigDict(env_prefix="CASEFLOW_", extra="ignore", frozen=True)

    pseudonym_key: SecretStr = Field(
        description="base64 of 32 random bytes (HMAC-SHA256 customer references); its own secret, never a "
        "CASEFLOW_PII_KEY: references must outlive PII key rotations"
    )


class SealError(ValueError):
    """A key or token that cannot be used (wrong size, not base64, does not open)."""


def _decode_key(secret: SecretStr, variable: str) -> bytes:
    try:
        return base64.b64decode(secret.get_secret_value(), validate=True)
    except ValueError:
        raise SealError(f"{variable} is not valid base64") from None


class Sealer:
    """Encrypts personal data into a token only key holders can open; pseudonymises ids."""

    def __init__(self, key_id: str, key: bytes, old_keys: dict[str, bytes] | None = None) -> None:
        if len(key) != 32:
            raise SealError("the personal-data key must be 32 bytes (base64 of 32 random bytes)")
        self.key_id = key_id
        self._keys = {**(old_keys or {}), key_id: key}
        self._aead = {kid: AESGCM(k) for kid, k in self._keys.items()}

    @classmethod
    def from_settings(cls, settings: PiiSettings) -> Sealer:
        old = {kid: _decode_key(k, "CASEFLOW_PII_OLD_KEYS") for kid, k in settings.pii_old_keys.items()}
        return cls(settings.pii_key_id, _decode_key(settings.pii_key, "CASEFLOW_PII_KEY"), old)

    def holds(self, key: bytes) -> bool:
        """Whether `key` is one of the sealing keys, current or retired."""
        return any(hmac.compare_digest(key, own) for own in self._keys.values())

    def seal(self, data: dict[str, Any]) -> str:
        nonce = os.urandom(12)
        plain = orjson.dumps(data)
        sealed = self._aead[self.key_id].encrypt(nonce, plain, self.key_id.encode())
        return base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, token: str, key_id: str) -> dict[str, Any]:
        aead = self._aead.get(key_id)
        if aead is None:
            raise SealError(f"no key {key_id!r} to open this token")
        try:
            raw = base64.urlsafe_b64decode(token.encode())
            plain = aead.decrypt(raw[:12], raw[12:], key_id.encode())
        except (InvalidTag, ValueError):
            raise SealError("token does not open with this key") from None
        data: dict[str, Any] = orjson.loads(plain)
        return data


class Pseudonymiser:
    """Stable keyed hashes of customer identifiers, under a key that is not a sealing key.

    A reference must stay the same for years (claim history, the frequent-claimant flag), while the
    sealing key is rotated: a pseudonym under the sealing key changed every customer's reference at
    each rotation. So the two are separate secrets, and the pseudonym key is refused if it is one of
    the sealing keys.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise SealError("the pseudonym key must be 32 bytes (base64 of 32 random bytes)")
        self._key = key

    @classmethod
    def from_settings(cls, settings: PseudonymSettings, *, sealer: Sealer) -> Pseudonymiser:
        key = _decode_key(settings.pseudonym_key, "CASEFLOW_PSEUDONYM_KEY")
        if sealer.holds(key):
            raise SealError("CASEFLOW_PSEUDONYM_KEY must be its own secret, not a personal-data sealing key")
        return cls(key)

    def pseudonym(self, *parts: str) -> str:
        """The same customer gives the same reference, which reveals nothing."""
        digest = hmac.new(self._key, "|".join(parts).encode(), hashlib.sha256).hexdigest()
        return "cust-" + digest[:32]
