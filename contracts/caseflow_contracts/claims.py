"""Claims, arbitration and money events (topic claims.events, keyed by case id)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from .cases import FraudFlag
from .common import (
    Actor,
    CaseId,
    CaseKind,
    Claimant,
    Contract,
    Identifier,
    Integer,
    Money,
    ShortText,
    StationCode,
    Text,
    UtcDateTime,
    WaybillNo,
    WholeNumber,
)
from .envelope import Event


class ClaimKind(StrEnum):
    LOSS = "loss"
    DAMAGE = "damage"
    SHORTAGE = "shortage"
    DELAY = "delay"
    WRONG_CONTENTS = "wrong_contents"


class EvidenceRef(Contract):
    kind: Literal["photo", "weight_record", "scan_trail", "invoice", "declaration", "other"]
    ref: Identifier = Field(description="Id of the evidence in the evidence store; never the content")


class ClaimFacts(Contract):
    """The facts a claim is assessed on; what is unknown stays None and sends the claim to review."""

    actual_value: Money | None = Field(
        default=None, description="Full value of the goods (the actual loss when all is lost): order amount or proof"
    )
    loss_share_bp: Annotated[int, Field(ge=0, le=10_000), WholeNumber] | None = Field(
        default=None, description="Share of the full value damaged or missing, in 1/10,000"
    )
    days_late: Annotated[int, Field(ge=0, le=3650), WholeNumber] | None = Field(
        default=None, description="Days past the promised delivery time"
    )
    service_scope: Literal["same_city", "domestic", "international"] = "domestic"
    outer_box_intact: bool | None = Field(default=None, description="Decides packaging vs delivery liability")
    origin_station: StationCode | None = None
    last_scan_station: StationCode | None = Field(default=None, description="Last station on the scan trail")
    destination_station: StationCode | None = None


class ClaimOpenedPayload(Contract):
    claim_id: Identifier
    case_id: CaseId
    claim_kind: ClaimKind
    case_kind: CaseKind
    waybill_no: WaybillNo | None = None
    insured: bool
    declared_value: Money | None = None
    freight: Money | None = None
    evidence: list[EvidenceRef] = Field(default_factory=list, max_length=50)
    opened_at: UtcDateTime
    facts: ClaimFacts | None = Field(default=None, description="What the claim is assessed on (since 1.1)")
    fraud_flags: list[FraudFlag] = Field(default_factory=list, max_length=10)
    claimant: Claimant | None = Field(default=None, description="Who asked for compensation and how to pay (1.2)")


class ClaimOpened(Event):
    MINOR: ClassVar[int] = 2

    type: Literal["claim.opened"] = "claim.opened"
    payload: ClaimOpenedPayload


class ComputationLine(Contract):
    """One line of how a compensation amount was reached."""

    label: ShortText
    amount: Money
    basis: Text = Field(description="The rule and figures behind the line")


class ClaimDecision(StrEnum):
    APPROVED = "approved"
    PENDING_REVIEW = "pending_review"
    REJECTED = "rejected"


class ClaimDecidedPayload(Contract):
    claim_id: Identifier
    case_id: CaseId
    decision: ClaimDecision
    amount: Money = Field(description="Compensation to pay the customer (zero unless approved)")
    lines: list[ComputationLine] = Field(max_length=50)
    automatic: bool = Field(description="Decided by the rules without a reviewer")
    reviewer_id: Identifier | None = None
    approver_id: Identifier | None = Field(
        default=None, description="The second, different approver of an amount above the four-eyes threshold (1.1)"
    )
    reason_code: Identifier | None = Field(default=None, description="Reason code from the rules' list (1.1)")
    reason: Text = ""
    rules_version: ShortText
    decided_at: UtcDateTime
    appeal_until: UtcDateTime | None = Field(
        default=None, description="The customer may appeal until then (1.2): the window the rules enforce"
    )


class ClaimDecided(Event):
    MINOR: ClassVar[int] = 2

    type: Literal["claim.decided"] = "claim.decided"
    payload: ClaimDecidedPayload


class ClaimAppealedPayload(Contract):
    claim_id: Identifier
    case_id: CaseId
    reason: Text
    appealed_at: UtcDateTime


class ClaimAppealed(Event):
    type: Literal["claim.appealed"] = "claim.appealed"
    payload: ClaimAppealedPayload


class Liability(Contract):
    station: StationCode
    share_basis_points: Integer = Field(ge=0, le=10_000, description="Share of the payout charged back, in 1/10,000")
    reason: Text


class ArbitrationDecidedPayload(Contract):
    claim_id: Identifier
    case_id: CaseId
    liable: list[Liability] = Field(max_length=10, description="Empty when no station is liable (无责)")
    decided_by: Literal["scan_trail", "hq"]
    reason: Text
    decided_at: UtcDateTime


class ArbitrationDecided(Event):
    type: Literal["arbitration.decided"] = "arbitration.decided"
    payload: ArbitrationDecidedPayload


class PayoutIssuedPayload(Contract):
    payout_id: Identifier = Field(description="Idempotency key: one payout per claim decision")
    claim_id: Identifier
    case_id: CaseId
    amount: Money
    issued_at: UtcDateTime
    approved_by: list[Actor] = Field(
        default_factory=list,
        max_length=2,
        description="Who approved it (1.1): the reviewer, and the second approver above the four-eyes threshold",
    )


class PayoutIssued(Event):
    type: Literal["payout.issued"] = "payout.issued"
    payload: PayoutIssuedPayload


class ChargebackIssuedPayload(Contract):
    chargeback_id: Identifier = Field(description="Idempotency key: one chargeback per claim and station")
    claim_id: Identifier
    case_id: CaseId
    station: StationCode
    payout_share: Money
    penalty: Money
    total: Money
    issued_at: UtcDateTime


class ChargebackIssued(Event):
    type: Literal["chargeback.issued"] = "chargeback.issued"
    payload: ChargebackIssuedPayload


class ChargebackAppealedPayload(Contract):
    chargeback_id: Identifier
    claim_id: Identifier
    case_id: CaseId
    station: StationCode
    reason: Text
    appealed_at: UtcDateTime


class ChargebackAppealed(Event):
    type: Literal["chargeback.appealed"] = "chargeback.appealed"
    payload: ChargebackAppealedPayload


class ChargebackReversedPayload(Contract):
    chargeback_id: Identifier = Field(description="The chargeback taken back (after an appeal or an HQ re-decision)")
    claim_id: Identifier
    case_id: CaseId
    station: StationCode
    payout_share: Money
    penalty: Money
    total: Money
    reason: Text
    reversed_at: UtcDateTime


class ChargebackReversed(Event):
    type: Literal["chargeback.reversed"] = "chargeback.reversed"
    payload: ChargebackReversedPayload


class AuditAction(StrEnum):
    PROPOSED = "proposed"
    APPROVED = "approved"
    DECLINED = "declined"
    REJECTED = "rejected"
    APPEALED = "appealed"
    ARBITRATED = "arbitrated"
    CHARGEBACK_APPEALED = "chargeback_appealed"


class ClaimAuditedPayload(Contract):
    audit_id: Identifier = Field(description="Idempotency key: one record per decision on a claim")
    claim_id: Identifier
    case_id: CaseId
    action: AuditAction
    actor: Actor = Field(description="Who decided, from their token")
    before: Money = Field(description="Amount granted to the customer before the decision")
    after: Money = Field(description="Amount granted (or proposed, awaiting a second approver) after it")
    reason_code: Identifier | None = None
    request_id: Identifier = Field(description="Id of the HTTP request that carried the decision (X-Request-ID)")
    at: UtcDateTime


class ClaimAudited(Event):
    """A decision on a claim by a person: the audit trail finance reads."""

    type: Literal["claim.audited"] = "claim.audited"
    payload: ClaimAuditedPayload
