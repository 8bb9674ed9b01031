"""A delivery's life as pure transitions: what to do with it when due, and what follows each attempt.

    pending --plan: Send (commit BEFORE the I/O: attempts+1, lease)--> sending
    pending --plan: Defer (sending hours, no contact yet) / rate limit / breaker open--> pending, later
    pending --plan: Skip (nobody to reach on it)--> skipped;   --plan: Fail (contact never came)--> failed
    sending --settled(outcome): after_attempt decides--> sent | pending at now + backoff | failed
    sending --lease expired: interrupted()--> as an attempt whose outcome is unknown (on_uncertain)
    pending --lapsed (case resolved or closed, breach withdrawn)--> skipped
    failed  --redriven by a person--> pending, fresh attempts, same key

The worker does the I/O and commits each new state; it never decides retry or give-up itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, Protocol

from caseflow_contracts import deterministic_id
from caseflow_contracts.notify import NotifyChannel

from .cases import Contact
from .rules import ChannelPolicy, DeliveryPolicy

#: Attempts kept in a delivery's log (the read endpoint shows them).
LOG_KEEP = 20
#: The key part of a delivery to the customer on their preferred channel, chosen when it is sent.
CUSTOMER = "customer"


class State(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


def notification_id(case_id: str, trigger_event_id: str, channel: NotifyChannel | str) -> str:
    """The idempotency key: one per (case, trigger event, channel or `customer`), whoever computes it."""
    return "n-" + deterministic_id("notify", case_id, trigger_event_id, str(channel))


class SendingHours(Protocol):
    """When a channel may speak to a customer (caseflow_kit.calendar.Calendar fits)."""

    def next_open(self, instant: float) -> float:
        """`instant` if allowed, else when sending is next allowed (epoch seconds)."""


class HoursFor(Protocol):
    def __call__(self, channel: NotifyChannel, time_zone: str) -> SendingHours | None:
        """A channel's sending hours in the customer's zone; None: any time."""


def backoff_delay(attempt: int, channel: ChannelPolicy, rand: float) -> float:
    """Delay before attempt `attempt + 1`: exponential, capped, with a random share (jitter); rand in [0, 1)."""
    exp = min(channel.backoff_max_s, channel.backoff_base_s * 2.0 ** max(attempt - 1, 0))
    return exp * (1 - channel.jitter) + exp * channel.jitter * rand


@dataclass(frozen=True)
class Outcome:
    """What an attempt did: delivered; failed (permanently, or with the outcome unknown: cut off mid-send);
    or never made (the breaker opened while it waited for a connection: not counted as an attempt)."""

    ok: bool
    error: str = ""
    permanent: bool = False
    uncertain: bool = False
    not_attempted: bool = False
    retry_at: float | None = None


def after_attempt(
    attempts: int, outcome: Outcome, channel: ChannelPolicy, now: float, rand: float
) -> tuple[State, float]:
    """The next state and due time after an attempt (`attempts` counts the attempts made, this one included)."""
    if outcome.ok:
        return State.SENT, now
    if outcome.not_attempted:
        return State.PENDING, outcome.retry_at if outcome.retry_at is not None else now + channel.breaker_reset_s
    if outcome.permanent or (outcome.uncertain and channel.on_uncertain == "give_up"):
        return State.FAILED, now
    if attempts >= channel.max_attempts:
        return State.FAILED, now
    return State.PENDING, now + backoff_delay(attempts, channel, rand)


# -- what to do with a due delivery -----------------------------------------------------------------


@dataclass(frozen=True)
class Send:
    channel: NotifyChannel
    recipient: str


@dataclass(frozen=True)
class Defer:
    until: float
    reason: str


@dataclass(frozen=True)
class Skip:
    reason: str


@dataclass(frozen=True)
class Fail:
    reason: str


Plan = Send | Defer | Skip | Fail


@dataclass(frozen=True)
class Trigger:
    """The event a delivery answers, and where it came from (for notification events and the dead letter)."""

    event_id: str
    type: str
    topic: str
    correlation_id: str


@dataclass(frozen=True)
class LogEntry:
    at: float
    attempt: int
    ok: bool | None
    error: str | None
    by: str | None = None


@dataclass(frozen=True)
class Delivery:
    """One message to one customer (or platform) about one event; `id` is its idempotency key."""

    id: str
    case_id: str
    slot: int  # only the replica holding the case's slot sends it (caseflow_kit.ownership)
    channel: NotifyChannel | None  # None: the customer's preferred channel among `candidates`, chosen when sent
    candidates: tuple[NotifyChannel, ...]
    template: str
    urgent: bool
    variables: Mapping[str, Any]
    trigger: Trigger
    created_at: float
    state: State = State.PENDING
    attempts: int = 0
    due_at: float | None = None  # set only while pending
    updated_at: float = 0.0
    lease_until: float | None = None  # set only while sending
    recipient: str | None = None
    locale: str | None = None
    last_error: str | None = None
    deferred: str | None = None
    rate_slot: float | None = None
    redrives: int = 0
    sent_at: float | None = None
    log: tuple[LogEntry, ...] = field(default=())
    version: int = 0

    @property
    def any_channel(self) -> NotifyChannel:
        """The channel chosen, or, before the customer's is chosen, the first one the rule allows."""
        return self.channel or self.candidates[0]

    @classmethod
    def new(
        cls,
        *,
        case_id: str,
        key: NotifyChannel | str,
        channel: NotifyChannel | None,
        candidates: tuple[NotifyChannel, ...],
        template: str,
        urgent: bool,
        variables: Mapping[str, Any],
        trigger: Trigger,
        slot: int,
        now: float,
    ) -> Delivery:
        return cls(
            id=notification_id(case_id, trigger.event_id, key),
            case_id=case_id,
            slot=slot,
            channel=channel,
            candidates=candidates,
            template=template,
            urgent=urgent,
            variables=variables,
            trigger=trigger,
            created_at=now,
            due_at=now,
            updated_at=now,
        )

    def plan(
        self,
        case: Contact | None,
        now: float,
        policy: DeliveryPolicy,
        hours_for: HoursFor,
        webhook_targets: frozenset[str],
    ) -> Plan:
        """What to do with this delivery now that it is due."""
        if case is None:
            waited = now - self.created_at
            if waited < policy.contact_wait_s:
                return Defer(
                    now + min(policy.contact_recheck_s, max(policy.contact_wait_s - waited, 0.1)), "awaiting_case"
                )
            return Fail("no contact details: case.opened never arrived")
        channel = self.channel or self._preferred(case, policy, webhook_targets)
        who = case.recipient(channel, webhook_targets) if channel is not None else None
        if channel is None or who is None:
            return Skip(f"no {channel.value if channel else 'sms or email'} address for this case")
        hours = None if self.urgent else hours_for(channel, case.time_zone)
        if hours is not None:
            opens = hours.next_open(now)
            if opens > now:
                return Defer(opens, "quiet_hours")
        return Send(channel, who)

    def _preferred(self, case: Contact, policy: DeliveryPolicy, targets: frozenset[str]) -> NotifyChannel | None:
        return next(
            (
                c
                for c in policy.preference(case.contact_channel)
                if c in self.candidates and case.recipient(c, targets) is not None
            ),
            None,
        )

    # -- transitions ------------------------------------------------------------------------------

    def claimed(self, send: Send, now: float, lease_s: float) -> Delivery:
        """Taken for one attempt; committed before the I/O, so a crash leaves it in doubt, never forgotten."""
        return self.with_changes(
            state=State.SENDING,
            channel=send.channel,
            due_at=None,
            attempts=self.attempts + 1,
            lease_until=now + lease_s,
            recipient=send.recipient,
            deferred=None,
            rate_slot=None,
            updated_at=now,
        )

    def deferred_until(self, until: float, reason: str, now: float, *, rate_slot: float | None = None) -> Delivery:
        return self.with_changes(due_at=until, deferred=reason, rate_slot=rate_slot, updated_at=now)

    def skipped(self, reason: str, now: float) -> Delivery:
        return self.with_changes(state=State.SKIPPED, due_at=None, last_error=reason, updated_at=now)

    def failed(self, reason: str, now: float) -> Delivery:
        return self.with_changes(
            state=State.FAILED,
            attempts=max(self.attempts, 1),
            due_at=None,
            lease_until=None,
            last_error=reason,
            updated_at=now,
        )

    def settled(
        self, outcome: Outcome, channel: ChannelPolicy, now: float, rand: float, *, locale: str | None = None
    ) -> Delivery:
        """After an attempt (rendered in `locale`): the pure `after_attempt` decides sent, retry later or failed."""
        attempts = self.attempts - 1 if outcome.not_attempted else self.attempts
        state, due = after_attempt(attempts, outcome, channel, now, rand)
        entry = LogEntry(now, attempts, None if outcome.not_attempted else outcome.ok, outcome.error or None)
        common: dict[str, Any] = {
            "attempts": attempts,
            "lease_until": None,
            "updated_at": now,
            "log": self._logged(entry),
        }
        if locale is not None:
            common["locale"] = locale
        if state is State.SENT:
            return self.with_changes(**common, state=state, due_at=None, sent_at=now, last_error=None)
        if state is State.FAILED:
            return self.with_changes(**common).failed(outcome.error, now)
        return self.with_changes(**common, state=state, due_at=due, last_error=outcome.error)

    def interrupted(self, channel: ChannelPolicy, now: float, rand: float) -> Delivery:
        """Its lease ran out (the worker died mid-send): an attempt whose outcome is unknown."""
        return self.settled(
            Outcome(ok=False, error="interrupted mid-send; outcome unknown", uncertain=True), channel, now, rand
        )

    def lapsed(self, reason: str, now: float) -> Delivery | None:
        """No longer worth sending (the case closed, the breach was withdrawn): skipped if still pending."""
        return self.skipped(reason, now) if self.state is State.PENDING else None

    def redriven(self, by: str, now: float) -> Delivery:
        """A person re-drives a failed delivery: the same key, fresh attempts."""
        entry = LogEntry(now, self.attempts, None, "manual retry", by)
        return self.with_changes(
            state=State.PENDING,
            attempts=0,
            redrives=self.redrives + 1,
            due_at=now,
            rate_slot=None,
            deferred=None,
            log=self._logged(entry),
            updated_at=now,
        )

    def _logged(self, entry: LogEntry) -> tuple[LogEntry, ...]:
        return (*self.log, entry)[-LOG_KEEP:]

    def with_changes(self, **changes: Any) -> Delivery:
        """A copy with `changes`: `dataclasses.replace` without its per-call introspection, which cost the
        worker a sixth of its CPU per delivery; an unknown field name is refused as replace would."""
        if not _FIELDS.issuperset(changes):
            raise TypeError(f"Delivery has no field(s) {sorted(set(changes) - _FIELDS)}")
        new = object.__new__(Delivery)
        new.__dict__.update(self.__dict__)
        new.__dict__.update(changes)
        return new


_FIELDS = frozenset(f.name for f in fields(Delivery))
