"""Upstream events as the order, logistics and contact systems would send them (synthetic people)."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Any

from caseflow_contracts.cases import CaseResolved, CaseResolvedPayload
from caseflow_contracts.common import Area, CaseKind, Channel, LadderLevel, Money, Priority
from caseflow_contracts.stations import ResolutionResult
from caseflow_contracts.upstream import (
    Address,
    ContactCategory,
    Customer,
    CustomerContacted,
    CustomerContactPayload,
    ExceptionKind,
    ParcelExceptionPayload,
    ParcelExceptionReported,
)
from caseflow_intake.domain.case import IntakeCase, draft_case
from caseflow_intake.domain.inputs import Incoming, from_contact, from_exception
from caseflow_intake.pii import Guard
from caseflow_intake.rules import IntakeRules
from caseflow_intake.settings import DEFAULT_RULES
from caseflow_kit.privacy import Pseudonymiser, Sealer
from caseflow_kit.rules import load_rules

#: Scenarios step forward from here; each event reaches intake when it happened (see caseflow_dev.rig).
NOW = datetime(2026, 1, 10, 8, 0, tzinfo=UTC)
TEST_KEY = base64.b64encode(bytes(range(32))).decode()
#: Its own secret, as in production: customer references must not change when the PII key does.
TEST_PSEUDONYM_KEY = base64.b64encode(bytes(range(32, 64))).decode()
#: The rules that ship with intake, and intake's keys behind the domain's Privacy port (pure unit tests).
RULES = load_rules(DEFAULT_RULES, IntakeRules)
SEALER = Sealer("k1", base64.b64decode(TEST_KEY))
PRIVACY = Guard(SEALER, Pseudonymiser(base64.b64decode(TEST_PSEUDONYM_KEY)))


def uid() -> str:
    return uuid.uuid4().hex[:12].upper()


def waybill() -> str:
    return "BE" + str(uuid.uuid4().int)[:12]


def address(
    street: str = "朝阳区建国路88号SOHO现代城A座1203", city: str = "北京市", province: str = "北京市"
) -> Address:
    return Address(area=Area(province=province, city=city, district="朝阳区"), street=street)


def customer(**overrides: Any) -> Customer:
    values: dict[str, Any] = {
        "customer_id": "C" + uid(),
        "name": "王小明",
        "phone": "13812345678",
        "email": "xiaoming.wang@example.com",
        "address": address(),
        "id_number": "110101199003071234",
    }
    values.update(overrides)
    return Customer(**values)


def exception(
    waybill_no: str | None = None,
    kind: ExceptionKind = ExceptionKind.DELAY,
    *,
    source_event_id: str | None = None,
    event_id: str | None = None,
    at: datetime = NOW,
    **payload: Any,
) -> ParcelExceptionReported:
    wb = waybill_no or waybill()
    values: dict[str, Any] = {
        "source_system": "tms",
        "source_event_id": source_event_id or "EX" + uid(),
        "waybill_no": wb,
        "exception_kind": kind,
        "origin_station": "SH-PD-01",
        "current_station": "HUB-NJ",
        "destination_station": "BJ-CY-07",
        "scanned_at": at,
        "declared_value": Money(amount_minor=15000),
        "freight": Money(amount_minor=1200),
        "customer": customer(),
        "description": "包裹超过三天未更新物流",
    }
    values.update(payload)
    return ParcelExceptionReported.create(
        ParcelExceptionPayload(**values), key=wb, producer="tms", event_id=event_id, occurred_at=at
    )


def contact(
    waybill_no: str | None,
    category: ContactCategory = ContactCategory.INQUIRY,
    *,
    source_id: str | None = None,
    text: str = "请问我的快递到哪里了？",
    at: datetime = NOW,
    key: str | None = None,
    event_id: str | None = None,
    **payload: Any,
) -> CustomerContacted:
    values: dict[str, Any] = {
        "source_system": "callcentre",
        "source_id": source_id or "CT" + uid(),
        "channel": Channel.PHONE,
        "category": category,
        "customer": customer(),
        "waybill_no": waybill_no,
        "text": text,
        "received_at": at,
    }
    values.update(payload)
    p = CustomerContactPayload(**values)
    return CustomerContacted.create(
        p,
        key=key or p.waybill_no or p.platform_order_id or p.source_id,
        producer="callcentre",
        event_id=event_id,
        occurred_at=at,
    )


def resolved(case_id: str, at: object = NOW, result: ResolutionResult = ResolutionResult.RESOLVED) -> CaseResolved:
    payload = CaseResolvedPayload(
        case_id=case_id,
        station="BJ-CY-07",
        level=LadderLevel.STATION,
        at=at,
        result=result,
        kind=CaseKind.DELAY,  # type: ignore[arg-type]
    )
    return CaseResolved.create(payload, key=case_id, producer="routing", occurred_at=payload.at)


#: A contact category that gives each case kind (for domain tests that start from a kind).
_CATEGORY_TEXT = {
    CaseKind.INQUIRY: (ContactCategory.INQUIRY, "请问我的快递到哪里了？"),
    CaseKind.DELAY: (ContactCategory.COMPLAINT, "快递延误了"),
    CaseKind.DAMAGE: (ContactCategory.COMPLAINT, "外箱破损"),
}
_EXCEPTION = {
    CaseKind.DELAY: ExceptionKind.DELAY,
    CaseKind.DAMAGE: ExceptionKind.DAMAGE,
    CaseKind.LOSS: ExceptionKind.LOSS,
}


def incoming(
    kind: CaseKind, *, by_customer: bool = True, at: datetime = NOW, source_id: str | None = None, **payload: Any
) -> Incoming:
    """An input of `kind` (a customer contact, else a parcel exception) as intake's domain sees it, arriving
    when it happened."""
    if not by_customer:
        event = exception("BE123456789", _EXCEPTION[kind], source_event_id=source_id, at=at, **payload)
        return from_exception(event.payload, RULES, arrived=at)
    category, text = _CATEGORY_TEXT[kind]
    made = contact("BE123456789", category, **{"text": text, **payload}, source_id=source_id, at=at)
    return from_contact(made.payload, RULES, arrived=at)


def intake_case(*, priority: Priority = Priority.NORMAL, contacts: int = 0, item: Incoming | None = None) -> IntakeCase:
    """A case as intake opened it (from `item`, a delay exception by default), with its counters set."""
    draft = draft_case(item or incoming(CaseKind.DELAY, by_customer=False), rules=RULES, privacy=PRIVACY, now=NOW)
    return IntakeCase(draft.payload, draft.problem, draft.ref, priority, contacts, [draft.entry])
