"""The typed records of claims' state: the claim's parts, and claims' copy of a case before anyone claims.

They are pydantic models so that the store turns them into documents and back (`store.py`), and they
carry no behaviour beyond small views; the claim's transitions are in `claim.py`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from caseflow_contracts import Money
from caseflow_contracts.cases import CaseOpenedPayload, FraudFlag, ParcelFacts
from caseflow_contracts.claims import AuditAction, ClaimDecision
from caseflow_contracts.common import Actor, CaseKind
from caseflow_contracts.errors import Refusal
from caseflow_contracts.stations import ArbitrationDeclared

from .money import FULL


class ClaimRefused(Refusal):
    """A command or an event that does not apply to the claim as it is; `field` names the part of a
    request at fault, when one is (the HTTP edge answers with it)."""

    def __init__(self, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(code, message)
        self.field = field


class Status(StrEnum):
    PENDING_REVIEW = "pending_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    APPEALED = "appealed"
    AWAITING_APPROVAL = "awaiting_approval"


def iso(moment: datetime) -> str:
    return moment.isoformat()


class Record(BaseModel):
    model_config = ConfigDict(extra="ignore")


class LineRecord(Record):
    label: str
    amount_minor: int
    basis: str


class DecisionRecord(Record):
    no: int
    decision: ClaimDecision
    amount_minor: int
    automatic: bool
    reviewer_id: str | None = None
    approver_id: str | None = None
    reason_code: str | None = None
    reason: str = ""
    lines: list[LineRecord]
    decided_at: str
    request_id: str | None = None
    appeal_until: str | None = Field(default=None, description="What the customer is told: appeals until then")


class ProposalRecord(Record):
    """An approval above the four-eyes threshold, waiting for a second, different approver."""

    proposed_by: Actor
    amount_minor: int
    lines: list[LineRecord]
    reason_code: str | None = None
    reason: str = ""
    request_id: str | None = None
    resume_status: Status = Field(description="Where a declined proposal sends the claim back")
    at: str


class AuditRecord(Record):
    audit_id: str
    action: AuditAction
    actor: Actor
    before_minor: int
    after_minor: int
    reason_code: str | None = None
    request_id: str
    at: str


class PayoutRecord(Record):
    payout_id: str
    seq: int
    decision_no: int
    amount_minor: int
    issued_at: str
    approved_by: list[Actor] = Field(default_factory=list)


class ChargebackRecord(Record):
    chargeback_id: str
    station: str
    payout_id: str
    liability_seq: int
    share_bp: int
    payout_share_minor: int
    penalty_minor: int
    issued_at: str
    status: Literal["issued", "appealed", "upheld", "reversed"] = "issued"
    appeal_reason: str = ""
    appealed_at: str | None = None
    reversed_at: str | None = None


class LedgerEntry(Record):
    entry_id: str
    kind: Literal["payout", "chargeback", "absorption", "penalty"]
    amount_minor: int = Field(description="Signed: reversals are negative")
    station: str | None = None
    ref: str
    at: str


class LiableShare(Record):
    station: str
    share_bp: int = Field(ge=0, le=FULL)
    reason: str = ""


class LiabilityRecord(Record):
    seq: int
    decided_by: Literal["scan_trail", "hq"]
    liable: list[LiableShare]
    reason: str
    decided_at: str


class DeclarationRecord(Record):
    """A station's arbitration declaration (网点仲裁申报) against another station."""

    event_id: str
    station: str
    liable_station: str
    amount_claimed: Money
    proof_refs: list[str] = Field(default_factory=list)
    at: str
    settled: bool = False

    @classmethod
    def of(cls, event: ArbitrationDeclared) -> DeclarationRecord:
        p = event.payload
        if p.station == p.liable_station:
            raise ClaimRefused("self_declaration", f"station {p.station} declared itself liable")
        return cls(
            event_id=event.event_id,
            station=p.station,
            liable_station=p.liable_station,
            amount_claimed=p.amount_claimed,
            proof_refs=list(p.proof_refs),
            at=iso(p.at),
        )


class AppealRecord(Record):
    no: int
    reason: str
    at: str


class OpenedCase(Record):
    """What intake said of the case when it opened it (case.opened): what a claim is assessed on."""

    kind: CaseKind
    category: str | None = None
    waybill_no: str | None = None
    parcel: ParcelFacts = Field(default_factory=ParcelFacts)
    fraud_flags: list[FraudFlag] = Field(default_factory=list)
    customer_ref: str | None = None
    evidence_refs: list[str] = Field(default_factory=list)
    opened_at: str

    @classmethod
    def of(cls, p: CaseOpenedPayload) -> OpenedCase:
        return cls(
            kind=p.kind,
            category=p.category.value if p.category else None,
            waybill_no=p.waybill_no,
            parcel=p.parcel,
            fraud_flags=list(p.fraud_flags),
            customer_ref=p.customer_ref,
            evidence_refs=list(p.evidence_refs),
            opened_at=iso(p.opened_at),
        )


class CaseCopy(Record):
    """claims' copy of what other services said about a case nobody has claimed on (yet).

    Each part comes from another service and may come late or early: intake's facts (case.opened),
    routing's resolution (case.resolved, same partition: after the opening), and stations' arbitration
    declarations (another topic: possibly before the case is known here). When someone claims, the
    claim takes them all over, so the outcome does not depend on which came first.
    """

    case_id: str
    opened: OpenedCase | None = None
    resolved_at: str | None = None
    declarations: list[DeclarationRecord] = Field(default_factory=list)

    def open_with(self, opened: OpenedCase) -> bool:
        """Record intake's facts; False when they were already here (the case opened again)."""
        if self.opened is not None:
            return False
        self.opened = opened
        return True

    def resolve(self, at: datetime) -> bool:
        if self.resolved_at is not None:
            return False
        self.resolved_at = iso(at)
        return True

    def park(self, declaration: DeclarationRecord) -> bool:
        """Keep a declaration until a claim opens; False when it is here already (redelivered)."""
        if any(d.event_id == declaration.event_id for d in self.declarations):
            return False
        self.declarations.append(declaration)
        return True
