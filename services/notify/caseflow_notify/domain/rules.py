"""The notification rules the domain reasons with: who is told what, on which channel, how hard to try.

Plain pydantic models (validated when the policy file loads). The policy file itself (`policy.py`) adds
what needs the kit: each channel's sending hours as a working calendar.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from caseflow_contracts.common import Channel
from caseflow_contracts.notify import NotifyChannel

CUSTOMER_CHANNELS = (NotifyChannel.SMS, NotifyChannel.EMAIL)


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
        description="A send whose outcome is unknown (cut off, or interrupted by a crash): retry with the same"
        " idempotency key, or fail it for a person",
    )

    @model_validator(mode="after")
    def _lease_covers_timeout(self) -> ChannelPolicy:
        if self.lease_s <= 2 * self.timeout_s:
            raise ValueError("lease_s must exceed twice timeout_s (the worker's backstop on a send)")
        return self


class FanOut(StrEnum):
    """`preferred`: the customer once, on the first channel of their preference that reaches them (plus the
    platform's webhook when the rule lists it); `all`: every listed channel that reaches them."""

    PREFERRED = "preferred"
    ALL = "all"


class Rule(_Strict):
    """When `event` arrives (and its payload matches `when`), tell the customer (and the platform) `template`."""

    event: str = Field(min_length=3)
    template: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    channels: list[NotifyChannel] = Field(min_length=1, description="Customer channels allowed, and webhook")
    when: dict[str, list[str]] = Field(default_factory=dict, description="Payload field -> accepted values")
    urgent: bool = Field(default=False, description="Always urgent: ignores sending hours")
    fan_out: FanOut | None = Field(default=None, description="Overrides the policy's fan_out for this rule")
    while_open: bool = Field(
        default=False,
        description="Only worth saying while the case is open: not sent once notify knows it is resolved or closed",
    )

    @field_validator("channels")
    @classmethod
    def _once_each(cls, value: list[NotifyChannel]) -> list[NotifyChannel]:
        if len(set(value)) != len(value):
            raise ValueError("a channel is listed twice")
        return value


class Satisfaction(_Strict):
    """How the resolution message asks for a score, so that the answer comes back as
    customer.satisfaction_answered: an SMS reply `<keyword> <case id> <1-5>`, or the survey link."""

    sms_keyword: str = Field(default="PJ", pattern=r"^[A-Z0-9]{1,10}$", description="First word of an SMS reply")
    link: str = Field(
        default="https://csat.best-express.example/r/{case_id}?ref={ref}",
        description="Survey page; {case_id} and {ref} (the resolution event's id) are filled in",
    )

    @field_validator("link")
    @classmethod
    def _names_the_case(cls, value: str) -> str:
        if "{case_id}" not in value or not value.startswith("https://"):
            raise ValueError("the survey link is https:// and contains {case_id}")
        return value


class DeliveryPolicy(_Strict):
    """Everything of the policy file but the sending hours (see `policy.Policy`)."""

    version: str = Field(min_length=1, max_length=64)
    locales: list[str] = Field(
        default_factory=lambda: ["zh-CN", "zh-TW", "en", "ja", "ko", "ru", "fr"],
        min_length=1,
        description="Languages customers are answered in (seed 003 §8): every template must exist in each",
    )
    fallback_locales: list[str] = Field(
        default_factory=lambda: ["en", "zh-CN"],
        min_length=1,
        description="When the customer's language has no template: English, else Chinese (seed 003 §8)",
    )
    locale_aliases: dict[str, str] = Field(
        default_factory=dict, description="A locale written otherwise -> the folder that serves it (zh-HK -> zh-TW)"
    )
    callback_hours: float = Field(default=2.0, gt=0, description="Promised callback time after a case is handed over")
    urgent_priorities: list[str] = Field(default_factory=lambda: ["urgent"])
    contact_wait_s: float = Field(
        default=3600.0, ge=0, description="How long a delivery waits for the case's contact details to arrive"
    )
    contact_recheck_s: float = Field(
        default=2.0, gt=0, le=300, description="How often a delivery waiting for its case's contact looks again"
    )
    forbidden_words: list[str] = Field(default_factory=list, description="Words no template may contain (seed 000)")
    desk_agent_id: str = Field(
        default="0000",
        pattern=r"^[A-Za-z0-9-]{1,16}$",
        description="The agent id the opening line names when no station agent signed the update",
    )
    fan_out: FanOut = FanOut.PREFERRED
    preferred_channels: dict[str, list[NotifyChannel]] = Field(
        default_factory=lambda: {"default": [NotifyChannel.SMS, NotifyChannel.EMAIL]},
        description="Where the customer contacted us (phone, email, ...) or 'default' -> customer channels, best first",
    )
    satisfaction: Satisfaction = Field(default_factory=Satisfaction)
    channels: dict[NotifyChannel, ChannelPolicy] = Field(default_factory=dict)
    rules: list[Rule] = Field(min_length=1)

    @field_validator("preferred_channels")
    @classmethod
    def _known_contact_channels(cls, value: dict[str, list[NotifyChannel]]) -> dict[str, list[NotifyChannel]]:
        known = {c.value for c in Channel} | {"default"}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"unknown contact channel(s) {unknown}; use {sorted(known)}")
        if "default" not in value:
            raise ValueError("preferred_channels needs a 'default' entry")
        for order in value.values():
            if not order or any(c not in CUSTOMER_CHANNELS for c in order) or len(set(order)) != len(order):
                raise ValueError("a preference lists customer channels (sms, email), each once")
        return value

    def channel(self, channel: NotifyChannel) -> ChannelPolicy:
        return self.channels.get(channel) or ChannelPolicy()

    def preference(self, contact_channel: str | None) -> list[NotifyChannel]:
        return self.preferred_channels.get(contact_channel or "", self.preferred_channels["default"])

    def fan_out_of(self, rule: Rule) -> FanOut:
        return rule.fan_out or self.fan_out

    def matching(self, event_type: str, payload: dict[str, object]) -> list[Rule]:
        """The rules an event triggers (a `when` filter compares the payload field's text)."""
        return [
            r
            for r in self.rules
            if r.event == event_type and all(str(payload.get(f)) in accepted for f, accepted in r.when.items())
        ]
