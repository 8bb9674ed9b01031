"""The claim aggregate: decisions, payouts, review and appeals. Pure: no I/O.

Methods change the record and return the effects (what happened) for the handlers to turn
into events. Payout ids are deterministic (their idempotency key) and recorded in the same
document as the decision that caused them: one commit holds both, nothing is paid twice.
Liability and chargebacks are in `ledger`; the records in `records` (both re-exported here).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from caseflow_contracts import Money
from caseflow_contracts.cases import FraudFlag
from caseflow_contracts.claims import ClaimDecision, ClaimFacts, ClaimKind, EvidenceRef
from caseflow_contracts.common import CaseKind

from .domain import FULL, Assessment, Line, Verdict, assess, fmt
from .ledger import appeal_chargeback, case_resolved, declare, hq_decide, settle
from .records import (
    Appealed,
    AppealRecord,
    Arbitrated,
    ChargebackAppealed,
    ChargebackRecord,
    Charged,
    ClaimError,
    ClaimRecord,
    Decided,
    DecisionRecord,
    DeclarationRecord,
    Effect,
    LedgerEntry,
    LiabilityRecord,
    LiableShare,
    LineRecord,
    Opened,
    Paid,
    PayoutRecord,
    Reversed,
    Status,
    iso,
)
from .rules import CompensationRules

__all__ = [
    "AppealRecord",
    "Appealed",
    "Arbitrated",
    "ChargebackAppealed",
    "ChargebackRecord",
    "Charged",
    "ClaimError",
    "ClaimRecord",
    "Decided",
    "DecisionRecord",
    "DeclarationRecord",
    "Effect",
    "LedgerEntry",
    "LiabilityRecord",
    "LiableShare",
    "LineRecord",
    "Opened",
    "Paid",
    "PayoutRecord",
    "Reversed",
    "Review",
    "Status",
    "appeal",
    "appeal_chargeback",
    "case_resolved",
    "declare",
    "hq_decide",
    "new_claim",
    "open_and_decide",
    "review",
    "settle",
]


def _lines(lines: tuple[Line, ...] | list[Line]) -> list[LineRecord]:
    return [LineRecord(label=x.label, amount_minor=x.amount_minor, basis=x.basis) for x in lines]


def new_claim(
    *,
    claim_id: str,
    case_id: str,
    claim_kind: ClaimKind,
    case_kind: CaseKind,
    waybill_no: str | None,
    insured: bool,
    declared_value: Money | None,
    freight: Money | None,
    facts: ClaimFacts,
    fraud_flags: list[FraudFlag],
    evidence: list[EvidenceRef],
    customer_ref: str | None,
    rules: CompensationRules,
    now: datetime,
) -> ClaimRecord:
    return ClaimRecord(
        claim_id=claim_id,
        case_id=case_id,
        status=Status.PENDING_REVIEW,
        claim_kind=claim_kind,
        case_kind=case_kind,
        waybill_no=waybill_no,
        insured=insured,
        declared_value=declared_value,
        freight=freight,
        facts=facts,
        fraud_flags=fraud_flags,
        evidence=evidence,
        customer_ref=customer_ref,
        currency=rules.currency,
        opened_at=iso(now),
        opened_ts=now.timestamp(),
        rules_version=rules.version,
    )


def _set_assessment(claim: ClaimRecord, assessment: Assessment) -> None:
    claim.assessed_amount_minor = assessment.amount_minor
    claim.missing = list(assessment.missing)
    claim.lines = _lines(assessment.lines)


def open_and_decide(
    claim: ClaimRecord, verdict: Verdict, assessment: Assessment, rules: CompensationRules, now: datetime
) -> list[Effect]:
    """The first, automatic decision on a newly opened claim."""
    _set_assessment(claim, assessment)
    effects: list[Effect] = [Opened()]
    amount = assessment.amount_minor if verdict.decision is ClaimDecision.APPROVED else 0
    effects += _decide(claim, verdict.decision, amount or 0, claim.lines, verdict.reason, by=None, rules=rules, now=now)
    return effects


def _decide(
    claim: ClaimRecord,
    decision: ClaimDecision,
    amount: int,
    lines: list[LineRecord],
    reason: str,
    *,
    by: Review | None,
    rules: CompensationRules,
    now: datetime,
) -> list[Effect]:
    record = DecisionRecord(
        no=len(claim.decisions) + 1,
        decision=decision,
        amount_minor=amount if decision is ClaimDecision.APPROVED else 0,
        automatic=by is None,
        reviewer_id=by.reviewer_id if by else None,
        reason=reason,
        lines=lines,
        decided_at=iso(now),
        request_id=by.request_id if by else None,
    )
    claim.decisions.append(record)
    claim.status = {
        ClaimDecision.APPROVED: Status.APPROVED,
        ClaimDecision.REJECTED: Status.REJECTED,
        ClaimDecision.PENDING_REVIEW: Status.PENDING_REVIEW,
    }[decision]
    effects: list[Effect] = [Decided(record)]
    if decision is ClaimDecision.APPROVED:
        effects += _pay(claim, record, now)
        effects += settle(claim, rules, now)
    return effects


def _pay(claim: ClaimRecord, decision: DecisionRecord, now: datetime) -> list[Effect]:
    """Pay what the decision grants beyond what was already paid: one payout per decision, at most."""
    top_up = decision.amount_minor - claim.paid_minor
    if top_up <= 0:
        return []
    seq = len(claim.payouts) + 1
    payout = PayoutRecord(
        payout_id=f"{claim.claim_id}-P{seq}",
        seq=seq,
        decision_no=decision.no,
        amount_minor=top_up,
        issued_at=iso(now),
    )
    claim.payouts.append(payout)
    claim.ledger.append(
        LedgerEntry(
            entry_id=f"L-{payout.payout_id}", kind="payout", amount_minor=top_up, ref=payout.payout_id, at=iso(now)
        )
    )
    return [Paid(payout)]


# -- review, appeal ------------------------------------------------------------------


@dataclass(frozen=True)
class Review:
    action: Literal["approve", "adjust", "reject"]
    reviewer_id: str
    reason: str = ""
    amount_minor: int | None = None
    facts: ClaimFacts | None = None
    request_id: str | None = None
    claim_kind: ClaimKind | None = None


def review(claim: ClaimRecord, command: Review, rules: CompensationRules, now: datetime) -> list[Effect]:
    """A reviewer approves, adjusts (with a reason) or rejects (with a reason) a claim awaiting review.

    Raises ClaimError when the command does not apply; the record may then be partly changed
    and must be discarded (service.execute never saves it).
    """
    if command.request_id and any(d.request_id == command.request_id for d in claim.decisions):
        return []  # the same request again (a client retry): already applied
    if claim.status not in (Status.PENDING_REVIEW, Status.APPEALED):
        raise ClaimError("not_reviewable", f"claim is {claim.status.value}")
    if command.action != "approve" and not command.reason.strip():
        raise ClaimError("reason_required", f"{command.action} needs a reason")
    appealed = claim.status is Status.APPEALED
    if command.action == "reject":
        if appealed and claim.paid_minor > 0:
            # The appeal is turned down: the earlier approval and its payout stand.
            lines = [LineRecord(label="Earlier approval stands", amount_minor=claim.paid_minor, basis=command.reason)]
            return _decide(
                claim,
                ClaimDecision.APPROVED,
                claim.paid_minor,
                lines,
                "Appeal rejected: " + command.reason,
                by=command,
                rules=rules,
                now=now,
            )
        return _decide(
            claim,
            ClaimDecision.REJECTED,
            0,
            claim.lines,
            command.reason,
            by=command,
            rules=rules,
            now=now,
        )
    lines = claim.lines
    amount = claim.assessed_amount_minor
    if command.action == "adjust":
        if command.claim_kind is not None and command.claim_kind is not claim.claim_kind:
            # The reviewer establishes the kind: the lost share follows it unless the facts say otherwise.
            whole = command.claim_kind in (ClaimKind.LOSS, ClaimKind.WRONG_CONTENTS)
            facts = command.facts or claim.facts
            if command.facts is None or command.facts.loss_share_bp == claim.facts.loss_share_bp:
                facts = facts.model_copy(update={"loss_share_bp": FULL if whole else None})
            claim.claim_kind = command.claim_kind
            command = replace(command, facts=facts)
        if command.facts is not None:
            claim.facts = command.facts
            assessment = assess(claim.as_input(), rules)
            _set_assessment(claim, assessment)
            claim.rules_version = rules.version
            lines, amount = claim.lines, assessment.amount_minor
        if command.amount_minor is not None:
            amount = command.amount_minor
            lines = [
                *[x for x in lines if x.label != "Compensation"],
                LineRecord(
                    label="Adjusted by reviewer",
                    amount_minor=amount,
                    basis=f"{command.reason} (rules gave "
                    + (
                        "no amount"
                        if claim.assessed_amount_minor is None
                        else fmt(claim.assessed_amount_minor, claim.currency)
                    )
                    + ")",
                ),
            ]
    if amount is None:
        raise ClaimError("facts_missing", "the rules give no amount: " + "; ".join(claim.missing))
    if amount < claim.paid_minor:
        raise ClaimError("below_paid", f"{fmt(claim.paid_minor, claim.currency)} is already paid")
    reason = command.reason or "Approved by reviewer"
    return _decide(claim, ClaimDecision.APPROVED, amount, lines, reason, by=command, rules=rules, now=now)


def appeal(claim: ClaimRecord, reason: str, rules: CompensationRules, now: datetime) -> list[Effect]:
    """The customer appeals a decision within the window; the claim goes back to review."""
    if claim.status not in (Status.APPROVED, Status.REJECTED):
        raise ClaimError("not_appealable", f"claim is {claim.status.value}")
    if not reason.strip():
        raise ClaimError("reason_required", "an appeal needs a reason")
    if len(claim.appeals) >= rules.max_customer_appeals:
        raise ClaimError("appeals_exhausted", f"at most {rules.max_customer_appeals} appeal(s)")
    decided = datetime.fromisoformat(claim.decisions[-1].decided_at)
    if now > decided + timedelta(days=rules.customer_appeal_days):
        raise ClaimError("appeal_window_closed", f"appeals within {rules.customer_appeal_days} days of the decision")
    record = AppealRecord(no=len(claim.appeals) + 1, reason=reason, at=iso(now))
    claim.appeals.append(record)
    claim.status = Status.APPEALED
    return [Appealed(record)]
