"""The delivery worker through the shared rig: real consumer, SQLite, real SMTP and HTTP receivers, and a
ManualClock advanced instead of sleeping (leases, backoff, breakers, rate slots, sending hours)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from caseflow_contracts import parse_event
from caseflow_contracts.common import Channel, Priority
from caseflow_dev.testing import until

from .rig import Rig, notify_rig
from .support import NOW, case_id, claim_decided, opened

ALL = {"fan_out": "all"}  # the old fan-out, for the tests that pin every channel at once


@pytest.fixture
async def rig(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    async with notify_rig(tmp_path, **getattr(request, "param", {})) as the_rig:
        yield the_rig


@pytest.mark.parametrize("rig", [ALL], indirect=True)
async def test_case_opened_reaches_the_customer_on_every_channel_in_their_language(rig: Rig) -> None:
    cid = case_id()
    await rig.handle(opened(cid, language="en", time_zone="Europe/London"))
    await rig.drain()

    docs = await rig.deliveries(cid)
    assert sorted((d.any_channel.value, d.state.value, d.attempts) for d in docs) == [
        ("email", "sent", 1),
        ("sms", "sent", 1),
        ("webhook", "sent", 1),
    ]
    # SMS gateway got the plain number (opened only at send time) and English text
    [sms] = rig.sms.accepted
    assert sms["to"] == "13812345678"
    assert sms["text"].startswith("[BEST Express]")
    assert cid in sms["text"]
    # SMTP got a real e-mail with the seed phrasing
    [mail] = rig.smtp.messages
    assert mail["To"] == "xiaoming.wang@example.com"
    assert mail["Message-ID"] == f"<{next(d.id for d in docs if d.channel == 'email')}@caseflow>"
    assert "Hello, this is BEST Express" in mail.get_content()
    # the webhook was signed, verified by the receiver, and carries no personal data
    [hook] = rig.web.accepted
    assert hook["case_id"] == cid
    assert hook["event"] == "case.opened"
    assert "13812345678" not in json.dumps(hook, ensure_ascii=False)
    # notification.sent per channel, masked
    sent = await rig.events("notification.sent")
    assert sorted(e.payload.recipient for e in sent) == sorted(["138****5678", "x***@example.com", "shop-a"])  # type: ignore[attr-defined]
    assert {e.payload.locale for e in sent} == {"en"}  # type: ignore[attr-defined]
    # nothing personal in the store or what was published: only the sealed token and masks
    raw = (rig.tmp / "notify.db").read_bytes() + b"".join(m.value for m in await rig.sut.published())
    for plain in ("13812345678", "xiaoming.wang@example.com", "王小明", "建国路88号"):
        assert plain.encode() not in raw


async def test_each_step_reaches_the_customer_once_on_their_preferred_channel(rig: Rig) -> None:
    by_phone, by_email = case_id(), case_id()
    await rig.handle(opened(by_phone), opened(by_email, channel=Channel.EMAIL, platform=None))
    await rig.drain()

    phone_docs = await rig.by_channel(by_phone)
    assert {c: d.state.value for c, d in phone_docs.items()} == {"sms": "sent", "webhook": "sent"}
    [email_doc] = await rig.deliveries(by_email)
    assert (email_doc.any_channel.value, email_doc.state.value) == ("email", "sent")
    assert [m["to"] for m in rig.sms.accepted] == ["13812345678"]
    assert [m["X-Caseflow-Case"] for m in rig.smtp.messages] == [by_email]
    assert len(await rig.events("notification.sent")) == 3


async def test_a_receiver_that_fails_then_recovers_gets_it_once(rig: Rig) -> None:
    rig.web.fail_next = 2
    rig.smtp.fail_next = 1
    cid = case_id()
    await rig.handle(opened(cid, phone=None))
    await rig.drain()

    docs = await rig.by_channel(cid)
    assert set(docs) == {"email", "webhook"}  # no phone: nothing goes by SMS
    assert docs["webhook"].state.value == "sent"
    assert docs["webhook"].attempts == 3
    assert [e.error for e in docs["webhook"].log] == ["HTTP 503", "HTTP 503", None]
    assert docs["email"].attempts == 2
    assert (docs["email"].log[0].error or "").startswith("SMTP")
    assert len(rig.web.accepted) == 1
    assert len(rig.smtp.messages) == 1
    assert len(await rig.events("notification.sent")) == 2
    assert await rig.events("notification.failed") == []


async def test_after_the_last_attempt_failed_event_and_dead_letter_exactly_once(rig: Rig) -> None:
    rig.web.fail_next = 1000
    cid = case_id()
    event = opened(cid, phone=None, email=None)
    await rig.handle(event)
    await rig.drain()
    for _ in range(3):  # more rounds change nothing
        await rig.worker.run_once()

    [doc] = await rig.deliveries(cid)
    assert (doc.state.value, doc.attempts, doc.last_error) == ("failed", 3, "HTTP 503")
    assert len(rig.web.requests) == 3
    [failed] = await rig.events("notification.failed")
    assert failed.payload.reason == "HTTP 503"  # type: ignore[attr-defined]
    assert failed.causation_id == event.event_id
    [dead] = await rig.dead_letters()
    assert dead.topic == "cases.lifecycle.dlq"
    assert dead.headers["x-dlq-reason"] == "delivery_failed"
    assert dead.headers["x-dlq-notification-id"] == doc.id
    assert dead.headers["x-event-type"] == "case.opened"  # the trigger's own headers travel with it
    assert parse_event(dead.value).event_id == event.event_id  # the original trigger, replayable


async def test_a_permanent_error_is_not_retried(rig: Rig) -> None:
    rig.web.fail_next, rig.web.fail_status = 1, 400
    cid = case_id()
    await rig.handle(opened(cid, phone=None, email=None))
    await rig.drain()
    [doc] = await rig.deliveries(cid)
    assert (doc.state.value, doc.attempts) == ("failed", 1)
    assert len(await rig.dead_letters()) == 1


async def test_a_timeout_is_retried_with_the_same_key_and_the_receiver_drops_the_copy(rig: Rig) -> None:
    rig.web.hang_s = 1.5  # longer than the webhook timeout (1 s in the test policy): real I/O time
    cid = case_id()
    await rig.handle(opened(cid, phone=None, email=None))
    await rig.worker.run_once()
    [doc] = await rig.deliveries(cid)
    assert (doc.state.value, doc.last_error) == ("pending", "webhook unreachable: TimeoutError")
    rig.web.hang_s = 0
    await rig.drain()
    [doc] = await rig.deliveries(cid)
    assert (doc.state.value, doc.attempts) == ("sent", 2)
    # processed once; any copy that reached it again (normally the second attempt) was recognised and dropped
    assert len(rig.web.accepted) == 1
    assert rig.web.duplicates == len(rig.web.requests) - 1 >= 1
    assert rig.web.accepted[0]["headers"]["x-caseflow-delivery"] == doc.id


@pytest.mark.parametrize(
    "rig",
    [{"channels": {"webhook": {"breaker_failures": 2, "max_attempts": 10, "breaker_reset_s": 1.5}}}],
    indirect=True,
)
async def test_the_circuit_breaker_stops_hammering_a_dead_receiver(rig: Rig) -> None:
    rig.web.fail_next = 1000
    cases = [case_id() for _ in range(10)]
    for cid in cases:
        await rig.handle(opened(cid, phone=None, email=None))
    await rig.worker.run_once()
    # the first round claims all ten (breaker closed); it opens after two failures, and the sends still
    # waiting for a connection then are handed back unattempted rather than added to a dead receiver
    first = len(rig.web.requests)
    assert 2 <= first <= 10
    await rig.worker.run_once()
    docs = [d for cid in cases for d in await rig.deliveries(cid)]
    assert len(rig.web.requests) == first  # nothing more went out while the breaker is open
    assert {d.deferred for d in docs if d.state.value == "pending"} <= {"circuit_open", None}
    assert len(docs) == 10
    # the receiver recovers: after the reset time one trial closes the breaker, then everything flows
    rig.web.fail_next = 0
    rig.clock.advance(1.55)
    await rig.drain()
    docs = [d for cid in cases for d in await rig.deliveries(cid)]
    assert {d.state.value for d in docs} == {"sent"}
    assert len(rig.web.accepted) == 10


@pytest.mark.parametrize(
    "rig", [{"channels": {"email": {"breaker_failures": 1, "max_attempts": 2, "breaker_reset_s": 60}}}], indirect=True
)
async def test_a_send_the_breaker_stopped_before_it_began_costs_no_attempt(rig: Rig) -> None:
    rig.smtp.fail_next = 1000  # every message refused for now (451)
    cases = [case_id() for _ in range(10)]
    for cid in cases:
        await rig.handle(opened(cid, phone=None, platform=None))
    await rig.worker.run_once()
    docs = [d for cid in cases for d in await rig.deliveries(cid)]
    tried = [d for d in docs if d.attempts == 1]
    untried = [d for d in docs if d.attempts == 0]
    # eight SMTP sessions: eight sends went out and failed; the two waiting for a session when the breaker
    # opened were never made, and wait for the breaker's trial without having used up an attempt
    assert (len(tried), len(untried)) == (8, 2)
    for d in untried:
        assert (d.state.value, d.due_at, d.log[-1].ok) == ("pending", rig.clock.time() + 60, None)


async def test_a_restart_in_the_middle_of_a_send_does_not_deliver_twice(rig: Rig) -> None:
    cid = case_id()
    rig.web.hang_s = 30  # the receiver processes it, the sender never hears back
    await rig.handle(opened(cid, phone=None))
    task = asyncio.create_task(rig.worker.run_once())
    await until(lambda: rig.web.requests and rig.smtp.messages, what="the receivers having it")  # real I/O
    task.cancel()  # the process dies mid-send
    with pytest.raises(asyncio.CancelledError):
        await task
    states = {c: d.state.value for c, d in (await rig.by_channel(cid)).items()}
    assert states["webhook"] == "sending"

    assert len(rig.web.accepted) == 1
    rig.web.hang_s = 0
    await rig.restart()
    rig.clock.advance(2.6)  # the lease (2.5 s in the test policy) runs out
    await rig.drain()

    docs = await rig.by_channel(cid)
    # webhook: re-sent with the same delivery id; the receiver recognised it and did not process it again
    assert docs["webhook"].state.value == "sent"
    assert docs["webhook"].attempts == 2
    assert (len(rig.web.accepted), rig.web.duplicates) == (1, 1)
    # e-mail was delivered before the crash was noticed, or is failed for a person: never sent twice
    assert len(rig.smtp.messages) == 1
    assert docs["email"].state.value in {"sent", "failed"}
    webhook_sent = [e for e in await rig.events("notification.sent") if e.payload.channel == "webhook"]  # type: ignore[attr-defined]
    assert len(webhook_sent) == 1

    # and after another restart nothing that is sent goes out again
    before = (len(rig.web.requests), len(rig.smtp.messages))
    await rig.restart()
    rig.clock.advance(3600)
    await rig.drain()
    assert (len(rig.web.requests), len(rig.smtp.messages)) == before


async def test_a_graceful_stop_lets_sends_in_flight_finish_and_records_them(rig: Rig) -> None:
    rig.web.hang_s = 0.5
    cid = case_id()
    await rig.handle(opened(cid, phone=None, email=None))
    task = asyncio.create_task(rig.worker.run())
    await until(lambda: rig.web.requests, what="the send on its way")  # real I/O
    task.cancel()  # SIGTERM: the kit cancels background jobs
    with contextlib.suppress(asyncio.CancelledError):
        await task
    [doc] = await rig.deliveries(cid)
    assert (doc.state.value, doc.attempts) == ("sent", 1)
    assert len(await rig.events("notification.sent")) == 1


NIGHT_IN_NEW_YORK = {  # NOW is 01:00 in New York; SMS may go 08:00-21:00 local
    **ALL,
    "sending_hours": {"sms": {"week": {d: ["08:00-21:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}}},
}


@pytest.mark.parametrize("rig", [NIGHT_IN_NEW_YORK], indirect=True)
async def test_sending_hours_hold_sms_but_not_urgent_sms_or_email(rig: Rig) -> None:
    calm, urgent = case_id(), case_id()
    await rig.handle(opened(calm, time_zone="America/New_York", platform=None))
    await rig.handle(opened(urgent, time_zone="America/New_York", platform=None, priority=Priority.URGENT))
    await rig.drain(wait_up_to_s=0)
    calm_docs = await rig.by_channel(calm)
    assert calm_docs["sms"].state.value == "pending"
    assert calm_docs["sms"].deferred == "quiet_hours"
    assert calm_docs["sms"].due_at == NOW.timestamp() + 7 * 3600  # 08:00 in New York
    assert calm_docs["email"].state.value == "sent"
    urgent_docs = await rig.by_channel(urgent)
    assert urgent_docs["sms"].state.value == "sent"
    assert [m["to"] for m in rig.sms.accepted] == ["13812345678"]
    # at 08:00 New York time it goes
    await rig.drain(wait_up_to_s=8 * 3600)
    assert (await rig.by_channel(calm))["sms"].state.value == "sent"
    assert len(rig.sms.accepted) == 2


@pytest.mark.parametrize("rig", [{"channels": {"sms": {"rate_per_s": 20, "burst": 1}}}], indirect=True)
async def test_the_rate_limit_paces_a_channel(rig: Rig) -> None:
    for _ in range(8):
        await rig.handle(opened(case_id(), email=None, platform=None))
    started = rig.clock.time()
    await rig.drain()
    assert len(rig.sms.accepted) == 8
    sent_at = sorted(d.sent_at or 0 for d in await rig.all_deliveries())
    assert len(sent_at) == 8
    assert sent_at[-1] - started >= 7 / 20 - 1e-6
    assert all(b - a >= 1 / 20 - 1e-6 for a, b in itertools.pairwise(sent_at))


@pytest.mark.parametrize("rig", [ALL], indirect=True)
async def test_an_event_that_overtakes_case_opened_waits_for_the_contact(rig: Rig) -> None:
    cid = case_id()
    await rig.handle(claim_decided(cid))  # claims.events is another topic: it may arrive first
    await rig.worker.run_once()
    docs = await rig.deliveries(cid)
    assert {d.deferred for d in docs} == {"awaiting_case"}
    await rig.handle(opened(cid))
    await rig.drain()  # the waiting deliveries look again after contact_recheck_s (2 s)
    docs = await rig.deliveries(cid)
    assert {(d.template, d.state.value) for d in docs} == {("claim_decided", "sent"), ("case_acknowledged", "sent")}
    assert len(docs) == 6


@pytest.mark.parametrize("rig", [ALL], indirect=True)
async def test_contact_sealed_the_way_intake_seals_it_opens_at_send_time(rig: Rig) -> None:
    """Contract with intake: the sealed token's plain fields (phone, email) are what notify reads."""
    from caseflow_contracts.upstream import Customer
    from caseflow_intake.pii import seal

    from .support import SEALER

    customer = Customer(name="李雷", phone="13900001111", email="li.lei@example.org", language="en")
    event = opened(case_id(), platform=None)
    payload = event.payload.model_copy(update={"customer": seal(SEALER, customer, "en")})
    await rig.handle(event.model_copy(update={"payload": payload}))
    await rig.drain()
    assert [m["to"] for m in rig.sms.accepted] == ["13900001111"]
    assert [m["To"] for m in rig.smtp.messages] == ["li.lei@example.org"]
    assert rig.sms.accepted[0]["text"].startswith("[BEST Express]")


