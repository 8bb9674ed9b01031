"""Pure rules of notify: table-driven, plus properties where a table cannot cover the space."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from caseflow_contracts.notify import NotifyChannel
from caseflow_contracts.stations import ResolutionResult
from caseflow_kit.calendar import Calendar, CalendarSpec
from caseflow_kit.rules import RulesFile, load_rules
from caseflow_notify.channels import sign, verify
from caseflow_notify.domain import (
    CUSTOMER,
    CaseStatus,
    ChannelPolicy,
    Contact,
    Defer,
    Delivery,
    Fail,
    FanOut,
    NotifyCase,
    Outcome,
    Says,
    Send,
    Skip,
    State,
    Trigger,
    after_attempt,
    backoff_delay,
    deliveries_for,
    locale_chain,
    notification_id,
)
from caseflow_notify.policy import Policy, SendingHoursBook
from caseflow_notify.resilience import BreakerState, CircuitBreaker, TokenBucket
from caseflow_notify.settings import DATA

from .support import opened, write_policy

POLICY = load_rules(DATA / "policy.yaml", Policy)
EVERY_DAY = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def hours(span: str, zone: str = "Asia/Shanghai") -> Calendar:
    return CalendarSpec(time_zone=zone, week={d: [span] for d in EVERY_DAY}).build()


DAYTIME = "08:00-21:00"
NOT_AT_LUNCH = ["00:00-12:00", "13:30-24:00"]


def t(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("utc", "zone", "allowed", "expected"),
    [
        # 14:00 UTC = 22:00 Shanghai: held until 08:00 Shanghai next day = 00:00 UTC
        ("2026-11-24T14:00:00", "Asia/Shanghai", DAYTIME, "2026-11-25T00:00:00"),
        # 23:30 UTC = 07:30 Shanghai: still held, 30 minutes more
        ("2026-11-24T23:30:00", "Asia/Shanghai", DAYTIME, "2026-11-25T00:00:00"),
        # 00:00 UTC = 08:00 Shanghai: allowed from 08:00 on
        ("2026-11-25T00:00:00", "Asia/Shanghai", DAYTIME, None),
        # 13:00 UTC = 21:00 Shanghai: the day's hours end
        ("2026-11-24T13:00:00", "Asia/Shanghai", DAYTIME, "2026-11-25T00:00:00"),
        # the same instant is 14:00 in London: allowed there
        ("2026-11-24T14:00:00", "Europe/London", DAYTIME, None),
        # 22:00 UTC is 17:00 in New York (winter): allowed; 03:00 UTC is 22:00 New York: held until 13:00 UTC
        ("2026-11-24T22:00:00", "America/New_York", DAYTIME, None),
        ("2026-11-25T03:00:00", "America/New_York", DAYTIME, "2026-11-25T13:00:00"),
    ],
)
def test_sending_hours_in_the_customers_zone(utc: str, zone: str, allowed: str, expected: str | None) -> None:
    now = t(utc)
    opens = hours(allowed, zone).next_open(now)
    assert opens == (t(expected) if expected else now)


def test_a_window_that_leaves_out_lunch() -> None:
    calendar = CalendarSpec(week=dict.fromkeys(EVERY_DAY, NOT_AT_LUNCH)).build()
    assert calendar.next_open(t("2026-11-24T04:30:00")) == t("2026-11-24T05:30:00")  # 12:30 -> 13:30 Shanghai
    assert calendar.next_open(t("2026-11-24T06:00:00")) == t("2026-11-24T06:00:00")


@given(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)))
def test_sending_hours_open_in_the_future_and_inside_the_window(now: datetime) -> None:
    calendar = hours(DAYTIME)
    opens = calendar.next_open(now.timestamp())
    assert now.timestamp() <= opens <= now.timestamp() + 11 * 3600
    assert calendar.is_open(opens)


def test_the_book_builds_hours_in_the_customers_zone_and_again_after_a_reload(tmp_path: Any) -> None:
    path = write_policy(tmp_path, sending_hours={"sms": {"week": {d: [DAYTIME] for d in EVERY_DAY}}})
    policy_file = RulesFile(path, Policy)
    book = SendingHoursBook(policy_file)
    night_in_new_york = t("2026-11-25T03:00:00")
    assert book(NotifyChannel.SMS, "America/New_York").next_open(night_in_new_york) == t("2026-11-25T13:00:00")  # type: ignore[union-attr]
    assert book(NotifyChannel.EMAIL, "America/New_York") is None
    unknown = book(NotifyChannel.SMS, "Mars/Olympus")  # an unknown zone: taken as Shanghai
    assert unknown is not None
    assert unknown.time_zone == "Asia/Shanghai"
    path.write_text(path.read_text(encoding="utf-8").replace("08:00-21:00", "09:00-21:00"), encoding="utf-8")
    assert policy_file.reload(force=True)
    assert book(NotifyChannel.SMS, "America/New_York").next_open(night_in_new_york) == t("2026-11-25T14:00:00")  # type: ignore[union-attr]


def test_sending_hours_follow_the_customer_not_a_zone_of_their_own() -> None:
    data = POLICY.model_dump(mode="json")
    data["sending_hours"] = {"sms": {"time_zone": "Europe/Paris", "week": {"mon": [DAYTIME]}}}
    with pytest.raises(ValueError, match="customer's zone"):
        Policy.model_validate(data)


@given(st.integers(min_value=1, max_value=60), st.floats(min_value=0, max_value=0.999999))
def test_backoff_is_exponential_capped_and_jittered(attempt: int, rand: float) -> None:
    cp = ChannelPolicy(backoff_base_s=1, backoff_max_s=60, jitter=0.5)
    exp = min(60.0, 2.0 ** (attempt - 1))
    delay = backoff_delay(attempt, cp, rand)
    assert exp * 0.5 <= delay <= exp
    assert backoff_delay(attempt, cp, 0.0) <= backoff_delay(attempt + 1, cp, 0.0)


@pytest.mark.parametrize(
    ("attempt", "rand", "expected"),
    [(1, 0.0, 0.5), (1, 0.999999, 1.0), (2, 0.0, 1.0), (3, 0.5, 3.0), (10, 0.0, 30.0), (10, 0.999999, 60.0)],
)
def test_backoff_table(attempt: int, rand: float, expected: float) -> None:
    cp = ChannelPolicy(backoff_base_s=1, backoff_max_s=60, jitter=0.5)
    assert backoff_delay(attempt, cp, rand) == pytest.approx(expected, abs=1e-4)


SEVEN = ["en", "fr", "ja", "ko", "ru", "zh-CN", "zh-TW"]
ALIASES = {"zh-HK": "zh-TW"}


@pytest.mark.parametrize(
    ("requested", "available", "expected_first"),
    [
        ("zh-CN", SEVEN, "zh-CN"),
        ("zh-TW", SEVEN, "zh-TW"),
        ("ja", SEVEN, "ja"),  # answered in their own language, not in Chinese
        ("ko", SEVEN, "ko"),
        ("ru", SEVEN, "ru"),
        ("fr", SEVEN, "fr"),
        ("zh-HK", SEVEN, "zh-TW"),  # an alias: Hong Kong reads traditional characters
        ("zh-SG", SEVEN, "zh-CN"),  # same language: the fallbacks' order first
        ("zh-TW", ["en", "zh-CN"], "zh-CN"),  # a missing translation falls back to the same language
        ("en-GB", ["en", "zh-CN"], "en"),
        ("de", SEVEN, "en"),  # a language without templates: English
        (None, SEVEN, "en"),
        ("de", ["zh-CN", "ja"], "zh-CN"),  # no English either: Chinese
        ("de", ["ja"], "ja"),  # anything rather than nothing
    ],
)
def test_customers_language_else_english_else_chinese(
    requested: str | None, available: list[str], expected_first: str
) -> None:
    chain = locale_chain(requested, available, ["en", "zh-CN"], ALIASES)
    assert chain[0] == expected_first
    assert sorted(chain) == sorted(available)


@pytest.mark.parametrize(
    ("event_type", "payload", "templates"),
    [
        ("case.opened", {}, ["case_acknowledged"]),
        ("case.escalated", {"trigger": "initial_assignment"}, ["station_assigned"]),
        ("case.escalated", {"trigger": "repeat_contact"}, ["case_escalated"]),
        ("case.escalated", {"trigger": "sla_breach"}, []),  # the apology tells that one
        ("case.transferred", {}, ["station_assigned"]),
        ("case.resolved", {}, ["case_resolved"]),
        ("sla.breached", {"metric": "callback"}, ["sla_apology"]),
        ("sla.breached", {"metric": "email_acknowledgement"}, []),
        ("claim.decided", {"decision": "approved"}, ["claim_decided"]),
        ("claim.decided", {"decision": "pending_review"}, []),
        ("payout.issued", {}, ["payout_issued"]),
        ("case.merged", {}, []),
    ],
)
def test_which_events_notify(event_type: str, payload: dict[str, Any], templates: list[str]) -> None:
    assert [r.template for r in POLICY.matching(event_type, payload)] == templates


def test_notification_id_is_one_per_case_event_and_audience() -> None:
    a = notification_id("CF-ABC123", "e1", NotifyChannel.SMS)
    assert a == notification_id("CF-ABC123", "e1", "sms")
    others = {
        notification_id("CF-ABC124", "e1", NotifyChannel.SMS),
        notification_id("CF-ABC123", "e2", NotifyChannel.SMS),
        notification_id("CF-ABC123", "e1", NotifyChannel.EMAIL),
        notification_id("CF-ABC123", "e1", CUSTOMER),
    }
    assert a not in others
    assert len(others) == 4


CONTACT = Contact(
    masked_phone="138****5678",
    masked_email="x***@example.com",
    phone_present=True,
    email_present=True,
    language="en",
    time_zone="Asia/Shanghai",
    platform="shop-a",
    contact_channel="phone",
)
TARGETS = frozenset({"shop-a"})
DAY = t("2026-11-24T03:00:00")  # 11:00 in Shanghai
NIGHT = t("2026-11-24T15:00:00")  # 23:00 in Shanghai
TRIGGER = Trigger("e1", "case.opened", "cases.lifecycle", "c1")
SMS, EMAIL, WEBHOOK = NotifyChannel.SMS, NotifyChannel.EMAIL, NotifyChannel.WEBHOOK


def delivery(channel: NotifyChannel | None, *, urgent: bool = False, age_s: float = 0, now: float = DAY) -> Delivery:
    candidates = (channel,) if channel else (SMS, EMAIL)
    return Delivery.new(
        case_id="CF-1",
        key=channel or CUSTOMER,
        channel=channel,
        candidates=candidates,
        template="case_acknowledged",
        urgent=urgent,
        variables={},
        trigger=TRIGGER,
        slot=0,
        now=now - age_s,
    )


def sms_daytime(channel: NotifyChannel, zone: str) -> Calendar | None:
    return hours(DAYTIME, zone) if channel is SMS else None


@pytest.mark.parametrize(
    ("doc", "contact", "now", "expected"),
    [
        (delivery(SMS), CONTACT, DAY, Send(SMS, "138****5678")),
        (delivery(EMAIL), CONTACT, DAY, Send(EMAIL, "x***@example.com")),
        (delivery(WEBHOOK), CONTACT, DAY, Send(WEBHOOK, "shop-a")),
        # the customer's preferred channel, chosen now: phone contacts by SMS, e-mail contacts by e-mail
        (delivery(None), CONTACT, DAY, Send(SMS, "138****5678")),
        (delivery(None), replace(CONTACT, contact_channel="email"), DAY, Send(EMAIL, "x***@example.com")),
        (delivery(None), replace(CONTACT, phone_present=False), DAY, Send(EMAIL, "x***@example.com")),
        (
            delivery(None),
            replace(CONTACT, phone_present=False, email_present=False),
            DAY,
            Skip("no sms or email address for this case"),
        ),
        (delivery(WEBHOOK), replace(CONTACT, platform="shop-z"), DAY, Skip("no webhook address for this case")),
        (delivery(SMS), replace(CONTACT, phone_present=False), DAY, Skip("no sms address for this case")),
        # sending hours: SMS waits for 08:00 in the customer's zone; urgent ones and e-mail do not
        (delivery(SMS, now=NIGHT), CONTACT, NIGHT, Defer(t("2026-11-25T00:00:00"), "quiet_hours")),
        (delivery(None, now=NIGHT), CONTACT, NIGHT, Defer(t("2026-11-25T00:00:00"), "quiet_hours")),
        (delivery(SMS, urgent=True, now=NIGHT), CONTACT, NIGHT, Send(SMS, "138****5678")),
        (delivery(EMAIL, now=NIGHT), CONTACT, NIGHT, Send(EMAIL, "x***@example.com")),
        # no contact yet (an event of another topic overtook case.opened): wait, then give up
        (delivery(SMS, age_s=10), None, DAY, Defer(DAY + 2, "awaiting_case")),
        (delivery(SMS, age_s=3599.5), None, DAY, Defer(DAY + 0.5, "awaiting_case")),
        (delivery(SMS, age_s=7200), None, DAY, Fail("no contact details: case.opened never arrived")),
    ],
)
def test_plan(doc: Delivery, contact: Contact | None, now: float, expected: object) -> None:
    assert doc.plan(contact, now, POLICY, sms_daytime, TARGETS) == expected


CP = ChannelPolicy(max_attempts=3, backoff_base_s=1, backoff_max_s=10, jitter=0, breaker_reset_s=30)
GIVE_UP = CP.model_copy(update={"on_uncertain": "give_up"})


@pytest.mark.parametrize(
    ("attempts", "outcome", "channel", "state", "due"),
    [
        (1, Outcome(ok=True), CP, State.SENT, 100.0),
        (1, Outcome(ok=False, error="HTTP 503"), CP, State.PENDING, 101.0),
        (2, Outcome(ok=False, error="HTTP 503"), CP, State.PENDING, 102.0),
        (3, Outcome(ok=False, error="HTTP 503"), CP, State.FAILED, 100.0),
        (1, Outcome(ok=False, error="HTTP 400", permanent=True), CP, State.FAILED, 100.0),
        # outcome unknown (cut off, or the process died): retried with the same key, or failed for a person
        (1, Outcome(ok=False, error="timeout", uncertain=True), CP, State.PENDING, 101.0),
        (1, Outcome(ok=False, error="timeout", uncertain=True), GIVE_UP, State.FAILED, 100.0),
        (3, Outcome(ok=False, error="timeout", uncertain=True), CP, State.FAILED, 100.0),
        # never made (the breaker opened while it waited): back when the breaker lets a trial through
        (2, Outcome(ok=False, not_attempted=True, retry_at=150.0), CP, State.PENDING, 150.0),
        (2, Outcome(ok=False, not_attempted=True), CP, State.PENDING, 130.0),
    ],
)
def test_after_attempt(attempts: int, outcome: Outcome, channel: ChannelPolicy, state: State, due: float) -> None:
    assert after_attempt(attempts, outcome, channel, 100.0, 0.0) == (state, due)


def claimed(attempts: int = 1) -> Delivery:
    d = delivery(SMS)
    for _ in range(attempts):
        d = d.claimed(Send(SMS, "138****5678"), DAY, lease_s=60)
    return d


def test_a_claim_takes_an_attempt_and_a_lease_before_the_io() -> None:
    d = delivery(None).claimed(Send(EMAIL, "x***@example.com"), DAY, lease_s=60)
    assert (d.state, d.channel, d.attempts, d.lease_until, d.due_at) == (State.SENDING, EMAIL, 1, DAY + 60, None)


def test_settled_logs_each_attempt_and_uses_after_attempt() -> None:
    retry = claimed().settled(Outcome(ok=False, error="HTTP 503"), CP, DAY + 1, 0.0)
    assert (retry.state, retry.due_at, retry.lease_until, retry.last_error) == (
        State.PENDING,
        DAY + 2,
        None,
        "HTTP 503",
    )
    assert [(e.attempt, e.ok, e.error) for e in retry.log] == [(1, False, "HTTP 503")]
    sent = retry.claimed(Send(SMS, "138****5678"), DAY + 2, 60).settled(Outcome(ok=True), CP, DAY + 3, 0.0)
    assert (sent.state, sent.attempts, sent.sent_at, sent.last_error) == (State.SENT, 2, DAY + 3, None)
    untried = claimed(2).settled(
        Outcome(ok=False, error="circuit open", not_attempted=True, retry_at=DAY + 30), CP, DAY, 0.0
    )
    assert (untried.state, untried.attempts, untried.due_at, untried.log[-1].ok) == (State.PENDING, 1, DAY + 30, None)


def test_an_interrupted_send_is_an_attempt_whose_outcome_is_unknown() -> None:
    retried = claimed().interrupted(CP, DAY + 61, 0.0)
    assert (retried.state, retried.due_at, retried.last_error) == (
        State.PENDING,
        DAY + 62,
        "interrupted mid-send; outcome unknown",
    )
    given_up = claimed().interrupted(GIVE_UP, DAY + 61, 0.0)
    assert (given_up.state, given_up.due_at, given_up.lease_until) == (State.FAILED, None, None)


def test_lapsed_and_redriven() -> None:
    assert delivery(SMS).lapsed("case closed", DAY) == replace(
        delivery(SMS), state=State.SKIPPED, due_at=None, last_error="case closed"
    )
    assert claimed().lapsed("case closed", DAY) is None  # being sent: too late to hold back
    failed = claimed().settled(Outcome(ok=False, error="HTTP 400", permanent=True), CP, DAY, 0.0)
    again = failed.redriven("ops-1", DAY + 5)
    assert (again.state, again.attempts, again.redrives, again.due_at) == (State.PENDING, 0, 1, DAY + 5)
    assert (again.log[-1].by, again.log[-1].error) == ("ops-1", "manual retry")


def case_of(**changes: Any) -> NotifyCase:
    return replace(NotifyCase.opened(opened("CF-ABCDEF0123456789").payload), **changes)


def told(
    case: NotifyCase | None, event_type: str = "case.opened", fan_out: str = "preferred", **payload: Any
) -> list[tuple[str, str, str]]:
    policy = POLICY.model_copy(update={"fan_out": FanOut(fan_out)})
    trigger = Trigger("e1", event_type, "cases.lifecycle", "c1")
    found = deliveries_for(
        policy,
        trigger,
        Says({"case_id": "CF-ABCDEF0123456789"}),
        case,
        payload={"case_id": "CF-ABCDEF0123456789", **payload},
        webhook_targets=TARGETS,
        slot=0,
        now=DAY,
    )
    return sorted(
        (d.channel.value if d.channel else CUSTOMER, ",".join(c.value for c in d.candidates), d.state.value)
        for d in found.deliveries
    )


@pytest.mark.parametrize(
    ("case", "fan_out", "expected"),
    [
        # realistic: the customer once (their channel chosen when sent), the platform's webhook
        (case_of(), "preferred", [("customer", "sms,email", "pending"), ("webhook", "webhook", "pending")]),
        (case_of(contact=replace(CONTACT, platform=None)), "preferred", [("customer", "sms,email", "pending")]),
        (case_of(contact=replace(CONTACT, phone_present=False, email_present=False, platform=None)), "preferred", []),
        # the old fan-out: every channel that reaches them
        (
            case_of(),
            "all",
            [("email", "email", "pending"), ("sms", "sms", "pending"), ("webhook", "webhook", "pending")],
        ),
        (
            case_of(contact=replace(CONTACT, phone_present=False)),
            "all",
            [("email", "email", "pending"), ("webhook", "webhook", "pending")],
        ),
        # the case not known yet: nothing left out; the worker decides once the contact arrives
        (None, "preferred", [("customer", "sms,email", "pending"), ("webhook", "webhook", "pending")]),
        # only worth saying while the case is open
        (
            case_of(status=CaseStatus.CLOSED),
            "preferred",
            [("customer", "sms,email", "skipped"), ("webhook", "webhook", "skipped")],
        ),
    ],
)
def test_who_is_told(case: NotifyCase | None, fan_out: str, expected: list[tuple[str, str, str]]) -> None:
    assert told(case, fan_out=fan_out) == expected


def test_updates_that_lapse_when_the_case_stops_being_open() -> None:
    policy, trigger = POLICY, Trigger("e1", "case.progress_noted", "cases.lifecycle", "c1")
    found = deliveries_for(
        policy, trigger, Says({}), case_of(), payload={"case_id": "CF-1"}, webhook_targets=TARGETS, slot=0, now=DAY
    )
    assert found.while_open == [d.id for d in found.deliveries] != []
    case = case_of().noticed(found.while_open)
    same, lapsed = case.resolved(ResolutionResult.PENDING)  # work still pending: updates still make sense
    assert (same.status, lapsed) == (CaseStatus.OPEN, ())
    after, lapsed = case.resolved(ResolutionResult.RESOLVED)
    assert (after.status, after.open_notices, lapsed) == (CaseStatus.RESOLVED, (), tuple(found.while_open))
    closed, lapsed = after.closed()
    assert (closed.status, lapsed) == (CaseStatus.CLOSED, ())
    assert closed.reopened().is_open


def test_a_claim_decision_is_told_whatever_the_case_state() -> None:
    assert told(case_of(status=CaseStatus.CLOSED), "claim.decided", decision="approved") == [
        ("customer", "sms,email", "pending"),
        ("webhook", "webhook", "pending"),
    ]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"preferred_channels": {"phone": ["sms"]}}, "'default' entry"),
        ({"preferred_channels": {"default": ["sms"], "fax": ["sms"]}}, "unknown contact channel"),
        ({"preferred_channels": {"default": ["webhook"]}}, "customer channels"),
        ({"rules": [{"event": "case.opened", "template": "x", "channels": ["sms", "sms"]}]}, "listed twice"),
        ({"satisfaction": {"link": "http://survey.example/{case_id}"}}, "https://"),
        ({"desk_agent_id": "工号 1"}, "desk_agent_id"),
    ],
)
def test_a_policy_that_does_not_make_sense_is_refused(change: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Policy.model_validate({**POLICY.model_dump(mode="json"), **change})


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate=10, burst=3)
    assert [bucket.reserve(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.reserve(0.0) == pytest.approx(0.1)
    assert bucket.reserve(0.0) == pytest.approx(0.2)
    assert bucket.reserve(1.0) == 0.0  # refilled (capped at the burst)


@given(st.lists(st.floats(min_value=0, max_value=0.5), min_size=1, max_size=200))
def test_token_bucket_never_exceeds_rate_plus_burst(gaps: list[float]) -> None:
    bucket = TokenBucket(rate=20, burst=5)
    now, last_start = 0.0, 0.0
    for gap in gaps:
        now += gap
        last_start = max(last_start, now + bucket.reserve(now))
    # n sends cannot all start before (n - burst) / rate seconds have passed
    assert last_start >= (len(gaps) - 5) / 20 - 1e-9


def test_circuit_breaker_opens_half_opens_and_closes() -> None:
    breaker = CircuitBreaker(failures=3, reset_s=10)
    for t in (0.0, 1.0):
        assert breaker.allow(t) is None
        breaker.failure(t)
    assert breaker.state is BreakerState.CLOSED
    breaker.failure(2.0)
    assert breaker.state is BreakerState.OPEN
    assert breaker.allow(5.0) == 12.0
    assert breaker.allow(12.0) is None  # the one trial
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow(12.1) is not None  # only one trial at a time
    assert breaker.allow(21.9) is not None
    assert breaker.allow(22.0) is None  # a trial that never reported back is replaced after reset_s
    breaker.failure(22.5)
    assert breaker.state is BreakerState.OPEN
    assert breaker.allow(32.5) is None
    breaker.success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow(32.6) is None


def test_a_success_resets_the_failure_count() -> None:
    breaker = CircuitBreaker(failures=2, reset_s=10)
    breaker.failure(0.0)
    breaker.success()
    breaker.failure(1.0)
    assert breaker.state is BreakerState.CLOSED


def test_webhook_signature_is_timestamped_and_replay_safe() -> None:
    secret, body, now = b"s3cret", b'{"a":1}', time.time()
    ts = str(int(now))
    headers = {"X-Caseflow-Timestamp": ts, "X-Caseflow-Signature": sign(secret, ts, body), "X-Caseflow-Delivery": "n-1"}
    seen: dict[str, float] = {}
    assert verify(secret, headers, body, now=now, seen=seen) is None
    assert verify(secret, headers, body, now=now + 1, seen=seen) == "replayed delivery"
    assert verify(secret, headers, body + b" ", now=now) == "bad signature"
    assert verify(b"other", headers, body, now=now) == "bad signature"
    assert verify(secret, headers, body, now=now + 301) == "stale timestamp"
    old = str(int(now) - 1000)
    forged = {**headers, "X-Caseflow-Timestamp": old}
    assert verify(secret, forged, body, now=now) == "stale timestamp"
    assert verify(secret, {"X-Caseflow-Delivery": "n-1"}, body, now=now) == "missing signature headers"


def test_policy_rejects_a_lease_shorter_than_the_timeout() -> None:
    with pytest.raises(ValueError, match="lease_s"):
        ChannelPolicy(timeout_s=10, lease_s=5)
    with pytest.raises(ValueError, match="lease_s"):
        ChannelPolicy(timeout_s=10, lease_s=15)


def test_webhook_secrets_rotate_two_at_once_and_are_never_shared_or_empty() -> None:
    from caseflow_notify.channels import check_webhook_secrets, signatures

    old, new, body, now = b"o" * 32, b"n" * 32, b'{"a":1}', time.time()
    ts = str(int(now))
    headers = {"X-Caseflow-Timestamp": ts, "X-Caseflow-Signature": signatures([new, old], ts, body)}
    headers["X-Caseflow-Delivery"] = "n-2"
    assert verify(old, headers, body, now=now) is None  # a receiver not yet switched
    assert verify(new, headers, body, now=now) is None  # a receiver already switched
    assert verify(b"x" * 32, headers, body, now=now) == "bad signature"
    targets = {"shop-a": "https://a.example/hook", "shop-b": "https://b.example/hook"}
    check_webhook_secrets(targets, {"shop-a": [new, old], "shop-b": [b"b" * 32]})
    for secrets_, why in (
        ({"shop-a": [new]}, "shop-b: give one secret"),
        ({"shop-a": [new], "shop-b": [b""]}, "empty or shorter"),
        ({"shop-a": [new], "shop-b": [new]}, "shares a secret with shop-a"),
        ({"shop-a": [new, old, b"t" * 32], "shop-b": [b"b" * 32]}, "two while rotating"),
    ):
        with pytest.raises(ValueError, match=why):
            check_webhook_secrets(targets, secrets_)


def test_the_domain_imports_no_kit_broker_or_store() -> None:
    import subprocess
    import sys

    probe = (
        "import sys, caseflow_notify.domain; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('caseflow_kit', 'faststream', 'aiokafka', 'pymongo')))"
    )
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    assert found == "[]"
