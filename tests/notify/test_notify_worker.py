"""The delivery worker on a real SQLite store, against real local SMTP and HTTP receivers (no broker)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from caseflow_contracts import Event, parse_event
from caseflow_contracts.common import Priority
from caseflow_kit import Context, Runtime
from caseflow_kit.store import OutboxMessage, Query
from caseflow_notify.app import SPEC
from caseflow_notify.delivery import DeliveryWorker, Deps
from caseflow_notify.settings import NotifySettings
from caseflow_notify.store import DELIVERIES

from .support import (
    HttpReceiver,
    SmtpReceiver,
    case_id,
    claim_decided,
    notify_overrides,
    opened,
    serve_http,
    serve_smtp,
    write_policy,
)


async def no_flush() -> int:
    return 0


@dataclass
class Rig:
    tmp: Path
    web: HttpReceiver
    sms: HttpReceiver
    smtp: SmtpReceiver
    runtime: Runtime[NotifySettings, Deps]
    worker: DeliveryWorker

    async def handle(self, event: Event) -> None:
        for sub in SPEC.subscriptions:
            handler = sub.handlers.get(event.type)
            if handler is not None:
                uow = self.runtime.unit_of_work()
                await handler(
                    event,
                    Context(
                        uow=uow, deps=self.runtime.deps, event=event, producer="notify", now=self.runtime.clock.now()
                    ),
                )
                await uow.commit()

    async def deliveries(self, cid: str) -> list[dict[str, Any]]:
        return await self.runtime.store.find(DELIVERIES, Query(where={"case_id": cid}, order_by="created_at"))

    async def outbox(self) -> list[OutboxMessage]:
        return [r.message for r in await self.runtime.store.outbox_pending(100_000)]

    async def events(self, event_type: str) -> list[Event]:
        found = []
        for m in await self.outbox():
            if not m.topic.endswith(".dlq") and m.headers.get("x-event-type") == event_type:
                found.append(parse_event(m.value))
        return found

    async def dead_letters(self) -> list[OutboxMessage]:
        return [m for m in await self.outbox() if m.topic.endswith(".dlq")]

    async def drain(self, rounds: int = 20, pause: float = 0.06) -> None:
        """Run worker rounds until nothing is due (retries are due after their backoff)."""
        for _ in range(rounds):
            await self.worker.run_once()
            pending = await self.runtime.store.count(DELIVERIES, Query(where={"state": "pending"}))
            sending = await self.runtime.store.count(DELIVERIES, Query(where={"state": "sending"}))
            if pending == 0 and sending == 0:
                return
            await asyncio.sleep(pause)

    async def restart(self, **policy_changes: Any) -> None:
        """A new process on the same data: new runtime, new worker, same SQLite file."""
        await self.runtime.close()
        self.runtime, self.worker = await start(self.tmp, self.web, self.sms, self.smtp, **policy_changes)


async def start(
    tmp: Path, web: HttpReceiver, sms: HttpReceiver, smtp: SmtpReceiver, **policy_changes: Any
) -> tuple[Runtime[NotifySettings, Deps], DeliveryWorker]:
    overrides = notify_overrides(write_policy(tmp, **policy_changes), web, sms, smtp)
    settings = NotifySettings.model_validate({**overrides, "data_dir": tmp, "log_format": "console"})
    runtime = Runtime(SPEC, settings)
    runtime.ownership.own_everything(1)
    await runtime.start_dependencies()
    worker = DeliveryWorker(
        runtime.store,
        runtime.unit_of_work,
        no_flush,
        runtime.deps,
        runtime.ownership,
        group_id="notify-test",
        topic_prefix="",
    )
    return runtime, worker


@pytest.fixture
async def rig(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    param = getattr(request, "param", {})
    # a callable param is evaluated here, when the test starts: anything built from the clock at collection
    # time is stale by however long the run took to reach this test
    changes = param() if callable(param) else param
    smtp = SmtpReceiver()
    with serve_smtp(smtp):
        async with serve_http(HttpReceiver()) as web, serve_http(HttpReceiver()) as sms:
            runtime, worker = await start(tmp_path, web, sms, smtp, **changes)
            the_rig = Rig(tmp_path, web, sms, smtp, runtime, worker)
            try:
                yield the_rig
            finally:
                await the_rig.runtime.close()


async def test_case_opened_reaches_the_customer_on_every_channel_in_their_language(rig: Rig) -> None:
    cid = case_id()
    await rig.handle(opened(cid, language="en", time_zone="Europe/London"))
    await rig.drain()

    docs = await rig.deliveries(cid)
    assert sorted((d["channel"], d["state"], d["attempts"]) for d in docs) == [
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
    assert mail["Message-ID"] == f"<{next(d['_id'] for d in docs if d['channel'] == 'email')}@caseflow>"
    assert "Dear customer" in mail.get_content()
    # the webhook was signed, verified by the receiver, and carries no personal data
    [hook] = rig.web.accepted
    assert hook["case_id"] == cid
    assert hook["event"] == "case.opened"
    assert "13812345678" not in json.dumps(hook, ensure_ascii=False)
    # notification.sent per channel, masked
    sent = await rig.events("notification.sent")
    assert sorted(e.payload.recipient for e in sent) == sorted(["138****5678", "x***@example.com", "shop-a"])  # type: ignore[attr-defined]
    assert all(e.payload.locale == "en" for e in sent)  # type: ignore[attr-defined]
    # nothing personal in the store or the outbox: only the sealed token and masks
    raw = (rig.tmp / "notify.db").read_bytes() + b"".join(m.value for m in await rig.outbox())
    for plain in ("13812345678", "xiaoming.wang@example.com", "王小明", "建国路88号"):
        assert plain.encode() not in raw


async def test_a_receiver_that_fails_then_recovers_gets_it_once(rig: Rig) -> None:
    rig.web.fail_next = 2
    rig.smtp.fail_next = 1
    cid = case_id()
    await rig.handle(opened(cid, phone=None))
    await rig.drain()

    docs = {d["channel"]: d for d in await rig.deliveries(cid)}
    assert set(docs) == {"email", "webhook"}  # no phone: no SMS delivery at all
    assert docs["webhook"]["state"] == "sent"
    assert docs["webhook"]["attempts"] == 3
    assert [e["error"] for e in docs["webhook"]["log"]] == ["HTTP 503", "HTTP 503", None]
    assert docs["email"]["attempts"] == 2
    assert docs["email"]["log"][0]["error"].startswith("SMTP")
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
    assert (doc["state"], doc["attempts"], doc["last_error"]) == ("failed", 3, "HTTP 503")
    assert rig.web.requests == 3
    [failed] = await rig.events("notification.failed")
    assert failed.payload.reason == "HTTP 503"  # type: ignore[attr-defined]
    assert failed.causation_id == event.event_id
    [dead] = await rig.dead_letters()
    assert dead.topic == "cases.lifecycle.dlq"
    assert dead.headers["x-dlq-reason"] == "delivery_failed"
    assert dead.headers["x-dlq-notification-id"] == doc["_id"]
    assert parse_event(dead.value).event_id == event.event_id  # the original trigger, replayable


async def test_a_permanent_error_is_not_retried(rig: Rig) -> None:
    rig.web.fail_next, rig.web.fail_status = 1, 400
    cid = case_id()
    await rig.handle(opened(cid, phone=None, email=None))
    await rig.drain()
    [doc] = await rig.deliveries(cid)
    assert (doc["state"], doc["attempts"]) == ("failed", 1)
    assert len(await rig.dead_letters()) == 1


async def test_a_timeout_is_retried_with_the_same_key_and_the_receiver_drops_the_copy(rig: Rig) -> None:
    rig.web.hang_s = 1.5  # longer than the webhook timeout (1 s in the test policy)
    cid = case_id()
    await rig.handle(opened(cid, phone=None, email=None))
    await rig.worker.run_once()
    [doc] = await rig.deliveries(cid)
    assert (doc["state"], doc["last_error"]) == ("pending", "webhook unreachable: TimeoutError")
    rig.web.hang_s = 0
    await rig.drain()
    [doc] = await rig.deliveries(cid)
    assert (doc["state"], doc["attempts"]) == ("sent", 2)
    # processed once; any copy that reached it again (normally the second attempt) was recognised and dropped
    assert len(rig.web.accepted) == 1
    assert rig.web.duplicates == rig.web.requests - 1
    assert rig.web.accepted[0]["headers"]["x-caseflow-delivery"] == doc["_id"]


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
    # the first round sends all ten at once (breaker closed); it opens after the failures
    first = rig.web.requests
    await rig.worker.run_once()
    docs = [d for cid in cases for d in await rig.deliveries(cid)]
    assert rig.web.requests == first  # nothing more went out while the breaker is open
    assert {d["deferred"] for d in docs if d["state"] == "pending"} <= {"circuit_open", None}
    # the receiver recovers: after the reset time one trial closes the breaker, then everything flows
    rig.web.fail_next = 0
    await asyncio.sleep(1.55)
    await rig.drain(rounds=40, pause=0.1)
    docs = [d for cid in cases for d in await rig.deliveries(cid)]
    assert {d["state"] for d in docs} == {"sent"}
    assert len(rig.web.accepted) == 10


async def test_a_restart_in_the_middle_of_a_send_does_not_deliver_twice(rig: Rig) -> None:
    cid = case_id()
    rig.web.hang_s = 30  # the receiver processes it, the sender never hears back
    await rig.handle(opened(cid, phone=None))
    task = asyncio.create_task(rig.worker.run_once())
    for _ in range(200):
        if rig.web.requests and rig.smtp.messages:
            break
        await asyncio.sleep(0.02)
    task.cancel()  # the process dies mid-send
    with pytest.raises(asyncio.CancelledError):
        await task
    states = {d["channel"]: d["state"] for d in await rig.deliveries(cid)}
    assert states["webhook"] == "sending"

    assert len(rig.web.accepted) == 1
    rig.web.hang_s = 0
    await rig.restart()
    await asyncio.sleep(2.6)  # the lease (2.5 s in the test policy) runs out
    await rig.drain()

    docs = {d["channel"]: d for d in await rig.deliveries(cid)}
    # webhook: re-sent with the same delivery id; the receiver recognised it and did not process it again
    assert docs["webhook"]["state"] == "sent"
    assert docs["webhook"]["attempts"] == 2
    assert (len(rig.web.accepted), rig.web.duplicates) == (1, 1)
    # e-mail was delivered before the crash was noticed, or is failed for a person: never sent twice
    assert len(rig.smtp.messages) == 1
    assert docs["email"]["state"] in {"sent", "failed"}
    assert len([e for e in await rig.events("notification.sent") if e.payload.channel == "webhook"]) == 1  # type: ignore[attr-defined]

    # and after another restart nothing that is sent goes out again
    before = (rig.web.requests, len(rig.smtp.messages))
    await rig.restart()
    await rig.drain()
    assert (rig.web.requests, len(rig.smtp.messages)) == before


async def test_a_graceful_stop_lets_sends_in_flight_finish_and_records_them(rig: Rig) -> None:
    rig.web.hang_s = 0.5
    cid = case_id()
    await rig.handle(opened(cid, phone=None, email=None))
    task = asyncio.create_task(rig.worker.run())
    for _ in range(200):
        if rig.web.requests:
            break
        await asyncio.sleep(0.01)
    task.cancel()  # SIGTERM: the kit cancels background jobs
    with contextlib.suppress(asyncio.CancelledError):
        await task
    [doc] = await rig.deliveries(cid)
    assert (doc["state"], doc["attempts"]) == ("sent", 1)
    assert len(await rig.events("notification.sent")) == 1


def quiet_now(zone: str) -> dict[str, Any]:
    local = datetime.now(UTC).astimezone(ZoneInfo(zone))
    start, end = local - timedelta(hours=1), local + timedelta(hours=1)
    return {"quiet_hours": {"sms": {"start": start.strftime("%H:%M"), "end": end.strftime("%H:%M")}}}


@pytest.mark.parametrize("rig", [lambda: quiet_now("America/New_York")], indirect=True)
async def test_quiet_hours_hold_sms_but_not_urgent_sms_or_email(rig: Rig) -> None:
    calm, urgent = case_id(), case_id()
    await rig.handle(opened(calm, time_zone="America/New_York", platform=None))
    await rig.handle(opened(urgent, time_zone="America/New_York", platform=None, priority=Priority.URGENT))
    await rig.drain(rounds=3)
    calm_docs = {d["channel"]: d for d in await rig.deliveries(calm)}
    assert calm_docs["sms"]["state"] == "pending"
    assert calm_docs["sms"]["deferred"] == "quiet_hours"
    assert calm_docs["sms"]["due_at"] > time.time() + 3000
    assert calm_docs["email"]["state"] == "sent"
    urgent_docs = {d["channel"]: d for d in await rig.deliveries(urgent)}
    assert urgent_docs["sms"]["state"] == "sent"
    assert [m["to"] for m in rig.sms.accepted] == ["13812345678"]


@pytest.mark.parametrize("rig", [{"channels": {"sms": {"rate_per_s": 20, "burst": 1}}}], indirect=True)
async def test_the_rate_limit_paces_a_channel(rig: Rig) -> None:
    for _ in range(8):
        await rig.handle(opened(case_id(), email=None, platform=None))
    started = time.monotonic()
    await rig.drain()
    assert len(rig.sms.accepted) == 8
    assert time.monotonic() - started >= 7 / 20 - 0.02


async def test_an_event_that_overtakes_case_opened_waits_for_the_contact(rig: Rig) -> None:
    cid = case_id()
    await rig.handle(claim_decided(cid))  # claims.events is another topic: it may arrive first
    await rig.worker.run_once()
    docs = await rig.deliveries(cid)
    assert {d["deferred"] for d in docs} == {"awaiting_case"}
    await rig.handle(opened(cid))
    # the claim deliveries are due again within 30 s; make them due now for the test
    uow = rig.runtime.unit_of_work()
    for d in await rig.deliveries(cid):
        if d["deferred"] == "awaiting_case":
            uow.update(DELIVERIES, {**d, "due_at": 0})
    await uow.commit()
    await rig.drain()
    docs = await rig.deliveries(cid)
    assert {(d["template"], d["state"]) for d in docs} == {("claim_decided", "sent"), ("case_acknowledged", "sent")}
    assert len(docs) == 6


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
    assert doc["state"] == "failed"

    issuer = LocalIssuer.ensure(rig.tmp)
    admin = {"Authorization": "Bearer " + issuer.mint("ops-1", [Role.OPS_ADMIN])}
    reader = {"Authorization": "Bearer " + issuer.mint("reader-1", [Role.CASES_READER])}
    http = edge_client(rig.runtime, issuer)
    path = f"/cases/{cid}/notifications/{doc['_id']}/retry"
    assert (await http.post(path)).status_code == 401
    assert (await http.post(path, headers=reader)).status_code == 403
    assert (await rig.deliveries(cid))[0]["state"] == "failed"  # refused: nothing changed
    answer = await http.post(path, headers=admin)
    assert answer.status_code == 202
    again = await http.post(path, headers=admin)
    assert again.status_code == 409  # pending now: only failed deliveries are re-driven
    missing = await http.post(f"/cases/CF-OTHER0001/notifications/{doc['_id']}/retry", headers=admin)
    assert missing.status_code == 404
    await rig.drain()
    [doc] = await rig.deliveries(cid)
    assert (doc["state"], doc["attempts"], doc["redrives"]) == ("sent", 1, 1)
    assert [e.get("by") for e in doc["log"] if e["error"] == "manual retry"] == ["ops-1"]
    assert len(rig.web.accepted) == 1
    assert len(await rig.events("notification.failed")) == 1
    assert len(await rig.events("notification.sent")) == 1
