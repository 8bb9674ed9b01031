"""Settings from the environment (12-factor): what every service needs."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Literal

from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from .auth import AuthConfig, TokenVerifier, key_source


def _env(name: str) -> AliasChoices:
    return AliasChoices(name)


class KitSettings(BaseSettings):
    """Common settings. A service subclasses it to add its own (rules files, keys)."""

    model_config = SettingsConfigDict(env_prefix="CASEFLOW_", extra="ignore", frozen=True)

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        validation_alias=_env("KAFKA_BOOTSTRAP_SERVERS"),
        description="Kafka brokers, host:port,...",
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT",
        validation_alias=_env("KAFKA_SECURITY_PROTOCOL"),
        description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        default="PLAIN",
        validation_alias=_env("KAFKA_SASL_MECHANISM"),
        description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
    )
    kafka_sasl_username: str | None = Field(
        default=None, validation_alias=_env("KAFKA_SASL_USERNAME"), description="SASL user"
    )
    kafka_sasl_password: SecretStr | None = Field(
        default=None, validation_alias=_env("KAFKA_SASL_PASSWORD"), description="SASL password (a Secret)"
    )
    kafka_idempotence: bool = Field(
        default=False, description="Idempotent producer; turn on with a real Kafka (Tansu does not support it)"
    )
    kafka_ssl_cafile: Path | None = Field(
        default=None, validation_alias=_env("KAFKA_SSL_CAFILE"), description="CA bundle for TLS"
    )
    kafka_ssl_certfile: Path | None = Field(
        default=None, validation_alias=_env("KAFKA_SSL_CERTFILE"), description="Client certificate (mutual TLS)"
    )
    kafka_ssl_keyfile: Path | None = Field(
        default=None, validation_alias=_env("KAFKA_SSL_KEYFILE"), description="Client key (mutual TLS)"
    )

    mongodb_url: SecretStr | None = Field(
        default=None, validation_alias=_env("MONGODB_URL"), description="Use MongoDB; SQLite when unset"
    )
    mongodb_database: str | None = Field(default=None, description="Defaults to caseflow_<service>")
    data_dir: Path = Field(default=Path("data"), description="Where SQLite files live")

    topic_prefix: str = Field(default="", description="Prepended to every topic name (test isolation, shared clusters)")
    group_id: str | None = Field(
        default=None, description="Consumer group; defaults to <topic prefix>caseflow-<service>"
    )
    http_host: str = Field(default="0.0.0.0", description="HTTP bind address")  # noqa: S104 - a pod listens on all interfaces
    http_port: int | None = Field(default=None, description="Health, metrics and read endpoints; per-service default")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO", description="Log level")
    log_format: Literal["json", "console"] = Field(default="json", description="json (one object per line) or console")

    batch_max_records: int = Field(
        default=500, ge=1, le=10_000, description="Records per consumed batch (one offset commit)"
    )
    commit_slice: int = Field(
        default=100,
        ge=1,
        le=10_000,
        description="Records per store transaction; the next slice is handled while one commits",
    )
    fetch_max_wait_ms: int = Field(
        default=200,
        ge=1,
        le=5000,
        description="Longest wait for a batch to fill: every fetch costs the broker per partition it names, full"
        " or empty, so fewer, fuller fetches under moderate load; a quiet suite adds up to this per hop (README,"
        " Performance)",
    )
    fetch_min_bytes: int = Field(
        default=65_536,
        ge=1,
        le=52_428_800,
        description="Bytes a fetch waits for (up to fetch_max_wait_ms): fewer, fuller batches under moderate load",
    )
    max_attempts: int = Field(default=3, ge=1, le=20, description="Handler attempts before dead-lettering")
    retry_backoff_ms: int = Field(default=100, ge=0, description="First retry delay; doubles per attempt")
    outbox_interval_ms: int = Field(
        default=200,
        ge=10,
        description="How often the relay looks for its slots' events committed by another replica (HTTP commands)",
    )
    handover_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="On a rebalance, how long to keep publishing the slots being taken away before the next holder does",
    )
    max_request_size: int = Field(
        default=1_048_576,
        ge=65_536,
        le=104_857_600,
        description="Largest record the broker takes (its message.max.bytes); a larger event is parked, not retried",
    )
    dead_letter_inline_bytes: int = Field(
        default=524_288,
        ge=1024,
        description="A dead letter carries the original bytes up to this size; beyond, a reference to the store",
    )
    processed_retention_days: int | None = Field(
        default=None,
        ge=1,
        description="How long consumed event ids are remembered; default and minimum: the longest retention of"
        " the topics consumed, plus a day",
    )
    gc_young_threshold: int = Field(
        default=50_000,
        ge=100,
        le=10_000_000,
        description="Allocations between collections of Python's youngest GC generation (Python's default is 700)",
    )
    session_timeout_ms: int = Field(
        default=10_000,
        ge=1000,
        le=300_000,
        description="Consumer session timeout: how soon a dead replica's partitions move",
    )
    heartbeat_interval_ms: int = Field(default=3000, ge=100, le=60_000, description="Consumer heartbeat period")
    auto_offset_reset: Literal["earliest", "latest"] = Field(
        default="earliest", description="Where a new consumer group starts"
    )
    event_loop: Literal["auto", "uvloop", "asyncio"] = Field(
        default="auto", description="The event loop: uvloop (libuv) when installed under auto, or the standard one"
    )
    rules_reload_s: float = Field(
        default=10.0,
        ge=0,
        le=3600,
        description="How often a service looks for changed rules files (a valid change takes effect); 0 = never",
    )
    crash_after_commit: str = Field(
        default="",
        pattern=r"^([a-z_]+\.[a-z_]+)?$",
        description="Test hook: SIGKILL the process right after it commits an event of this type, before publishing",
    )

    auth_issuer: str = Field(default="", description="Token issuer (`iss`) the HTTP edge accepts; required to start")
    auth_audience: str = Field(default="caseflow", description="Token audience (`aud`) the HTTP edge accepts")
    auth_jwks_url: str | None = Field(default=None, description="The issuer's JWKS (OIDC `jwks_uri`)")
    auth_public_key_file: Path | None = Field(
        default=None, description="A PEM public key instead of a JWKS (the embedded stack's local issuer)"
    )
    auth_algorithms: list[str] = Field(
        default=["RS256", "ES256", "EdDSA"], description="Accepted token `alg` values (asymmetric only)"
    )
    auth_leeway_s: int = Field(default=30, ge=0, le=300, description="Clock skew allowed on exp / nbf")
    auth_roles_claim: str = Field(default="roles", description="Token claim with the roles (dotted path)")
    auth_stations_claim: str = Field(default="stations", description="Token claim with the caller's station codes")
    auth_jwks_cache_s: float = Field(default=300.0, gt=0, description="How long fetched JWKS keys are trusted")
    auth_jwks_min_refresh_s: float = Field(
        default=30.0, ge=0, description="Least time between JWKS fetches caused by an unknown key id"
    )
    http_max_body_bytes: int = Field(
        default=65_536, ge=1024, le=10_485_760, description="Larger request bodies are refused with 413"
    )


def token_verifier(settings: KitSettings) -> TokenVerifier:
    """The HTTP edge's token verifier; raises ValueError on an unsafe or missing configuration (start-up)."""
    if not settings.auth_issuer:
        raise ValueError("set CASEFLOW_AUTH_ISSUER: the HTTP edge verifies tokens of one issuer")
    config = AuthConfig(
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
        algorithms=frozenset(settings.auth_algorithms),
        leeway_s=settings.auth_leeway_s,
        roles_claim=settings.auth_roles_claim,
        stations_claim=settings.auth_stations_claim,
    )
    keys = key_source(
        settings.auth_jwks_url,
        settings.auth_public_key_file,
        cache_s=settings.auth_jwks_cache_s,
        min_refresh_s=settings.auth_jwks_min_refresh_s,
    )
    return TokenVerifier(config, keys)


def kafka_tls_context(settings: KitSettings) -> ssl.SSLContext | None:
    """The TLS context of an SSL or SASL_SSL connection to Kafka; None for plaintext."""
    if settings.kafka_security_protocol not in ("SSL", "SASL_SSL"):
        return None
    context = ssl.create_default_context(cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None)
    if settings.kafka_ssl_certfile:
        context.load_cert_chain(
            str(settings.kafka_ssl_certfile), str(settings.kafka_ssl_keyfile) if settings.kafka_ssl_keyfile else None
        )
    return context


def kafka_security(settings: KitSettings) -> BaseSecurity | None:
    """The same settings as FastStream's security object."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = kafka_tls_context(settings)
    if protocol == "SSL":
        return BaseSecurity(ssl_context=context, use_ssl=True)
    username = settings.kafka_sasl_username or ""
    password = settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else ""
    sasl = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}[
        settings.kafka_sasl_mechanism
    ]
    return sasl(username, password, ssl_context=context, use_ssl=protocol == "SASL_SSL")
