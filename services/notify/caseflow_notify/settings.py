"""Notify settings: the shared ones, the personal-data key, and where the channels are."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from caseflow_kit import KitSettings
from caseflow_kit.privacy import PiiSettings

DATA = Path(__file__).parent / "data"


class NotifySettings(KitSettings, PiiSettings):
    """Rules files, channel endpoints and their secrets (from a Kubernetes Secret)."""

    model_config = SettingsConfigDict(env_prefix="CASEFLOW_", extra="ignore", frozen=True)

    notify_policy_path: Path = Field(default=DATA / "policy.yaml", description="Who is told what, on which channel")
    notify_templates_dir: Path = Field(default=DATA / "templates", description="One folder per locale")

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_sender: str = Field(default="service@caseflow.example", description="From: address of customer e-mail")
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = Field(default=False, description="Upgrade to TLS with STARTTLS before anything else")
    smtp_implicit_tls: bool = Field(default=False, description="TLS from the first byte (SMTPS, usually port 465)")
    smtp_allow_plaintext_auth: bool = Field(
        default=False, description="Send SMTP credentials without TLS: only for a relay on this host or pod"
    )
    smtp_ca_file: Path | None = Field(
        default=None, description="A private CA bundle the relay's TLS certificate is checked against"
    )

    sms_gateway_url: str = Field(default="http://127.0.0.1:8099/sms", description="HTTP SMS gateway endpoint")
    sms_gateway_token: SecretStr = Field(default=SecretStr(""), description="Bearer token of the SMS gateway")

    webhook_targets: dict[str, str] = Field(
        default_factory=dict, description="Merchant or platform id -> webhook URL (JSON in the environment)"
    )
    webhook_secrets: dict[str, list[SecretStr]] = Field(
        default_factory=dict,
        description="Merchant or platform id -> its own HMAC secret, or [current, previous] while rotating (JSON)",
    )

    @field_validator("webhook_secrets", mode="before")
    @classmethod
    def _one_secret_or_two(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: [v] if isinstance(v, str | SecretStr) else v for k, v in value.items()}
        return value

    worker_batch: int = Field(default=500, ge=1, le=5000, description="Deliveries claimed per worker round")
    worker_max_in_flight: int = Field(default=512, ge=1, le=10_000)
    worker_poll_ms: int = Field(default=50, ge=1, le=10_000, description="Idle wait between worker rounds")
