"""The claim aggregate: decisions, payouts, liability, chargebacks and a ledger that always balances.

Pure: methods change the record and return the effects (what happened) for the
handlers to turn into events. Every payout and chargeback has a deterministic id
(its idempotency key) and is recorded in the same document as the state that
caused it, so one commit holds both and nothing can be issued twice.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from caseflow_contracts import Money
from caseflow_contracts.cases import FraudFlag
from caseflow_contracts.claims import ClaimDecision, ClaimFacts, ClaimKind, EvidenceRef
from caseflow_contracts.common import CaseKind

from .domain import FULL, Assessment, ClaimInput, Line, Verdict, assess, fmt, liable_by_custody, share_of
from .rules import CompensationRules


class ClaimError(Exception):
    """A command that does not apply to the claim in its present state."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class Status(StrEnum):
    PENDING_REVIEW = "pending_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    APPEALED = "appealed"


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
    reason: str = ""
    lines: list[LineRecord]
    decided_at: str
    request_id: str | None = None


class PayoutRecord(_Rec):
    payout_id: str
    seq: int
    decision_no: int
    amount_minor: int
    issued_at: str


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
    case_resolved_at: str | None = None
    rules_version: str

    # -- views -----------------------------------------------------------------

    @property
    def paid_minor(self) -> int:
        return sum(p.amount_minor for p in self.payouts)

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


Effect = Opened | Decided | Paid | Charged | Reversed | Arbitrated | Appealed | ChargebackAppealed


