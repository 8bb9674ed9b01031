"""The notification policy as data: which event tells whom what, on which channel, and how hard to try."""

from __future__ import annotations

import re
from datetime import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from caseflow_contracts.notify import NotifyChannel

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ChannelPolicy(_Strict):
    """Timeouts, retries, rate limit and circuit breaker of one channel."""

    timeout_s: float = Field(default=5.0, gt=0, le=120, description="Per send; the worker cuts off at twice this")
    max_attempts: int = Field(default=5, ge=1, le=50)
    backoff_base_s: float = Field(default=1.0, ge=0)
    backoff_max_s: float = Field(default=300.0, ge=0)
    jitter: float = Field(default=0.5, ge=0, le=1, description="Share of each delay drawn at random")
    rate_per_s: float = Field(default=100.0, gt=0, description="Sustained sends per second (token bucket)")
    burst: int = Field(default=100, ge=1)
    breaker_failures: int = Field(default=5, ge=1, description="Consecutive failures that open the breaker")
    breaker_reset_s: float = Field(default=30.0, gt=0, description="Open time before one trial send")
    lease_s: float = Field(default=60.0, gt=0, description="How long a claimed send may take before it is in doubt")
    on_uncertain: Literal["retry", "give_up"] = Field(
        default="retry",
        description="A send interrupted by a crash: retry with the same idempotency key, or fail it for a person",
    )

    @model_validator(mode="after")
    def _lease_covers_timeout(self) -> ChannelPolicy:
        if self.lease_s <= 2 * self.timeout_s:
            raise ValueError("lease_s must exceed twice timeout_s (the worker's backstop on a send)")
        return self


class QuietHours(_Strict):
    """Local-time window (in the customer's zone) in which a channel stays silent; may wrap midnight."""

    start: str
    end: str

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError("use HH:MM, 24-hour")
        return value

    @property
    def start_time(self) -> time:
        return time.fromisoformat(self.start)

    @property
    def end_time(self) -> time:
        return time.fromisoformat(self.end)


class Rule(_Strict):
    """When `event` arrives (and its payload matches `when`), send `template` on each of `channels`."""

    event: str = Field(min_length=3)
    template: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    channels: list[NotifyChannel] = Field(min_length=1)
    when: dict[str, list[str]] = Field(default_factory=dict, description="Payload field -> accepted values")
    urgent: bool = Field(default=False, description="Always urgent: ignores quiet hours")


class Policy(_Strict):
    version: str = Field(min_length=1, max_length=64)
    default_locale: str = "zh-CN"
    callback_hours: float = Field(default=2.0, gt=0, description="Promised callback time after a case is opened")
    urgent_priorities: list[str] = Field(default_factory=lambda: ["urgent"])
    contact_wait_s: float = Field(
        default=3600.0, ge=0, description="How long a delivery waits for the case's contact details to arrive"
    )
    contact_recheck_s: float = Field(
        default=2.0, gt=0, le=300, description="How often a delivery waiting for its case's contact looks again"
    )
    forbidden_words: list[str] = Field(default_factory=list, description="Words no template may contain")
    quiet_hours: dict[NotifyChannel, QuietHours] = Field(default_factory=dict)
    channels: dict[NotifyChannel, ChannelPolicy] = Field(default_factory=dict)
    rules: list[Rule] = Field(min_length=1)

    def channel(self, channel: NotifyChannel) -> ChannelPolicy:
        return self.channels.get(channel) or ChannelPolicy()
