"""Notify test support: synthetic events at fixed times, a fast policy, and the shared local receivers
(caseflow_dev.sinks) set up the way notify's channels talk to them."""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from caseflow_contracts.cases import (
    CaseClosed,
    CaseClosedPayload,
    CaseEscalated,
    CaseEscalatedPayload,
    CaseOpened,
    CaseOpenedPayload,
    CaseProgressNoted,
    CaseReopened,
    CaseReopenedPayload,
    CaseResolved,
    CaseResolvedPayload,
    CaseStationActionPayload,
    CaseTransferred,
    CaseTransferredPayload,
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
from caseflow_contracts.common import CaseKind, Channel, LadderLevel, MaskedContact, Money, Priority, SealedContact
from caseflow_contracts.sla import (
    SlaBreached,
    SlaBreachWithdrawn,
    SlaBreachWithdrawnPayload,
    SlaClockPayload,
    SlaMetric,
)
from caseflow_contracts.stations import ResolutionResult
from caseflow_dev.sinks import DUPLICATE, HttpSink, SmtpSink, WebhookCheck
from caseflow_kit.privacy import Sealer, mask_email, mask_name, mask_phone
from caseflow_notify.channels import verify
from caseflow_notify.settings import DATA

TEST_KEY = base64.b64encode(bytes(range(32))).decode()
SEALER = Sealer("k1", bytes(range(32)))
#: Made afresh for each test session: secrets are never written in the repository.
WEBHOOK_SECRET = secrets.token_hex(16)
SMS_GATEWAY_TOKEN = secrets.token_hex(16)
NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)  # 14:00 in Shanghai; fixed: a test must not depend on when it runs
STATION = "SH-PD-01"
AGENT = "A1024"


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
    channel: Channel = Channel.PHONE,
    at: datetime = NOW,
    **contact: Any,
) -> CaseOpened:
    payload = CaseOpenedPayload(
        case_id=cid,
        kind=CaseKind.DELAY,
        priority=priority,
        channel=channel,
        waybill_no="BE123456789012",
        platform=platform,
        language=contact.get("language", "zh-CN"),
        station_hint=StationHint(station=STATION, reason="destination station"),
        customer=sealed_contact(**contact),
        customer_ref="cust-" + uuid.uuid4().hex,
        opened_at=at,
        rules_version="test",
    )
    return CaseOpened.create(payload, key=cid, producer="intake", occurred_at=at)


def escalated(
    cid: str,
    *,
    at: datetime = NOW,
    priority: Priority = Priority.NORMAL,
    trigger: EscalationTrigger = EscalationTrigger.INITIAL_ASSIGNMENT,
    supervisor: str | None = None,
) -> CaseEscalated:
    payload = CaseEscalatedPayload(
        case_id=cid,
        holder=STATION,
        level=LadderLevel.STATION if supervisor is None else LadderLevel.HUB,
        trigger=trigger,
        trigger_ref="t-" + uuid.uuid4().hex[:8],
        reason="destination station",
        kind=CaseKind.DELAY,
        priority=priority,
        channel=Channel.PHONE,
        escalated_at=at,
        supervisor=supervisor,
    )
    return CaseEscalated.create(payload, key=cid, producer="routing", occurred_at=at)


def transferred(cid: str, to_station: str = "SH-MH-02", *, at: datetime = NOW) -> CaseTransferred:
    payload = CaseTransferredPayload(
        case_id=cid,
        from_station=STATION,
        to_station=to_station,
        level=LadderLevel.STATION,
        reason="out of area",
        kind=CaseKind.OUT_OF_AREA_TRANSFER,
        priority=Priority.NORMAL,
        channel=Channel.PHONE,
        transferred_at=at,
        decided_by="hq-desk-1",
    )
    return CaseTransferred.create(payload, key=cid, producer="routing", occurred_at=at)


def progress(cid: str, note: str = "包裹已找到，今日派送。", *, at: datetime = NOW) -> CaseProgressNoted:
    payload = CaseStationActionPayload(
        case_id=cid, station=STATION, level=LadderLevel.STATION, agent_id=AGENT, at=at, note=note
    )
    return CaseProgressNoted.create(payload, key=cid, producer="routing", occurred_at=at)


def resolved(cid: str, result: ResolutionResult = ResolutionResult.RESOLVED, *, at: datetime = NOW) -> CaseResolved:
    payload = CaseResolvedPayload(
        case_id=cid,
        station=STATION,
        level=LadderLevel.STATION,
        agent_id=AGENT,
        at=at,
        result=result,
        solution="已重新派送并签收。",
        kind=CaseKind.DELAY,
    )
    return CaseResolved.create(payload, key=cid, producer="routing", occurred_at=at)