def _iso(now: datetime) -> str:
    return now.isoformat()


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
        opened_at=_iso(now),
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
        decided_at=_iso(now),
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
        issued_at=_iso(now),
    )
    claim.payouts.append(payout)
    claim.ledger.append(
        LedgerEntry(
            entry_id=f"L-{payout.payout_id}", kind="payout", amount_minor=top_up, ref=payout.payout_id, at=_iso(now)
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
    record = AppealRecord(no=len(claim.appeals) + 1, reason=reason, at=_iso(now))
    claim.appeals.append(record)
    claim.status = Status.APPEALED
    return [Appealed(record)]


# -- arbitration and chargebacks -----------------------------------------------------


def case_resolved(claim: ClaimRecord, at: datetime, rules: CompensationRules, now: datetime) -> list[Effect]:
    if claim.case_resolved_at is None:
        claim.case_resolved_at = _iso(at)
    return settle(claim, rules, now)


def declare(
    claim: ClaimRecord, declaration: DeclarationRecord, rules: CompensationRules, now: datetime
) -> list[Effect]:
    """A station's arbitration declaration: settled with the scan trail when they agree, else by HQ."""
    if all(d.event_id != declaration.event_id for d in claim.declarations):
        claim.declarations.append(declaration)
    return settle(claim, rules, now)


def hq_decide(
    claim: ClaimRecord, liable: list[LiableShare], reason: str, rules: CompensationRules, now: datetime
) -> list[Effect]:
    """HQ arbitration decides liability (有责 / 无责) with a reason; it replaces any earlier decision."""
    if not reason.strip():
        raise ClaimError("reason_required", "an arbitration decision needs a reason")
    if sum(x.share_bp for x in liable) > FULL:
        raise ClaimError("shares_exceed_whole", "liable shares add up to more than 100%")
    if len({x.station for x in liable}) != len(liable):
        raise ClaimError("duplicate_station", "a station appears twice")
    seq = (claim.liability.seq if claim.liability else 0) + 1
    claim.liability = LiabilityRecord(seq=seq, decided_by="hq", liable=liable, reason=reason, decided_at=_iso(now))
    for d in claim.declarations:
        d.settled = True
    effects: list[Effect] = [Arbitrated(claim.liability)]
    for cb in claim.chargebacks:
        if cb.status == "appealed":
            cb.status = "upheld"  # re-judged: settle() reverses it unless HQ kept the same share
    return effects + settle(claim, rules, now)


def appeal_chargeback(
    claim: ClaimRecord, chargeback_id: str, station: str, reason: str, *, rules: CompensationRules, now: datetime
) -> list[Effect]:
    cb = next((c for c in claim.chargebacks if c.chargeback_id == chargeback_id), None)
    if cb is None or cb.station != station:
        raise ClaimError("not_found", f"no chargeback {chargeback_id} for station {station}")
    if cb.status == "appealed":
        return []  # already under appeal (a retry)
    if cb.status != "issued":
        raise ClaimError("not_appealable", f"chargeback is {cb.status}")
    if not reason.strip():
        raise ClaimError("reason_required", "an appeal needs a reason")
    if now > datetime.fromisoformat(cb.issued_at) + timedelta(days=rules.station_appeal_days):
        raise ClaimError("appeal_window_closed", f"appeals within {rules.station_appeal_days} days of the chargeback")
    cb.status, cb.appeal_reason, cb.appealed_at = "appealed", reason, _iso(now)
    return [ChargebackAppealed(cb)]


def _custody_liability(claim: ClaimRecord, rules: CompensationRules, now: datetime) -> list[Effect]:
    """Liability from the scan trail once the claim is paid (or the case resolved, if the rules wait for it).

    A station's declaration that names the same station is confirmed by the trail; one that
    names another station is a dispute, and HQ decides.
    """
    if claim.liability is not None or claim.paid_minor == 0:
        return []
    if rules.arbitrate_when == "case_resolved" and claim.case_resolved_at is None:
        return []
    found = liable_by_custody(claim.claim_kind, claim.facts, rules)
    if found.station is None:
        return []  # the trail names nobody: absorbed until HQ decides
    open_declarations = [d for d in claim.declarations if not d.settled]
    if any(d.liable_station != found.station for d in open_declarations):
        return []  # disputed: HQ decides
    reason = found.reason
    if open_declarations:
        names = ", ".join(sorted({d.station for d in open_declarations}))
        reason += f"; confirms the arbitration declaration of {names}"
        for d in open_declarations:
            d.settled = True
    claim.liability = LiabilityRecord(
        seq=1,
        decided_by="scan_trail",
        liable=[LiableShare(station=found.station, share_bp=FULL, reason=found.reason)],
        reason=reason,
        decided_at=_iso(now),
    )
    return [Arbitrated(claim.liability)]


def settle(claim: ClaimRecord, rules: CompensationRules, now: datetime) -> list[Effect]:
    """Bring chargebacks and absorption in line with the payouts and the liability in force."""
    effects = _custody_liability(claim, rules, now)
    at = _iso(now)
    wanted = {x.station: x.share_bp for x in claim.liability.liable} if claim.liability else {}
    # Take back what the liability in force no longer supports.
    for cb in claim.chargebacks:
        if cb.status == "reversed" or wanted.get(cb.station) == cb.share_bp:
            continue  # already taken back, or still supported (an upheld appeal stays upheld)
        cb.status, cb.reversed_at = "reversed", at
        claim.ledger.append(
            LedgerEntry(
                entry_id=f"L-{cb.chargeback_id}-REV",
                kind="chargeback",
                amount_minor=-cb.payout_share_minor,
                station=cb.station,
                ref=cb.chargeback_id,
                at=at,
            )
        )
        if cb.penalty_minor:
            claim.ledger.append(
                LedgerEntry(
                    entry_id=f"L-{cb.chargeback_id}-PEN-REV",
                    kind="penalty",
                    amount_minor=-cb.penalty_minor,
                    station=cb.station,
                    ref=cb.chargeback_id,
                    at=at,
                )
            )
        effects.append(Reversed(cb, claim.liability.reason if claim.liability else "liability withdrawn"))
    # Charge what it supports and is not yet charged.
    if claim.liability is not None:
        active = [c for c in claim.chargebacks if c.status != "reversed"]
        for payout in claim.payouts:
            for share in claim.liability.liable:
                if share.share_bp == 0 or any(
                    c.payout_id == payout.payout_id and c.station == share.station for c in active
                ):
                    continue
                has_penalty = any(c.station == share.station and c.penalty_minor for c in active)
                cb = ChargebackRecord(
                    chargeback_id=f"{claim.claim_id}-{share.station}-P{payout.seq}-L{claim.liability.seq}",
                    station=share.station,
                    payout_id=payout.payout_id,
                    liability_seq=claim.liability.seq,
                    share_bp=share.share_bp,
                    payout_share_minor=share_of(payout.amount_minor, share.share_bp),
                    penalty_minor=0 if has_penalty else rules.penalty_minor(claim.claim_kind),
                    issued_at=at,
                )
                claim.chargebacks.append(cb)
                active.append(cb)
                claim.ledger.append(
                    LedgerEntry(
                        entry_id=f"L-{cb.chargeback_id}",
                        kind="chargeback",
                        amount_minor=cb.payout_share_minor,
                        station=cb.station,
                        ref=cb.chargeback_id,
                        at=at,
                    )
                )
                if cb.penalty_minor:
                    claim.ledger.append(
                        LedgerEntry(
                            entry_id=f"L-{cb.chargeback_id}-PEN",
                            kind="penalty",
                            amount_minor=cb.penalty_minor,
                            station=cb.station,
                            ref=cb.chargeback_id,
                            at=at,
                        )
                    )
                effects.append(Charged(cb))
    # The network absorbs the rest: one adjusting entry whenever the split changes.
    gap = claim.ledger_total("payout") - claim.ledger_total("chargeback") - claim.ledger_total("absorption")
    if gap:
        n = sum(1 for e in claim.ledger if e.kind == "absorption") + 1
        claim.ledger.append(
            LedgerEntry(
                entry_id=f"L-{claim.claim_id}-AB{n}", kind="absorption", amount_minor=gap, ref=claim.claim_id, at=at
            )
        )
    return effects
