"""Events and facts for the claims tests: unique ids, sensible defaults, no personal data."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from caseflow_contracts import Money
from caseflow_contracts.cases import CaseOpened, CaseOpenedPayload, CaseResolved, CaseResolvedPayload, FraudFlag
from caseflow_contracts.common import CaseKind
from caseflow_contracts.stations import ArbitrationDeclared, ArbitrationDeclaredPayload

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


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
) -> CaseOpened:
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
        "opened_at": NOW,
        "rules_version": "intake-test",
    }
    return CaseOpened.create(
        CaseOpenedPayload.model_validate(payload, strict=False),
        key=payload["case_id"],
        producer="intake",
        event_id=event_id,
    )


def case_resolved(cid: str, *, kind: CaseKind = CaseKind.LOSS) -> CaseResolved:
    payload = CaseResolvedPayload.model_validate(
        {"case_id": cid, "station": "BJ-003", "level": "station", "at": NOW, "result": "resolved", "kind": kind},
        strict=False,
    )
    return CaseResolved.create(payload, key=cid, producer="routing")


def arbitration_declared(cid: str, *, station: str = "BJ-003", liable: str = "HZ-002") -> ArbitrationDeclared:
    payload = ArbitrationDeclaredPayload(
        case_id=cid,
        station=station,
        at=NOW,
        waybill_no="YT0000000001",
        liable_station=liable,
        amount_claimed=cny(5000),
        proof_refs=["proof-1"],
    )
    return ArbitrationDeclared.create(payload, key=cid, producer="stations")
