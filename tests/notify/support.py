"""Notify test support: synthetic events, a fast policy, and real local receivers (HTTP and SMTP)."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import uvicorn
import yaml
from aiosmtpd.controller import Controller

from caseflow_contracts.cases import (
    CaseEscalated,
    CaseEscalatedPayload,
    CaseOpened,
    CaseOpenedPayload,
    CaseProgressNoted,
    CaseResolved,
    CaseResolvedPayload,
    CaseStationActionPayload,
    EscalationTrigger,
    StationHint,
)
from caseflow_contracts.claims import (
    ClaimDecided,
    ClaimDecidedPayload,
    ClaimDecision,
    ComputationLine,
    PayoutIssued,
    PayoutIssuedPayload,
)
from caseflow_contracts.common import (
    CaseKind,
    Channel,
    LadderLevel,
    MaskedContact,
    Money,
    Priority,
    SealedContact,
)
from caseflow_contracts.sla import SlaBreached, SlaClockPayload, SlaMetric
from caseflow_contracts.stations import ResolutionResult
from caseflow_dev.broker import free_port
from caseflow_kit.privacy import Sealer, mask_email, mask_name, mask_phone
from caseflow_notify.channels import verify
from caseflow_notify.settings import DATA

TEST_KEY = base64.b64encode(bytes(range(32))).decode()
SEALER = Sealer("k1", bytes(range(32)))
#: Made afresh for each test session: secrets are never written in the repository.
WEBHOOK_SECRET = secrets.token_hex(16)
SMS_GATEWAY_TOKEN = secrets.token_hex(16)
NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)  # fixed: a test must not depend on when the run reached it


def case_id() -> str:
    return "CF-" + uuid.uuid4().hex[:16].upper()


def sealed_contact(
    *,
    name: str = "王小明",
    phone: str | None = "13812345678",
    email: str | None = "xiaoming.wang@example.com",
    language: str = "zh-CN",
    time_zone: str = "Asia/Shanghai",
) -> SealedContact:
    plain = {"name": name, "phone": phone, "email": email, "address": {"street": "建国路88号"}, "id_number": None}
    return SealedContact(
        masked=MaskedContact(name=mask_name(name), phone=mask_phone(phone), email=mask_email(email)),
        sealed=SEALER.seal(plain),
        key_id="k1",
        language=language,
        time_zone=time_zone,
        email_present=email is not None,
        phone_present=phone is not None,
    )


def opened(
    cid: str,
    *,
    priority: Priority = Priority.NORMAL,
    platform: str | None = "shop-a",
    at: datetime = NOW,
    **contact: Any,
) -> CaseOpened:
    payload = CaseOpenedPayload(
        case_id=cid,
        kind=CaseKind.DELAY,
        priority=priority,
        channel=Channel.PHONE,
        waybill_no="BE123456789012",
        platform=platform,
        language=contact.get("language", "zh-CN"),
        station_hint=StationHint(station="SH-PD-01", reason="destination station"),
        customer=sealed_contact(**contact),
        customer_ref="cust-" + uuid.uuid4().hex,
        opened_at=at,
        rules_version="test",
    )
    return CaseOpened.create(payload, key=cid, producer="intake")


def escalated(cid: str, *, at: datetime = NOW, priority: Priority = Priority.NORMAL) -> CaseEscalated:
    payload = CaseEscalatedPayload(
        case_id=cid,
        holder="SH-PD-01",
        level=LadderLevel.STATION,
        trigger=EscalationTrigger.INITIAL_ASSIGNMENT,
        trigger_ref="t-" + uuid.uuid4().hex[:8],
        reason="destination station",
        kind=CaseKind.DELAY,
        priority=priority,
        channel=Channel.PHONE,
        escalated_at=at,
    )
    return CaseEscalated.create(payload, key=cid, producer="routing")


def progress(cid: str, note: str = "包裹已找到，今日派送。") -> CaseProgressNoted:
    payload = CaseStationActionPayload(case_id=cid, station="SH-PD-01", level=LadderLevel.STATION, at=NOW, note=note)
    return CaseProgressNoted.create(payload, key=cid, producer="routing")


def resolved(cid: str) -> CaseResolved:
    payload = CaseResolvedPayload(
        case_id=cid,
        station="SH-PD-01",
        level=LadderLevel.STATION,
        at=NOW,
        result=ResolutionResult.RESOLVED,
        solution="已重新派送并签收。",
        kind=CaseKind.DELAY,
    )
    return CaseResolved.create(payload, key=cid, producer="routing")


def breached(cid: str, metric: SlaMetric = SlaMetric.CALLBACK, priority: Priority = Priority.NORMAL) -> SlaBreached:
    payload = SlaClockPayload(
        case_id=cid,
        metric=metric,
        level=LadderLevel.STATION,
        station="SH-PD-01",
        kind=CaseKind.DELAY,
        priority=priority,
        target_seconds=7200,
        elapsed_seconds=7300,
        started_at=NOW - timedelta(hours=2),
        deadline_at=NOW,
        policy_version="test",
    )
    return SlaBreached.create(payload, key=cid, producer="sla")


def claim_decided(cid: str, decision: ClaimDecision = ClaimDecision.APPROVED, amount: int = 12_50) -> ClaimDecided:
    money = Money(amount_minor=amount)
    payload = ClaimDecidedPayload(
        claim_id="CL-" + uuid.uuid4().hex[:8],
        case_id=cid,
        decision=decision,
        amount=money,
        lines=[ComputationLine(label="freight refund", amount=money, basis="delay: freight refunded")],
        automatic=True,
        rules_version="test",
        decided_at=NOW,
    )
    return ClaimDecided.create(payload, key=cid, producer="claims")


def payout(cid: str, amount: int = 12_50) -> PayoutIssued:
    payload = PayoutIssuedPayload(
        payout_id="PO-" + uuid.uuid4().hex[:8],
        claim_id="CL-1",
        case_id=cid,
        amount=Money(amount_minor=amount),
        issued_at=NOW,
    )
    return PayoutIssued.create(payload, key=cid, producer="claims")


def write_policy(folder: Path, **changes: Any) -> Path:
    """The shipped policy with fast retries (and any `changes` merged in at the top level)."""
    data = yaml.safe_load((DATA / "policy.yaml").read_text(encoding="utf-8"))
    for channel in data["channels"].values():
        channel.update(backoff_base_s=0.05, backoff_max_s=0.2, max_attempts=3, breaker_reset_s=0.3, lease_s=2.5)
        channel["timeout_s"] = 1.0
        channel["rate_per_s"] = 5000
        channel["burst"] = 5000
    data["quiet_hours"] = {}
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            for sub, subvalue in value.items():
                if isinstance(subvalue, dict) and isinstance(data[key].get(sub), dict):
                    data[key][sub].update(subvalue)
                else:
                    data[key][sub] = subvalue
        else:
            data[key] = value
    path = folder / f"policy-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


# -- a real local HTTP receiver -----------------------------------------------------------------------


@dataclass
class HttpReceiver:
    """A webhook receiver (verifies HMAC, refuses stale, de-duplicates) or an SMS gateway stand-in.

    `fail_next` requests are answered with `fail_status` (a receiver that fails, then recovers).
    """

    secret: bytes = WEBHOOK_SECRET.encode()
    fail_next: int = 0
    fail_status: int = 503
    hang_s: float = 0.0
    requests: int = 0
    accepted: list[dict[str, Any]] = field(default_factory=list)
    duplicates: int = 0
    refused: list[str] = field(default_factory=list)
    seen: dict[str, float] = field(default_factory=dict)
    sms_refs: set[str] = field(default_factory=set)
    url: str = ""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                pass
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        self.requests += 1
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        status, answer = self._answer(scope["path"], headers, body)
        if self.hang_s:  # processed, but the sender does not hear back in time
            await asyncio.sleep(self.hang_s)
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]}
        )
        await send({"type": "http.response.body", "body": json.dumps(answer).encode()})

    def _answer(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        if self.fail_next > 0:
            self.fail_next -= 1
            return self.fail_status, {"error": "down"}
        if path.startswith("/sms"):
            doc = json.loads(body)
            if headers.get("authorization") != f"Bearer {SMS_GATEWAY_TOKEN}":
                return 401, {"error": "token"}
            if doc["client_ref"] in self.sms_refs:
                self.duplicates += 1
                return 200, {"duplicate": True}
            self.sms_refs.add(doc["client_ref"])
            self.accepted.append(doc)
            return 200, {"message_id": uuid.uuid4().hex}
        problem = verify(self.secret, headers, body, now=time.time(), seen=self.seen)
        if problem == "replayed delivery":
            self.duplicates += 1
            return 200, {"duplicate": True}
        if problem:
            self.refused.append(problem)
            return 401, {"error": problem}
        self.accepted.append({"headers": headers, **json.loads(body)})
        return 200, {"ok": True}


@asynccontextmanager
async def serve_http(receiver: HttpReceiver) -> AsyncIterator[HttpReceiver]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(receiver, host="127.0.0.1", port=port, log_config=None, lifespan="off", access_log=False)
    )
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    receiver.url = f"http://127.0.0.1:{port}"
    try:
        yield receiver
    finally:
        server.should_exit = True
        server.force_exit = True  # do not wait for requests a test left hanging
        await asyncio.wait_for(task, 10)


# -- a real local SMTP server --------------------------------------------------------------------------


@dataclass
class SmtpReceiver:
    """aiosmtpd handler: records messages and counts connections (one EHLO each) and QUITs.

    Faults on demand: the first `fail_next` messages are answered 451 (try again later); addresses in
    `refuse` are refused at RCPT (550); `hang_up_at_mail` answers the next MAIL with 421 and closes;
    `stall_at_mail_s` answers the next MAIL that late; `hang_up_after_data` keeps the next message but
    closes before answering it; `slow_s` makes every message take that long (a slow relay).
    """

    fail_next: int = 0
    slow_s: float = 0
    refuse: set[str] = field(default_factory=set)
    hang_up_at_mail: bool = False
    stall_at_mail_s: float = 0
    hang_up_after_data: bool = False
    messages: list[EmailMessage] = field(default_factory=list)
    connections: int = 0
    quits: int = 0
    port: int = 0

    async def handle_EHLO(  # noqa: N802 - aiosmtpd's names
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:  # noqa: N802
        if self.hang_up_at_mail:
            self.hang_up_at_mail = False
            server.loop.call_soon(server.transport.close)  # after the reply is written
            return "421 4.4.2 Timeout exceeded, closing connection"
        if self.stall_at_mail_s:
            stall, self.stall_at_mail_s = self.stall_at_mail_s, 0
            await asyncio.sleep(stall)
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:  # noqa: N802
        if address in self.refuse:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        if self.slow_s:
            await asyncio.sleep(self.slow_s)
        if self.fail_next > 0:
            self.fail_next -= 1
            return "451 4.3.0 Mailbox busy, try again later"
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        if self.hang_up_after_data:
            self.hang_up_after_data = False
            server.transport.close()  # the client never hears that its message arrived
        return "250 Message accepted for delivery"

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.quits += 1
        return "221 Bye"


@contextmanager
def serve_smtp(receiver: SmtpReceiver, idle_timeout_s: float = 300) -> Iterator[SmtpReceiver]:
    """`idle_timeout_s`: the server hangs up (silently) on a connection idle that long."""
    port = free_port()
    controller = Controller(receiver, hostname="127.0.0.1", port=port, timeout=idle_timeout_s)
    controller.start()
    receiver.port = port
    try:
        yield receiver
    finally:
        controller.stop()


def notify_overrides(policy_path: Path, web: HttpReceiver, sms: HttpReceiver, smtp: SmtpReceiver) -> dict[str, Any]:
    """Settings pointing notify at the local receivers."""
    return {
        "pii_key": TEST_KEY,
        "pii_key_id": "k1",
        "notify_policy_path": policy_path,
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp.port,
        "sms_gateway_url": f"{sms.url}/sms",
        "sms_gateway_token": SMS_GATEWAY_TOKEN,
        "webhook_targets": {"shop-a": f"{web.url}/hooks/caseflow"},
        "webhook_secrets": {"shop-a": WEBHOOK_SECRET},
        "worker_poll_ms": 20,
    }
