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
from caseflow_contracts.claims import AuditAction, ClaimDecision, ClaimFacts, ClaimKind, EvidenceRef
from caseflow_contracts.common import Actor, CaseKind

from .domain import FULL, Assessment, Line, Verdict, assess, check_reason_code, fmt, needs_second_approval, review_cap
from .ledger import appeal_chargeback, case_resolved, declare, hq_decide, settle
from .records import (
    Appealed,
    AppealRecord,
    Arbitrated,
    Audited,
    AuditRecord,
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
    ProposalRecord,
    Reversed,
    Status,
    iso,
)
from .rules import CompensationRules

__all__ = [
    "AppealRecord",
    "Appealed",
    "Approval",
    "Arbitrated",
    "AuditRecord",
    "Audited",
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
    "ProposalRecord",
    "Reversed",
    "Review",
    "Signoff",
    "Stamp",
    "Status",
    "appeal",
    "appeal_chargeback",
    "audit",
    "audited",
    "case_resolved",
    "declare",
    "hq_decide",
    "new_claim",
    "open_and_decide",
    "review",
    "second_approval",
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


@dataclass(frozen=True)
class Stamp:
    """Who acts, from their token, and the HTTP request that carried it: goes into the audit record."""

    actor: Actor
    request_id: str


@dataclass(frozen=True)
class Signoff:
    """The people behind a decision: the reviewer, and the second approver above the threshold."""

    reviewer: Actor
    approver: Actor | None = None
    idempotency_key: str | None = None
    reason_code: str | None = None


def _decide(
    claim: ClaimRecord,
    decision: ClaimDecision,
    amount: int,
    lines: list[LineRecord],
    reason: str,
    *,
    by: Signoff | None,
    rules: CompensationRules,
    now: datetime,
) -> list[Effect]:
    record = DecisionRecord(
        no=len(claim.decisions) + 1,
        decision=decision,
        amount_minor=amount if decision is ClaimDecision.APPROVED else 0,
        automatic=by is None,
        reviewer_id=by.reviewer.subject if by else None,
        approver_id=by.approver.subject if by and by.approver else None,
        reason_code=by.reason_code if by else None,
        reason=reason,
        lines=lines,
        decided_at=iso(now),
        request_id=by.idempotency_key if by else None,
    )
    claim.decisions.append(record)
    claim.status = {
        ClaimDecision.APPROVED: Status.APPROVED,
        ClaimDecision.REJECTED: Status.REJECTED,
        ClaimDecision.PENDING_REVIEW: Status.PENDING_REVIEW,
    }[decision]
    effects: list[Effect] = [Decided(record)]
    if decision is ClaimDecision.APPROVED:
        approved_by = [a for a in (by.reviewer, by.approver) if a is not None] if by else []
        effects += _pay(claim, record, now, approved_by)
        effects += settle(claim, rules, now)
    return effects


def audit(
    claim: ClaimRecord,
    action: AuditAction,
    stamp: Stamp,
    before_minor: int,
    now: datetime,
    *,
    after_minor: int | None = None,
    reason_code: str | None = None,
) -> Audited:
    """Record a decision by a person in the claim; the effect publishes it on claims.events."""
    record = AuditRecord(
        audit_id=f"{claim.claim_id}-A{len(claim.audit) + 1}",
        action=action,
        actor=stamp.actor,
        before_minor=before_minor,
        after_minor=claim.granted_minor if after_minor is None else after_minor,
        reason_code=reason_code,
        request_id=stamp.request_id,
        at=iso(now),
    )
    claim.audit.append(record)
    return Audited(record)


def audited(
    claim: ClaimRecord,
    effects: list[Effect],
    action: AuditAction,
    stamp: Stamp,
    *,
    before_minor: int,
    now: datetime,
    reason_code: str | None = None,
) -> list[Effect]:
    """The effects of a command by a person, with its audit record; a no-op (a retry) records nothing."""
    if not effects:
        return effects
    return [*effects, audit(claim, action, stamp, before_minor, now, reason_code=reason_code)]


def _pay(claim: ClaimRecord, decision: DecisionRecord, now: datetime, approved_by: list[Actor]) -> list[Effect]:
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
        approved_by=approved_by,
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
    stamp: Stamp
    reason_code: str | None = None
    reason: str = ""
    amount_minor: int | None = None
    facts: ClaimFacts | None = None
    idempotency_key: str | None = None
    claim_kind: ClaimKind | None = None


def _reason_code(code: str | None, rules: CompensationRules, *, required: bool) -> None:
    try:
        check_reason_code(code, rules, required=required)
    except ValueError as exc:
        raise ClaimError("reason_code", str(exc), field="reason_code") from None


def review(claim: ClaimRecord, command: Review, rules: CompensationRules, now: datetime) -> list[Effect]:
    """A reviewer approves, adjusts or rejects (these two with a reason code) a claim awaiting review.

    An approval granting more than the four-eyes threshold becomes a proposal that a second,
    different approver decides (`second_approval`). Raises ClaimError when the command does
    not apply; the record may then be partly changed and must be discarded (never saved).
    """
    key = command.idempotency_key
    if key and (
        any(d.request_id == key for d in claim.decisions) or (claim.proposal and claim.proposal.request_id == key)
    ):
        return []  # the same request again (a client retry): already applied
    if claim.status not in (Status.PENDING_REVIEW, Status.APPEALED):
        raise ClaimError("not_reviewable", f"claim is {claim.status.value}")
    _reason_code(command.reason_code, rules, required=command.action != "approve")
    before = claim.granted_minor
    signoff = Signoff(command.stamp.actor, idempotency_key=key, reason_code=command.reason_code)
    reason = command.reason or rules.four_eyes.reason_codes.get(command.reason_code or "", "")
    appealed = claim.status is Status.APPEALED
    if command.action == "reject":
        if appealed and claim.paid_minor > 0:
            # The appeal is turned down: the earlier approval and its payout stand.
            lines = [LineRecord(label="Earlier approval stands", amount_minor=claim.paid_minor, basis=reason)]
            effects = _decide(
                claim,
                ClaimDecision.APPROVED,
                claim.paid_minor,
                lines,
                "Appeal rejected: " + reason,
                by=signoff,
                rules=rules,
                now=now,
            )
        else:
            effects = _decide(claim, ClaimDecision.REJECTED, 0, claim.lines, reason, by=signoff, rules=rules, now=now)
        return audited(
            claim,
            effects,
            AuditAction.REJECTED,
            command.stamp,
            before_minor=before,
            now=now,
            reason_code=command.reason_code,
        )
    lines, amount = _amount(claim, command, rules)
    if amount is None:
        raise ClaimError("facts_missing", "the rules give no amount: " + "; ".join(claim.missing))
    if amount < claim.paid_minor:
        raise ClaimError("below_paid", f"{fmt(claim.paid_minor, claim.currency)} is already paid", field="amount_minor")
    reason = reason or "Approved by reviewer"
    if needs_second_approval(amount, rules):
        claim.proposal = ProposalRecord(
            proposed_by=command.stamp.actor,
            amount_minor=amount,
            lines=lines,
            reason_code=command.reason_code,
            reason=reason,
            request_id=key,
            resume_status=claim.status,
            at=iso(now),
        )
        claim.status = Status.AWAITING_APPROVAL
        # A proposal moves no money: its audit record is its only effect.
        return [
            audit(
                claim,
                AuditAction.PROPOSED,
                command.stamp,
                before,
                now,
                after_minor=amount,
                reason_code=command.reason_code,
            )
        ]
    effects = _decide(claim, ClaimDecision.APPROVED, amount, lines, reason, by=signoff, rules=rules, now=now)
    return audited(
        claim,
        effects,
        AuditAction.APPROVED,
        command.stamp,
        before_minor=before,
        now=now,
        reason_code=command.reason_code,
    )


def _amount(claim: ClaimRecord, command: Review, rules: CompensationRules) -> tuple[list[LineRecord], int | None]:
    """What an approval or an adjustment grants, and how; an adjusted amount stays within the rules' cap."""
    lines = claim.lines
    amount = claim.assessed_amount_minor
    if command.action != "adjust":
        return lines, amount
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
    if command.amount_minor is None:
        return lines, amount
    cap = review_cap(claim.as_input(), rules)
    if cap is None:
        raise ClaimError(
            "cap_unknown", "the rules' cap needs the declared value or the freight: set the facts", field="amount_minor"
        )
    if command.amount_minor > cap:
        raise ClaimError(
            "above_cap", f"at most {fmt(cap, claim.currency)} under the rules for this claim", field="amount_minor"
        )
    assessed = "no amount" if claim.assessed_amount_minor is None else fmt(claim.assessed_amount_minor, claim.currency)
    lines = [
        *[x for x in lines if x.label != "Compensation"],
        LineRecord(
            label="Adjusted by reviewer",
            amount_minor=command.amount_minor,
            basis=f"{command.reason_code}: {command.reason} (rules gave {assessed})",
        ),
    ]
    return lines, command.amount_minor


@dataclass(frozen=True)
class Approval:
    decision: Literal["approve", "decline"]
    stamp: Stamp
    reason_code: str | None = None
    reason: str = ""


def second_approval(claim: ClaimRecord, command: Approval, rules: CompensationRules, now: datetime) -> list[Effect]:
    """A second approver approves or declines a proposal; nobody approves their own proposal."""
    proposal = claim.proposal
    if claim.status is not Status.AWAITING_APPROVAL or proposal is None:
        raise ClaimError("nothing_to_approve", f"claim is {claim.status.value}")
    if command.stamp.actor.subject == proposal.proposed_by.subject:
        raise ClaimError("self_approval", "a second, different approver decides this proposal")
    _reason_code(command.reason_code, rules, required=command.decision == "decline")
    before = claim.granted_minor
    claim.proposal = None
    if command.decision == "decline":
        claim.status = proposal.resume_status
        return [audit(claim, AuditAction.DECLINED, command.stamp, before, now, reason_code=command.reason_code)]
    signoff = Signoff(proposal.proposed_by, command.stamp.actor, proposal.request_id, proposal.reason_code)
    effects = _decide(
        claim,
        ClaimDecision.APPROVED,
        proposal.amount_minor,
        proposal.lines,
        proposal.reason,
        by=signoff,
        rules=rules,
        now=now,
    )
    return audited(
        claim,
        effects,
        AuditAction.APPROVED,
        command.stamp,
        before_minor=before,
        now=now,
        reason_code=command.reason_code,
    )


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
