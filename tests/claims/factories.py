"""Events and facts for the claims tests: unique ids, sensible defaults, no personal data."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from caseflow_contracts import Money
from caseflow_contracts.cases import (
    CaseMerged,
    CaseMergedPayload,
    CaseOpened,
    CaseOpenedPayload,
    CaseResolved,
    CaseResolvedPayload,
    FraudFlag,
)
from caseflow_contracts.common import CaseKind, Claimant, ClaimantRole
from caseflow_contracts.stations import ArbitrationDeclared, ArbitrationDeclaredPayload

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
#: The sender who paid the freight asks for compensation (the contact intake took in had claim intent).
SENDER = Claimant(role=ClaimantRole.SENDER)


def cny(fen: int) -> Money:
    return Money(amount_minor=fen, currency="CNY")


def case_id() -> str:
    return "CF-" + uuid.uuid4().hex[:16].upper()


def case_opened(
    cid: str | None = None,
    *,
    kind: CaseKind = CaseKind.LOSS,
    category: str | None = None,
    exception_kind: str | None = None,
    insured: bool = False,
    declared: int | None = None,
    freight: int | None = 1000,
    order_amount: int | None = 8000,
    origin: str | None = "SH-001",
    current: str | None = "HZ-002",
    destination: str | None = "BJ-003",
    fraud_flags: tuple[FraudFlag, ...] = (),
    event_id: str | None = None,
    claimant: Claimant | None = SENDER,
    at: datetime = NOW,
) -> CaseOpened:
    """A case intake opened; by default someone asks for compensation (`claimant=None`: a bare exception)."""
    payload: dict[str, Any] = {
        "case_id": cid or case_id(),
        "kind": kind,
        "priority": "normal",
        "channel": "upstream" if category is None else "phone",
        "category": category,
        "waybill_no": "YT" + uuid.uuid4().hex[:10].upper(),
        "language": "zh-CN",
        "station_hint": {"station": destination, "reason": "destination station"},
        "customer": {
            "masked": {"name": "张*", "phone": "138****5678"},
            "sealed": "sealed-token-0123456789abcdef",
            "key_id": "k1",
        },
        "customer_ref": "cust-" + uuid.uuid4().hex[:8],
        "fraud_flags": list(fraud_flags),
        "parcel": {
            "exception_kind": exception_kind,
            "origin_station": origin,
            "current_station": current,
            "destination_station": destination,
            "insured": insured,
            "declared_value": cny(declared) if declared is not None else None,
            "freight": cny(freight) if freight is not None else None,
            "order_amount": cny(order_amount) if order_amount is not None else None,
        },
        "opened_at": at,
        "rules_version": "intake-test",
        "claimant": claimant.model_dump(mode="json") if claimant else None,
    }
    return CaseOpened.create(
        CaseOpenedPayload.model_validate(payload, strict=False),
        key=payload["case_id"],
        producer="intake",
        event_id=event_id,
        occurred_at=at,
    )


def case_merged(cid: str, *, claimant: Claimant | None = SENDER, at: datetime = NOW) -> CaseMerged:
    """A customer's contact merged into the case; with a claimant when it asks for compensation."""
    payload = CaseMergedPayload.model_validate(
        {
            "case_id": cid,
            "source_event_id": "contact-" + uuid.uuid4().hex[:12],
            "channel": "phone",
            "repeat_contacts": 1,
            "priority": "high",
            "priority_raised": True,
            "repeat_contact": True,
            "merged_at": at,
            "claimant": claimant.model_dump(mode="json") if claimant else None,
        },
        strict=False,
    )
    return CaseMerged.create(payload, key=cid, producer="intake", occurred_at=at)


def case_resolved(cid: str, *, kind: CaseKind = CaseKind.LOSS, at: datetime = NOW) -> CaseResolved:
    payload = CaseResolvedPayload.model_validate(
        {"case_id": cid, "station": "BJ-003", "level": "station", "at": at, "result": "resolved", "kind": kind},
        strict=False,
    )
    return CaseResolved.create(payload, key=cid, producer="routing", occurred_at=at)


def arbitration_declared(
    cid: str, *, station: str = "BJ-003", liable: str = "HZ-002", at: datetime = NOW
) -> ArbitrationDeclared:
    payload = ArbitrationDeclaredPayload(
        case_id=cid,
        station=station,
        at=at,
        waybill_no="YT0000000001",
        liable_station=liable,
        amount_claimed=cny(5000),
        proof_refs=["proof-1"],
    )
    return ArbitrationDeclared.create(payload, key=cid, producer="stations", occurred_at=at)
