"""The claim: the one aggregate of claims. Pure: no I/O.

A claim opens when someone asks for compensation for a case (`Claim.open`); every later change is one
of its methods, which changes the claim and returns the effects (what happened) for the handlers to
store and publish. A method that refuses raises `ClaimRefused` and may have changed the claim half-way:
the caller then discards it (never saves it). Payout and chargeback ids are deterministic (their
idempotency keys) and recorded in the claim with the decision that caused them: one commit holds
both, nothing is paid twice. Liability and chargebacks are settled in `liability`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pydantic import Field

from caseflow_contracts import Money
from caseflow_contracts.cases import FraudFlag
from caseflow_contracts.claims import AuditAction, ClaimDecision, ClaimFacts, ClaimKind, EvidenceRef
from caseflow_contracts.common import Actor, CaseKind, Claimant

from ..rules import CompensationRules
from . import liability
from .commands import Approval, ClaimRequest, ClaimSource, Review, Signoff, Stamp
from .compensation import (
    Assessment,
    ClaimInput,
    Verdict,
    appeal_until,
    assess,
    check_reason_code,
    claim_kind_of,
    claimant_without_asking,
    decide,
    facts_from_parcel,
    needs_second_approval,
    review_cap,
    with_facts,
)
from .effects import Appealed, Audited, Decided, Effect, Opened, Paid
from .money import FULL, fmt
from .records import (
    AppealRecord,
    AuditRecord,
    CaseCopy,
    ChargebackRecord,
    ClaimRefused,
    DecisionRecord,
    DeclarationRecord,
    LedgerEntry,
    LiabilityRecord,
    LiableShare,
    LineRecord,
    PayoutRecord,
    ProposalRecord,
    Record,
    Status,
    iso,
)

MAX_EVIDENCE = 50


def claim_id_for(case_id: str) -> str:
    """One claim per case: CF-20261124000123 -> CL-20261124000123."""
    return "CL-" + case_id.removeprefix("CF-")


def request_on_opening(case: CaseCopy, claimant: Claimant | None, rules: CompensationRules) -> ClaimRequest | None:
    """Who asks for compensation as a case opens: the claimant intake found in the contact (a claim
    request, a platform's refund request), else the party the rules pay for a bare parcel exception of
    this kind (nobody, by default: a bare exception opens a case, not a payout)."""
    if claimant is not None:
        return ClaimRequest(claimant, "case_opened")
    opened = case.opened
    kind = claim_kind_of(opened.kind, opened.parcel) if opened else None
    by_rule = claimant_without_asking(kind, rules)
    return None if by_rule is None else ClaimRequest(by_rule, "rules")


def ask(
    found: Claim | CaseCopy | None, case_id: str, request: ClaimRequest, rules: CompensationRules, now: datetime
) -> tuple[Claim, list[Effect]]:
    """Someone asks for compensation for a case: its claim opens, or the claim already open stands.

    One claim per case: a contact asking again changes nothing (the claim is under way); a person asking
    through the API is told the claim exists, unless it is the very request that opened it (a retry).
    """
    if isinstance(found, Claim):
        retry = request.idempotency_key is not None and request.idempotency_key == found.open_request_id
        if request.source == "api" and not retry:
            raise ClaimRefused("claim_exists", f"case {case_id} has a claim already: {found.claim_id}")
        return found, []
    return Claim.open(found or CaseCopy(case_id=case_id), request, rules, now)


class Claim(Record):
    claim_id: str
    case_id: str
    status: Status
    claim_kind: ClaimKind
    case_kind: CaseKind
    claimant: Claimant | None = Field(default=None, description="Who claims and how they are paid (None before 1.2)")
    source: ClaimSource = "case_opened"
    opened_by: Actor | None = Field(default=None, description="The person who opened it through the API")
    open_request_id: str | None = None
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

    @property
    def disputed(self) -> bool:
        """A station's arbitration declaration that neither the scan trail nor HQ has settled: HQ decides."""
        return any(not d.settled for d in self.declarations)

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

    def as_input(self) -> ClaimInput:
        return ClaimInput(self.claim_kind, self.insured, self.declared_value, self.freight, self.facts)

    # -- opening ---------------------------------------------------------------

    @classmethod
    def open(
        cls, case: CaseCopy, request: ClaimRequest, rules: CompensationRules, now: datetime
    ) -> tuple[Claim, list[Effect]]:
        """Someone asks for compensation: the claim opens on claims' copy of the case and the rules decide.

        What the copy holds (declarations that came first, the resolution) is taken over, so the
        outcome is the same whether those facts arrived before or after the claim opened.
        """
        opened = case.opened
        if opened is None:
            raise ClaimRefused(
                "case_not_known_yet", f"claims has not received case {case.case_id} from intake yet; try again"
            )
        kind = request.claim_kind or claim_kind_of(opened.kind, opened.parcel)
        facts = facts_from_parcel(kind or ClaimKind.LOSS, opened.parcel)
        if request.facts:
            facts = with_facts(facts, request.facts)
        claim = cls(
            claim_id=claim_id_for(case.case_id),
            case_id=case.case_id,
            status=Status.PENDING_REVIEW,
            claim_kind=kind or ClaimKind.LOSS,
            case_kind=opened.kind,
            claimant=request.claimant,
            source=request.source,
            opened_by=request.stamp.actor if request.stamp else None,
            open_request_id=request.idempotency_key,
            waybill_no=opened.waybill_no,
            insured=opened.parcel.insured,
            declared_value=opened.parcel.declared_value,
            freight=opened.parcel.freight,
            facts=facts,
            fraud_flags=list(opened.fraud_flags),
            customer_ref=opened.customer_ref,
            currency=rules.currency,
            opened_at=iso(now),
            opened_ts=now.timestamp(),
            declarations=list(case.declarations),
            case_resolved_at=case.resolved_at,
            rules_version=rules.version,
        )
        if opened.waybill_no:
            claim._add_evidence([EvidenceRef(kind="scan_trail", ref=f"waybill:{opened.waybill_no}")])
        claim._add_evidence(EvidenceRef(kind="other", ref=ref) for ref in opened.evidence_refs)
        claim._add_evidence(EvidenceRef(kind="declaration", ref=r) for d in case.declarations for r in d.proof_refs)
        claim._add_evidence(request.evidence)
        assessment = assess(claim.as_input(), rules)
        claim._assessed(assessment)
        verdict = decide(assessment, claim.fraud_flags, rules)
        if kind is None:
            verdict = Verdict(
                ClaimDecision.PENDING_REVIEW, "Claim kind not established from the case: a reviewer sets it"
            )
        amount = (assessment.amount_minor or 0) if verdict.decision is ClaimDecision.APPROVED else 0
        decided = claim._decide(verdict.decision, amount, claim.lines, verdict.reason, by=None, rules=rules, now=now)
        return claim, [Opened(), *decided]

    # -- what other services tell ---------------------------------------------------

    def case_resolved(self, at: datetime, rules: CompensationRules, now: datetime) -> list[Effect]:
        """routing resolved the case: with `arbitrate_when: case_resolved` the scan trail may now settle."""
        if self.case_resolved_at is None:
            self.case_resolved_at = iso(at)
        return liability.settle(self, rules, now)

    def declare(self, declaration: DeclarationRecord, rules: CompensationRules, now: datetime) -> list[Effect]:
        """A station's arbitration declaration: settled with the scan trail when they agree, else by HQ."""
        if any(d.event_id == declaration.event_id for d in self.declarations):
            return []
        self.declarations.append(declaration)
        self._add_evidence(EvidenceRef(kind="declaration", ref=ref) for ref in declaration.proof_refs)
        return liability.settle(self, rules, now)

    # -- what people decide ----------------------------------------------------------

    def review(self, command: Review, rules: CompensationRules, now: datetime) -> list[Effect]:
        """A reviewer approves, adjusts or rejects (these two with a reason code) a claim awaiting review.

        An approval granting more than the four-eyes threshold becomes a proposal that a second,
        different approver decides (`second_approval`).
        """
        key = command.idempotency_key
        if key and (
            any(d.request_id == key for d in self.decisions) or (self.proposal and self.proposal.request_id == key)
        ):
            return []  # the same request again (a client retry): already applied
        if self.status not in (Status.PENDING_REVIEW, Status.APPEALED):
            raise ClaimRefused("not_reviewable", f"claim is {self.status.value}")
        check_reason_code(command.reason_code, rules, required=command.action != "approve")
        before = self.granted_minor
        self._add_evidence(command.evidence)
        signoff = Signoff(command.stamp.actor, idempotency_key=key, reason_code=command.reason_code)
        reason = command.reason or rules.four_eyes.reason_codes.get(command.reason_code or "", "")
        if command.action == "reject":
            if self.status is Status.APPEALED and self.paid_minor > 0:
                # The appeal is turned down: the earlier approval and its payout stand.
                lines = [LineRecord(label="Earlier approval stands", amount_minor=self.paid_minor, basis=reason)]
                decision, amount, reason = ClaimDecision.APPROVED, self.paid_minor, "Appeal rejected: " + reason
            else:
                decision, amount, lines = ClaimDecision.REJECTED, 0, self.lines
            effects = self._decide(decision, amount, lines, reason, by=signoff, rules=rules, now=now)
            return self._audited(
                effects, AuditAction.REJECTED, command.stamp, before, now=now, reason_code=command.reason_code
            )
        lines, granted = self._amount(command, rules)
        if granted is None:
            raise ClaimRefused("facts_missing", "the rules give no amount: " + "; ".join(self.missing))
        if granted < self.paid_minor:
            raise ClaimRefused(
                "below_paid", f"{fmt(self.paid_minor, self.currency)} is already paid", field="amount_minor"
            )
        reason = reason or "Approved by reviewer"
        if needs_second_approval(granted, rules):
            self.proposal = ProposalRecord(
                proposed_by=command.stamp.actor,
                amount_minor=granted,
                lines=lines,
                reason_code=command.reason_code,
                reason=reason,
                request_id=key,
                resume_status=self.status,
                at=iso(now),
            )
            self.status = Status.AWAITING_APPROVAL
            # A proposal moves no money: its audit record is its only effect.
            return [
                self._audit(
                    AuditAction.PROPOSED,
                    command.stamp,
                    before,
                    now,
                    after_minor=granted,
                    reason_code=command.reason_code,
                )
            ]
        effects = self._decide(ClaimDecision.APPROVED, granted, lines, reason, by=signoff, rules=rules, now=now)
        return self._audited(
            effects, AuditAction.APPROVED, command.stamp, before, now=now, reason_code=command.reason_code
        )

    def second_approval(self, command: Approval, rules: CompensationRules, now: datetime) -> list[Effect]:
        """A second approver approves or declines a proposal; nobody approves their own proposal."""
        proposal = self.proposal
        if self.status is not Status.AWAITING_APPROVAL or proposal is None:
            raise ClaimRefused("nothing_to_approve", f"claim is {self.status.value}")
        if command.stamp.actor.subject == proposal.proposed_by.subject:
            raise ClaimRefused("self_approval", "a second, different approver decides this proposal")
        check_reason_code(command.reason_code, rules, required=command.decision == "decline")
        before = self.granted_minor
        self.proposal = None
        if command.decision == "decline":
            self.status = proposal.resume_status
            return [self._audit(AuditAction.DECLINED, command.stamp, before, now, reason_code=command.reason_code)]
        signoff = Signoff(proposal.proposed_by, command.stamp.actor, proposal.request_id, proposal.reason_code)
        effects = self._decide(
            ClaimDecision.APPROVED,
            proposal.amount_minor,
            proposal.lines,
            proposal.reason,
            by=signoff,
            rules=rules,
            now=now,
        )
        return self._audited(
            effects, AuditAction.APPROVED, command.stamp, before, now=now, reason_code=command.reason_code
        )

    def appeal(self, reason: str, stamp: Stamp, rules: CompensationRules, now: datetime) -> list[Effect]:
        """The customer appeals a decision within the window they were told; the claim goes back to review."""
        if self.status not in (Status.APPROVED, Status.REJECTED):
            raise ClaimRefused("not_appealable", f"claim is {self.status.value}")
        if not reason.strip():
            raise ClaimRefused("reason_required", "an appeal needs a reason")
        if len(self.appeals) >= rules.max_customer_appeals:
            raise ClaimRefused("appeals_exhausted", f"at most {rules.max_customer_appeals} appeal(s)")
        last = self.decisions[-1]
        # The window the customer was told; a decision recorded before 1.2 told none: the rules give it.
        deadline = (
            datetime.fromisoformat(last.appeal_until)
            if last.appeal_until
            else appeal_until(last.decision, datetime.fromisoformat(last.decided_at), len(self.appeals), rules)
        )
        if deadline is None or now > deadline:
            told = f" (until {deadline.isoformat()})" if deadline else ""
            raise ClaimRefused("appeal_window_closed", f"the window to appeal this decision has closed{told}")
        before = self.granted_minor
        record = AppealRecord(no=len(self.appeals) + 1, reason=reason, at=iso(now))
        self.appeals.append(record)
        self.status = Status.APPEALED
        return self._audited([Appealed(record)], AuditAction.APPEALED, stamp, before, now=now)

    def arbitrate(
        self, liable: list[LiableShare], reason: str, stamp: Stamp, rules: CompensationRules, now: datetime
    ) -> list[Effect]:
        """HQ arbitration decides liability (有责 / 无责) with a reason; it replaces any earlier decision."""
        if not reason.strip():
            raise ClaimRefused("reason_required", "an arbitration decision needs a reason")
        before = self.granted_minor
        effects = liability.hq_decide(self, liable, f"HQ arbitration ({stamp.actor.subject}): {reason}", rules, now)
        return self._audited(effects, AuditAction.ARBITRATED, stamp, before, now=now)

    def appeal_chargeback(
        self, chargeback_id: str, station: str, reason: str, stamp: Stamp, *, rules: CompensationRules, now: datetime
    ) -> list[Effect]:
        """A station appeals its own chargeback within the window; HQ then decides."""
        before = self.granted_minor
        effects = liability.appeal_chargeback(self, chargeback_id, station, reason, rules=rules, now=now)
        return self._audited(effects, AuditAction.CHARGEBACK_APPEALED, stamp, before, now=now)

    # -- inside the aggregate ------------------------------------------------------------

    def _add_evidence(self, refs: Iterable[EvidenceRef]) -> None:
        for ref in refs:
            if len(self.evidence) >= MAX_EVIDENCE:
                return
            self.evidence.append(ref)

    def _assessed(self, assessment: Assessment) -> None:
        self.assessed_amount_minor = assessment.amount_minor
        self.missing = list(assessment.missing)
        self.lines = [LineRecord(label=x.label, amount_minor=x.amount_minor, basis=x.basis) for x in assessment.lines]

    def _decide(
        self,
        decision: ClaimDecision,
        amount: int,
        lines: list[LineRecord],
        reason: str,
        *,
        by: Signoff | None,
        rules: CompensationRules,
        now: datetime,
    ) -> list[Effect]:
        until = appeal_until(decision, now, len(self.appeals), rules)
        record = DecisionRecord(
            no=len(self.decisions) + 1,
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
            appeal_until=iso(until) if until else None,
        )
        self.decisions.append(record)
        self.status = {
            ClaimDecision.APPROVED: Status.APPROVED,
            ClaimDecision.REJECTED: Status.REJECTED,
            ClaimDecision.PENDING_REVIEW: Status.PENDING_REVIEW,
        }[decision]
        effects: list[Effect] = [Decided(record)]
        if decision is ClaimDecision.APPROVED:
            approved_by = [a for a in (by.reviewer, by.approver) if a is not None] if by else []
            effects += self._pay(record, now, approved_by)
            effects += liability.settle(self, rules, now)
        return effects

    def _pay(self, decision: DecisionRecord, now: datetime, approved_by: list[Actor]) -> list[Effect]:
        """Pay what the decision grants beyond what was already paid: one payout per decision, at most."""
        top_up = decision.amount_minor - self.paid_minor
        if top_up <= 0:
            return []
        seq = len(self.payouts) + 1
        payout = PayoutRecord(
            payout_id=f"{self.claim_id}-P{seq}",
            seq=seq,
            decision_no=decision.no,
            amount_minor=top_up,
            issued_at=iso(now),
            approved_by=approved_by,
        )
        self.payouts.append(payout)
        self.ledger.append(
            LedgerEntry(
                entry_id=f"L-{payout.payout_id}", kind="payout", amount_minor=top_up, ref=payout.payout_id, at=iso(now)
            )
        )
        return [Paid(payout)]

    def _amount(self, command: Review, rules: CompensationRules) -> tuple[list[LineRecord], int | None]:
        """What an approval or an adjustment grants, and how; an adjusted amount stays within the rules' cap."""
        lines, amount = self.lines, self.assessed_amount_minor
        if command.action != "adjust":
            return lines, amount
        facts = with_facts(self.facts, command.facts) if command.facts is not None else None
        if command.claim_kind is not None and command.claim_kind is not self.claim_kind:
            # The reviewer establishes the kind: the lost share follows it unless the facts say otherwise.
            whole = command.claim_kind in (ClaimKind.LOSS, ClaimKind.WRONG_CONTENTS)
            if facts is None or facts.loss_share_bp == self.facts.loss_share_bp:
                facts = (facts or self.facts).model_copy(update={"loss_share_bp": FULL if whole else None})
            self.claim_kind = command.claim_kind
        if facts is not None:
            self.facts = facts
            assessment = assess(self.as_input(), rules)
            self._assessed(assessment)
            self.rules_version = rules.version
            lines, amount = self.lines, assessment.amount_minor
        if command.amount_minor is None:
            return lines, amount
        cap = review_cap(self.as_input(), rules)
        if cap is None:
            raise ClaimRefused(
                "cap_unknown",
                "the rules' cap needs the declared value or the freight: set the facts",
                field="amount_minor",
            )
        if command.amount_minor > cap:
            raise ClaimRefused(
                "above_cap", f"at most {fmt(cap, self.currency)} under the rules for this claim", field="amount_minor"
            )
        assessed = "no amount" if self.assessed_amount_minor is None else fmt(self.assessed_amount_minor, self.currency)
        lines = [
            *[x for x in lines if x.label != "Compensation"],
            LineRecord(
                label="Adjusted by reviewer",
                amount_minor=command.amount_minor,
                basis=f"{command.reason_code}: {command.reason} (rules gave {assessed})",
            ),
        ]
        return lines, command.amount_minor

    def _audit(
        self,
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
            audit_id=f"{self.claim_id}-A{len(self.audit) + 1}",
            action=action,
            actor=stamp.actor,
            before_minor=before_minor,
            after_minor=self.granted_minor if after_minor is None else after_minor,
            reason_code=reason_code,
            request_id=stamp.request_id,
            at=iso(now),
        )
        self.audit.append(record)
        return Audited(record)

    def _audited(
        self,
        effects: list[Effect],
        action: AuditAction,
        stamp: Stamp,
        before_minor: int,
        *,
        now: datetime,
        reason_code: str | None = None,
    ) -> list[Effect]:
        """The effects of a command by a person, with its audit record; a no-op (a retry) records nothing."""
        if not effects:
            return effects
        return [*effects, self._audit(action, stamp, before_minor, now, reason_code=reason_code)]