async def test_a_person_can_redrive_a_failed_delivery(rig: Rig) -> None:
    from caseflow_dev.testing import edge_client
    from caseflow_kit.auth import Role
    from caseflow_ops.tokens import LocalIssuer

    rig.web.fail_next = 3
    cid = case_id()
    await rig.handle(opened(cid, phone=None, email=None))
    await rig.drain()
    [doc] = await rig.deliveries(cid)
    assert doc.state.value == "failed"

    issuer = LocalIssuer.ensure(rig.tmp)
    admin = {"Authorization": "Bearer " + issuer.mint("ops-1", [Role.OPS_ADMIN])}
    reader = {"Authorization": "Bearer " + issuer.mint("reader-1", [Role.CASES_READER])}
    http = edge_client(rig.sut.runtime, issuer)
    path = f"/cases/{cid}/notifications/{doc.id}/retry"
    assert (await http.post(path)).status_code == 401
    assert (await http.post(path, headers=reader)).status_code == 403
    assert (await rig.deliveries(cid))[0].state.value == "failed"  # refused: nothing changed
    answer = await http.post(path, headers=admin)
    assert answer.status_code == 202
    again = await http.post(path, headers=admin)
    assert again.status_code == 409  # pending now: only failed deliveries are re-driven
    missing = await http.post(f"/cases/CF-OTHER0001/notifications/{doc.id}/retry", headers=admin)
    assert missing.status_code == 404
    history = (await http.get(f"/cases/{cid}/notifications", headers=reader)).json()
    assert [n["state"] for n in history["notifications"]] == ["pending"]
    await rig.drain()
    [doc] = await rig.deliveries(cid)
    assert (doc.state.value, doc.attempts, doc.redrives) == ("sent", 1, 1)
    assert [e.by for e in doc.log if e.error == "manual retry"] == ["ops-1"]
    assert len(rig.web.accepted) == 1
    assert len(await rig.events("notification.failed")) == 1
    assert len(await rig.events("notification.sent")) == 1
