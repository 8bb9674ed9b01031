"""Pure notification rules: who gets what, when, and what happens after each attempt. No I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from caseflow_contracts import deterministic_id
from caseflow_contracts.notify import NotifyChannel

from .policy import ChannelPolicy, Policy, QuietHours, Rule


class State(StrEnum):
    """A delivery's life: pending -> sending -> sent | pending (retry) | failed; or skipped."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


FINAL = frozenset({State.SENT, State.FAILED, State.SKIPPED})


def notification_id(case_id: str, trigger_event_id: str, channel: NotifyChannel | str) -> str:
    """The idempotency key: one per (case, trigger event, channel), whoever computes it and however often."""
    return "n-" + deterministic_id("notify", case_id, trigger_event_id, str(channel))


def _matches(rule: Rule, payload: Mapping[str, Any]) -> bool:
    return all(str(payload.get(field)) in accepted for field, accepted in rule.when.items())


def matching_rules(policy: Policy, event_type: str, payload: Mapping[str, Any]) -> list[Rule]:
    return [r for r in policy.rules if r.event == event_type and _matches(r, payload)]


def is_urgent(rule: Rule, priority: str | None, policy: Policy) -> bool:
    return rule.urgent or (priority is not None and priority in policy.urgent_priorities)


@lru_cache(maxsize=512)
def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "Asia/Shanghai")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("Asia/Shanghai")


def quiet_until(now: datetime, time_zone: str | None, quiet: QuietHours | None) -> datetime | None:
    """If `now` falls in the quiet window in the customer's zone, when it ends (UTC); else None."""
    if quiet is None or quiet.start == quiet.end:
        return None
    local = now.astimezone(zone(time_zone))
    start, end, t = quiet.start_time, quiet.end_time, local.timetz().replace(tzinfo=None)
    inside = (start <= t < end) if start < end else (t >= start or t < end)
    if not inside:
        return None
    ends = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if ends <= local:
        ends += timedelta(days=1)
    return ends.astimezone(UTC)


def backoff_delay(attempt: int, channel: ChannelPolicy, rand: float) -> float:
    """Delay before attempt `attempt + 1`: exponential, capped, with a random share (jitter); rand in [0, 1)."""
    exp = min(channel.backoff_max_s, channel.backoff_base_s * 2.0 ** max(attempt - 1, 0))
    return exp * (1 - channel.jitter) + exp * channel.jitter * rand


def locale_chain(requested: str | None, available: Iterable[str], default: str) -> list[str]:
    """Locales to try, best first: exact, same language (zh-TW -> zh-CN), the default, English, anything."""
    have = sorted(available)
    chain: list[str] = []

    def add(candidate: str | None) -> None:
        if candidate and candidate in have and candidate not in chain:
            chain.append(candidate)

    if requested:
        add(requested)
        language = requested.split("-")[0].lower()
        for loc in have:
            if loc.split("-")[0].lower() == language:
                add(loc)
    add(default)
    add("en")
    for loc in have:
        add(loc)
    return chain


@dataclass(frozen=True)
class Contact:
    """What the stored case tells about reaching the customer (masked; the sealed token opens only at send)."""

    masked_phone: str | None
    masked_email: str | None
    phone_present: bool
    email_present: bool
    language: str
    time_zone: str
    platform: str | None


def contact_of(case: Mapping[str, Any]) -> Contact:
    masked = case.get("masked") or {}
    return Contact(
        masked_phone=masked.get("phone"),
        masked_email=masked.get("email"),
        phone_present=bool(case.get("phone_present") or masked.get("phone")),
        email_present=bool(case.get("email_present") or masked.get("email")),
        language=str(case.get("language") or "zh-CN"),
        time_zone=str(case.get("time_zone") or "Asia/Shanghai"),
        platform=case.get("platform"),
    )


def recipient(channel: NotifyChannel, contact: Contact, webhook_targets: Iterable[str]) -> str | None:
    """The masked recipient on this channel, or None when the channel cannot reach anyone for this case."""
    if channel is NotifyChannel.SMS:
        return (contact.masked_phone or "***") if contact.phone_present else None
    if channel is NotifyChannel.EMAIL:
        return (contact.masked_email or "***") if contact.email_present else None
    if contact.platform and contact.platform in set(webhook_targets):
        return contact.platform
    return None


# -- what happens to a delivery -----------------------------------------------------------------


@dataclass(frozen=True)
class Send:
    recipient: str
    locale_hint: str


@dataclass(frozen=True)
class Defer:
    until: datetime
    reason: str


@dataclass(frozen=True)
class Skip:
    reason: str


@dataclass(frozen=True)
class Fail:
    reason: str


Plan = Send | Defer | Skip | Fail


def plan(
    delivery: Mapping[str, Any],
    case: Mapping[str, Any] | None,
    now: datetime,
    policy: Policy,
    webhook_targets: Iterable[str],
) -> Plan:
    """Decide what to do with a due pending delivery."""
    channel = NotifyChannel(delivery["channel"])
    if case is None:
        waited = now.timestamp() - float(delivery["created_at"])
        if waited < policy.contact_wait_s:
            recheck = min(policy.contact_recheck_s, max(policy.contact_wait_s - waited, 0.1))
            return Defer(now + timedelta(seconds=recheck), "awaiting_case")
        return Fail("no contact details: case.opened never arrived")
    contact = contact_of(case)
    who = recipient(channel, contact, webhook_targets)
    if who is None:
        return Skip(f"no {channel.value} address for this case")
    if not delivery.get("urgent"):
        until = quiet_until(now, contact.time_zone, policy.quiet_hours.get(channel))
        if until is not None:
            return Defer(until, "quiet_hours")
    return Send(who, contact.language)


@dataclass(frozen=True)
class Outcome:
    """What an attempt did: delivered, or failed (permanently or not), or never tried (breaker open)."""

    ok: bool
    error: str = ""
    permanent: bool = False
    not_attempted: bool = False
    retry_at: float | None = None


def after_attempt(
    attempts: int, outcome: Outcome, channel: ChannelPolicy, now: float, rand: float
) -> tuple[State, float]:
    """The next state and due time after an attempt (attempts counts this one)."""
    if outcome.ok:
        return State.SENT, now
    if outcome.not_attempted:
        return State.PENDING, outcome.retry_at if outcome.retry_at is not None else now + channel.breaker_reset_s
    if outcome.permanent or attempts >= channel.max_attempts:
        return State.FAILED, now
    return State.PENDING, now + backoff_delay(attempts, channel, rand)
