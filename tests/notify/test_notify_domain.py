"""Pure rules of notify: table-driven, plus properties where a table cannot cover the space."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caseflow_contracts.notify import NotifyChannel
from caseflow_kit.rules import load_rules
from caseflow_notify.channels import sign, verify
from caseflow_notify.domain import (
    Defer,
    Fail,
    Outcome,
    Send,
    Skip,
    State,
    after_attempt,
    backoff_delay,
    contact_of,
    locale_chain,
    matching_rules,
    notification_id,
    plan,
    quiet_until,
)
from caseflow_notify.policy import ChannelPolicy, Policy, QuietHours
from caseflow_notify.resilience import BreakerState, CircuitBreaker, TokenBucket
from caseflow_notify.settings import DATA

POLICY = load_rules(DATA / "policy.yaml", Policy)
NIGHT = QuietHours(start="21:00", end="08:00")
LUNCH = QuietHours(start="12:00", end="13:30")


@pytest.mark.parametrize(
    ("utc", "tz", "quiet", "expected"),
    [
        # 14:00 UTC = 22:00 Shanghai: quiet until 08:00 Shanghai next day = 00:00 UTC
        ("2026-11-24T14:00:00", "Asia/Shanghai", NIGHT, "2026-11-25T00:00:00"),
        # 23:30 UTC = 07:30 Shanghai: still quiet, ends 30 minutes later
        ("2026-11-24T23:30:00", "Asia/Shanghai", NIGHT, "2026-11-25T00:00:00"),
        # 00:00 UTC = 08:00 Shanghai: the window is half-open, so sending is allowed
        ("2026-11-25T00:00:00", "Asia/Shanghai", NIGHT, None),
        # 13:00 UTC = 21:00 Shanghai: the window starts
        ("2026-11-24T13:00:00", "Asia/Shanghai", NIGHT, "2026-11-25T00:00:00"),
        # the same instant is 14:00 in London: not quiet there
        ("2026-11-24T14:00:00", "Europe/London", NIGHT, None),
        # 22:00 UTC is 17:00 in New York (winter): allowed; 03:00 UTC is 22:00 New York: quiet until 13:00 UTC
        ("2026-11-24T22:00:00", "America/New_York", NIGHT, None),
        ("2026-11-25T03:00:00", "America/New_York", NIGHT, "2026-11-25T13:00:00"),
        # a window that does not wrap midnight
        ("2026-11-24T04:30:00", "Asia/Shanghai", LUNCH, "2026-11-24T05:30:00"),
        ("2026-11-24T06:00:00", "Asia/Shanghai", LUNCH, None),
        # no window, or an unknown zone (falls back to Shanghai)
        ("2026-11-24T14:00:00", "Asia/Shanghai", None, None),
        ("2026-11-24T14:00:00", "Mars/Olympus", NIGHT, "2026-11-25T00:00:00"),
    ],
)
def test_quiet_hours_in_the_customers_zone(utc: str, tz: str, quiet: QuietHours | None, expected: str | None) -> None:
    now = datetime.fromisoformat(utc).replace(tzinfo=UTC)
    until = quiet_until(now, tz, quiet)
    assert until == (datetime.fromisoformat(expected).replace(tzinfo=UTC) if expected else None)


@settings(deadline=None)  # a shared CI machine must not turn slowness into failures
@given(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)))
def test_quiet_hours_end_is_in_the_future_and_outside_the_window(now: datetime) -> None:
    until = quiet_until(now, "Asia/Shanghai", NIGHT)
    if until is not None:
        assert now < until <= now + timedelta(hours=11)
        assert quiet_until(until, "Asia/Shanghai", NIGHT) is None


@settings(deadline=None)  # a shared CI machine must not turn slowness into failures
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


@pytest.mark.parametrize(
    ("requested", "available", "expected_first"),
    [
        ("zh-CN", ["en", "zh-CN", "zh-TW"], "zh-CN"),
        ("zh-TW", ["en", "zh-CN", "zh-TW"], "zh-TW"),
        ("zh-HK", ["en", "zh-CN", "zh-TW"], "zh-CN"),  # same language; default preferred among equals by sort order
        ("zh-TW", ["en", "zh-CN"], "zh-CN"),  # missing translation falls back to the same language
        ("en-GB", ["en", "zh-CN"], "en"),
        ("fr", ["en", "zh-CN"], "zh-CN"),  # unknown language: the default locale
        (None, ["en", "zh-CN"], "zh-CN"),
        ("fr", ["en"], "en"),  # default missing too: English
        ("fr", ["ja"], "ja"),  # anything rather than nothing
    ],
)
def test_locale_fallback(requested: str | None, available: list[str], expected_first: str) -> None:
    chain = locale_chain(requested, available, "zh-CN")
    assert chain[0] == expected_first
    assert sorted(chain) == sorted(available)


@pytest.mark.parametrize(
    ("event_type", "payload", "templates"),
    [
        ("case.opened", {}, ["case_acknowledged"]),
        ("case.escalated", {}, ["station_assigned"]),
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
    assert [r.template for r in matching_rules(POLICY, event_type, payload)] == templates


def test_notification_id_is_one_per_case_event_and_channel() -> None:
    a = notification_id("CF-ABC123", "e1", NotifyChannel.SMS)
    assert a == notification_id("CF-ABC123", "e1", "sms")
    others = {
        notification_id("CF-ABC124", "e1", NotifyChannel.SMS),
        notification_id("CF-ABC123", "e2", NotifyChannel.SMS),
        notification_id("CF-ABC123", "e1", NotifyChannel.EMAIL),
    }
    assert a not in others
    assert len(others) == 3


CASE = {
    "masked": {"phone": "138****5678", "email": "x***@example.com"},
    "phone_present": True,
    "email_present": True,
    "language": "en",
    "time_zone": "Asia/Shanghai",
    "platform": "shop-a",
}
DAY = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai
NIGHT_UTC = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai


def delivery(channel: str, *, urgent: bool = False, age_s: float = 0, now: datetime = DAY) -> dict[str, Any]:
    return {"channel": channel, "urgent": urgent, "created_at": now.timestamp() - age_s}


@pytest.mark.parametrize(
    ("doc", "case", "now", "expected"),
    [
        (delivery("sms"), CASE, DAY, Send("138****5678", "en")),
        (delivery("email"), CASE, DAY, Send("x***@example.com", "en")),
        (delivery("webhook"), CASE, DAY, Send("shop-a", "en")),
        (delivery("webhook"), {**CASE, "platform": "shop-z"}, DAY, Skip("no webhook address for this case")),
        (delivery("sms"), {**CASE, "phone_present": False, "masked": {}}, DAY, Skip("no sms address for this case")),
        (
            delivery("sms", now=NIGHT_UTC),
            CASE,
            NIGHT_UTC,
            Defer(datetime(2026, 11, 25, 0, 0, tzinfo=UTC), "quiet_hours"),
        ),
        (delivery("sms", urgent=True, now=NIGHT_UTC), CASE, NIGHT_UTC, Send("138****5678", "en")),
        (delivery("email", now=NIGHT_UTC), CASE, NIGHT_UTC, Send("x***@example.com", "en")),  # quiet hours: SMS only
        (delivery("sms", age_s=10), None, DAY, Defer(DAY + timedelta(seconds=2), "awaiting_case")),
        (delivery("sms", age_s=7200), None, DAY, Fail("no contact details: case.opened never arrived")),
    ],
)
def test_plan(doc: dict[str, Any], case: dict[str, Any] | None, now: datetime, expected: object) -> None:
    policy = POLICY.model_copy(update={"quiet_hours": {NotifyChannel.SMS: NIGHT}})
    assert plan(doc, case, now, policy, ["shop-a"]) == expected


def test_contact_of_reads_masks_only() -> None:
    contact = contact_of({"masked": {"phone": "138****5678"}, "sealed": "secret-token"})
    assert contact.phone_present
    assert not contact.email_present
    assert "secret-token" not in repr(contact)


CP = ChannelPolicy(max_attempts=3, backoff_base_s=1, backoff_max_s=10, jitter=0, breaker_reset_s=30)


@pytest.mark.parametrize(
    ("attempts", "outcome", "state", "due"),
    [
        (1, Outcome(ok=True), State.SENT, 100.0),
        (1, Outcome(ok=False, error="HTTP 503"), State.PENDING, 101.0),
        (2, Outcome(ok=False, error="HTTP 503"), State.PENDING, 102.0),
        (3, Outcome(ok=False, error="HTTP 503"), State.FAILED, 100.0),
        (1, Outcome(ok=False, error="HTTP 400", permanent=True), State.FAILED, 100.0),
        (2, Outcome(ok=False, not_attempted=True, retry_at=150.0), State.PENDING, 150.0),
    ],
)
def test_after_attempt(attempts: int, outcome: Outcome, state: State, due: float) -> None:
    assert after_attempt(attempts, outcome, CP, 100.0, 0.0) == (state, due)


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate=10, burst=3)
    assert [bucket.reserve(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.reserve(0.0) == pytest.approx(0.1)
    assert bucket.reserve(0.0) == pytest.approx(0.2)
    assert bucket.reserve(1.0) == 0.0  # refilled (capped at the burst)


@settings(deadline=None)  # a shared CI machine must not turn slowness into failures
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
    with pytest.raises(ValueError, match="HH:MM"):
        QuietHours(start="25:00", end="08:00")


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


def test_smtp_refuses_credentials_without_tls_unless_a_local_relay_is_allowed() -> None:
    from caseflow_notify.channels import SmtpConfig

    plain = SmtpConfig("mail.example", 25, "a@b.example", 5.0, username="u", password="p")
    with pytest.raises(ValueError, match="need TLS"):
        plain.check()
    SmtpConfig("mail.example", 587, "a@b.example", 5.0, username="u", password="p", starttls=True).check()
    SmtpConfig("mail.example", 465, "a@b.example", 5.0, username="u", password="p", implicit_tls=True).check()
    SmtpConfig("127.0.0.1", 25, "a@b.example", 5.0, username="u", password="p", allow_plaintext_auth=True).check()
    SmtpConfig("127.0.0.1", 25, "a@b.example", 5.0).check()  # no credentials, nothing to protect
