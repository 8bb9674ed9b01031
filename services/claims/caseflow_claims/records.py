"""The claim's stored records and the effects the aggregate reports (what happened), for the handlers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from caseflow_contracts import Money
from caseflow_contracts.cases import FraudFlag
from caseflow_contracts.claims import AuditAction, ClaimDecision, ClaimFacts, ClaimKind, EvidenceRef
from caseflow_contracts.common import Actor, CaseKind

from .domain import FULL, ClaimInput


class ClaimError(Exception):
    """A command that does not apply to the claim in its present state."""

    def __init__(self, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.field = field  # the request field at fault, when one is


class Status(StrEnum):
    PENDING_REVIEW = "pending_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    APPEALED = "appealed"
    AWAITING_APPROVAL = "awaiting_approval"


class _Rec(BaseModel):
    model_config = ConfigDict(extra="ignore")


class LineRecord(_Rec):
    label: str
    amount_minor: int
    basis: str


class DecisionRecord(_Rec):
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


class ProposalRecord(_Rec):
    """An approval above the four-eyes threshold, waiting for a second, different approver."""

    proposed_by: Actor
    amount_minor: int
    lines: list[LineRecord]
    reason_code: str | None = None
    reason: str = ""
    request_id: str | None = None
    resume_status: Status = Field(description="Where a declined proposal sends the claim back")
    at: str


class AuditRecord(_Rec):
    audit_id: str
    action: AuditAction
    actor: Actor
    before_minor: int
    after_minor: int
    reason_code: str | None = None
    request_id: str
    at: str


class PayoutRecord(_Rec):
    payout_id: str
    seq: int
    decision_no: int
    amount_minor: int
    issued_at: str
    approved_by: list[Actor] = Field(default_factory=list)


class ChargebackRecord(_Rec):
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


class LedgerEntry(_Rec):
    entry_id: str
    kind: Literal["payout", "chargeback", "absorption", "penalty"]
    amount_minor: int = Field(description="Signed: reversals are negative")
    station: str | None = None
    ref: str
    at: str


class LiableShare(_Rec):
    station: str
    share_bp: int = Field(ge=0, le=FULL)
    reason: str = ""


class LiabilityRecord(_Rec):
    seq: int
    decided_by: Literal["scan_trail", "hq"]
    liable: list[LiableShare]
    reason: str
    decided_at: str


class DeclarationRecord(_Rec):
    event_id: str
    station: str
    liable_station: str
    amount_claimed: Money
    proof_refs: list[str] = Field(default_factory=list)
    at: str
    settled: bool = False


class AppealRecord(_Rec):
    no: int
    reason: str
    at: str


class ClaimRecord(_Rec):
    claim_id: str
    case_id: str
    status: Status
    claim_kind: ClaimKind
    case_kind: CaseKind
    waybill_no: str | None = None
    insured: bool
    declared_value: Money | None = None
    freight: Money | None = None
    facts: ClaimFacts
    fraud_flags: list[FraudFlag] = Field(default_factory=list)
    evidence: list[EvidenceRef] = Field(default_factory=list)
    customer_ref: str | None = None
    currency: str
    opened_at: str
    opened_ts: float
    assessed_amount_minor: int | None = None
    missing: list[str] = Field(default_factory=list)
    lines: list[LineRecord] = Field(default_factory=list)
    decisions: list[DecisionRecord] = Field(default_factory=list)
    appeals: list[AppealRecord] = Field(default_factory=list)
    payouts: list[PayoutRecord] = Field(default_factory=list)
    liability: LiabilityRecord | None = None
    chargebacks: list[ChargebackRecord] = Field(default_factory=list)
    ledger: list[LedgerEntry] = Field(default_factory=list)
    declarations: list[DeclarationRecord] = Field(default_factory=list)
    proposal: ProposalRecord | None = None
    audit: list[AuditRecord] = Field(default_factory=list)
    case_resolved_at: str | None = None
    rules_version: str

    # -- views -----------------------------------------------------------------

    @property
    def paid_minor(self) -> int:
        return sum(p.amount_minor for p in self.payouts)

    @property
    def granted_minor(self) -> int:
        """What the latest decision grants the customer (0 before any approval)."""
        return self.decisions[-1].amount_minor if self.decisions else 0

    def ledger_total(self, kind: str) -> int:
        return sum(e.amount_minor for e in self.ledger if e.kind == kind)

    def balances(self) -> bool:
        """Customer payouts = station chargebacks (payout shares) + network absorption."""
        return self.ledger_total("payout") == self.ledger_total("chargeback") + self.ledger_total("absorption")

    def ledger_summary(self) -> dict[str, object]:
        return {
            "currency": self.currency,
            "paid_minor": self.ledger_total("payout"),
            "charged_back_minor": self.ledger_total("chargeback"),
            "absorbed_minor": self.ledger_total("absorption"),
            "penalties_minor": self.ledger_total("penalty"),
            "balanced": self.balances(),
        }

    def as_input(self, facts: ClaimFacts | None = None) -> ClaimInput:
        return ClaimInput(self.claim_kind, self.insured, self.declared_value, self.freight, facts or self.facts)


# -- effects: what happened, for the handlers to publish -------------------------


@dataclass(frozen=True)
class Opened:
    pass


@dataclass(frozen=True)
class Decided:
    decision: DecisionRecord


@dataclass(frozen=True)
class Paid:
    payout: PayoutRecord


@dataclass(frozen=True)
class Charged:
    chargeback: ChargebackRecord


@dataclass(frozen=True)
class Reversed:
    chargeback: ChargebackRecord
    reason: str


@dataclass(frozen=True)
class Arbitrated:
    liability: LiabilityRecord


@dataclass(frozen=True)
class Appealed:
    appeal: AppealRecord


@dataclass(frozen=True)
class ChargebackAppealed:
    chargeback: ChargebackRecord


@dataclass(frozen=True)
class Audited:
    record: AuditRecord


Effect = Opened | Decided | Paid | Charged | Reversed | Arbitrated | Appealed | ChargebackAppealed | Audited


def iso(now: datetime) -> str:
    return now.isoformat()