def closed(cid: str, *, at: datetime = NOW) -> CaseClosed:
    payload = CaseClosedPayload(case_id=cid, closed_at=at, reason="resolved")
    return CaseClosed.create(payload, key=cid, producer="routing", occurred_at=at)


def reopened(cid: str, *, at: datetime = NOW) -> CaseReopened:
    payload = CaseReopenedPayload(
        case_id=cid,
        source_event_id="ct-" + uuid.uuid4().hex[:8],
        reopen_count=1,
        priority=Priority.HIGH,
        reopened_at=at,
    )
    return CaseReopened.create(payload, key=cid, producer="intake", occurred_at=at)


def _clock(cid: str, metric: SlaMetric, priority: Priority) -> dict[str, Any]:
    return {
        "case_id": cid,
        "metric": metric,
        "level": LadderLevel.STATION,
        "station": STATION,
        "kind": CaseKind.DELAY,
        "priority": priority,
        "target_seconds": 7200,
        "elapsed_seconds": 7300,
        "started_at": NOW - timedelta(hours=2),
        "deadline_at": NOW,
        "policy_version": "test",
    }


def breached(
    cid: str, metric: SlaMetric = SlaMetric.CALLBACK, priority: Priority = Priority.NORMAL, *, at: datetime = NOW
) -> SlaBreached:
    return SlaBreached.create(SlaClockPayload(**_clock(cid, metric, priority)), key=cid, producer="sla", occurred_at=at)


def breach_withdrawn(breach: SlaBreached, *, at: datetime = NOW) -> SlaBreachWithdrawn:
    p = breach.payload
    payload = SlaBreachWithdrawnPayload(
        **_clock(p.case_id, p.metric, p.priority),
        breach_event_id=breach.event_id,
        stopped_at=NOW - timedelta(minutes=1),
        reason="the callback reached the suite before the deadline",
        withdrawn_at=at,
    )
    return SlaBreachWithdrawn.create(payload, key=p.case_id, producer="sla", occurred_at=at)


def claim_decided(
    cid: str,
    decision: ClaimDecision = ClaimDecision.APPROVED,
    amount: int = 12_50,
    *,
    appeal_until: datetime | None = NOW + timedelta(days=30),
    at: datetime = NOW,
) -> ClaimDecided:
    money = Money(amount_minor=amount)
    payload = ClaimDecidedPayload(
        claim_id="CL-" + uuid.uuid4().hex[:8],
        case_id=cid,
        decision=decision,
        amount=money,
        lines=[ComputationLine(label="freight refund", amount=money, basis="delay: freight refunded")],
        automatic=True,
        rules_version="test",
        decided_at=at,
        appeal_until=appeal_until,
    )
    return ClaimDecided.create(payload, key=cid, producer="claims", occurred_at=at)


def payout(cid: str, amount: int = 12_50, *, at: datetime = NOW) -> PayoutIssued:
    payload = PayoutIssuedPayload(
        payout_id="PO-" + uuid.uuid4().hex[:8],
        claim_id="CL-1",
        case_id=cid,
        amount=Money(amount_minor=amount),
        issued_at=at,
    )
    return PayoutIssued.create(payload, key=cid, producer="claims", occurred_at=at)


def write_policy(folder: Path, **changes: Any) -> Path:
    """The shipped policy with fast retries, no sending hours (and `changes` merged in at the top level)."""
    data = yaml.safe_load((DATA / "policy.yaml").read_text(encoding="utf-8"))
    for channel in data["channels"].values():
        channel.update(backoff_base_s=0.05, backoff_max_s=0.2, max_attempts=3, breaker_reset_s=0.3, lease_s=2.5)
        channel["timeout_s"] = 1.0
        channel["rate_per_s"] = 5000
        channel["burst"] = 5000
    data["sending_hours"] = {}
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


def webhook_check(secret: str = WEBHOOK_SECRET, now: Callable[[], float] | None = None) -> WebhookCheck:
    """What a merchant's receiver does with notify's webhooks: verify, refuse stale, drop replays."""
    import time

    seen: dict[str, float] = {}
    clock = now or time.time

    def check(headers: Any, body: bytes) -> str | None:
        problem = verify(secret.encode(), headers, body, now=clock(), seen=seen)
        return DUPLICATE if problem == "replayed delivery" else problem

    return check


def webhook_receiver(now: Callable[[], float] | None = None, **faults: Any) -> HttpSink:
    return HttpSink(webhook_check=webhook_check(now=now), **faults)


def sms_gateway(**faults: Any) -> HttpSink:
    return HttpSink(sms_token=SMS_GATEWAY_TOKEN, **faults)


def notify_overrides(policy_path: Path, web: HttpSink, sms: HttpSink, smtp: SmtpSink) -> dict[str, Any]:
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
