"""Pure compensation rules: facts in, an amount explained line by line out; the automatic decision;
liability by custody on the scan trail; the reviewers' cap and reason codes; the appeal window. No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from caseflow_contracts import Money
from caseflow_contracts.cases import FraudFlag, ParcelFacts
from caseflow_contracts.claims import ClaimDecision, ClaimFacts, ClaimKind
from caseflow_contracts.common import CaseKind, Claimant, ClaimantRole
from caseflow_contracts.upstream import ExceptionKind

from ..rules import CompensationRules
from .commands import FactsUpdate
from .money import FULL, fmt, share_of
from .records import ClaimRefused

CLAIM_CASE_KINDS = {
    CaseKind.LOSS: ClaimKind.LOSS,
    CaseKind.DAMAGE: ClaimKind.DAMAGE,
    CaseKind.SHORTAGE: ClaimKind.SHORTAGE,
    CaseKind.DELAY: ClaimKind.DELAY,
}
CLAIM_EXCEPTION_KINDS = {
    ExceptionKind.LOSS: ClaimKind.LOSS,
    ExceptionKind.DAMAGE: ClaimKind.DAMAGE,
    ExceptionKind.SHORTAGE: ClaimKind.SHORTAGE,
    ExceptionKind.DELAY: ClaimKind.DELAY,
    ExceptionKind.WRONG_CONTENTS: ClaimKind.WRONG_CONTENTS,
}


@dataclass(frozen=True)
class Line:
    label: str
    amount_minor: int
    basis: str


@dataclass(frozen=True)
class Assessment:
    """The amount the rules give (None when facts are missing), and how."""

    amount_minor: int | None
    currency: str
    lines: tuple[Line, ...]
    missing: tuple[str, ...] = ()
    treated_as_loss: bool = False


@dataclass(frozen=True)
class ClaimInput:
    kind: ClaimKind
    insured: bool
    declared_value: Money | None
    freight: Money | None
    facts: ClaimFacts


@dataclass
class _Work:
    currency: str
    lines: list[Line] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def money(self, value: Money | None, name: str) -> int | None:
        if value is None:
            return None
        if value.currency != self.currency:
            self.missing.append(f"{name} is in {value.currency}; the rules pay in {self.currency}")
            return None
        return value.amount_minor

    def line(self, label: str, amount: int, basis: str) -> None:
        self.lines.append(Line(label, amount, basis))


def claim_kind_of(kind: CaseKind, parcel: ParcelFacts) -> ClaimKind | None:
    """The claim kind from the parcel exception, else from the case kind; None when neither says."""
    if parcel.exception_kind is not None and parcel.exception_kind in CLAIM_EXCEPTION_KINDS:
        return CLAIM_EXCEPTION_KINDS[parcel.exception_kind]
    return CLAIM_CASE_KINDS.get(kind)


def facts_from_parcel(kind: ClaimKind, parcel: ParcelFacts) -> ClaimFacts:
    """What the case tells us: the goods' value is the order amount, else the declared value."""
    return ClaimFacts(
        actual_value=parcel.order_amount or parcel.declared_value,
        loss_share_bp=FULL if kind in (ClaimKind.LOSS, ClaimKind.WRONG_CONTENTS) else None,
        origin_station=parcel.origin_station,
        last_scan_station=parcel.current_station,
        destination_station=parcel.destination_station,
    )


def _goods(work: _Work, claim: ClaimInput, share_bp: int, rules: CompensationRules) -> int | None:
    """Compensation for the goods (not the freight) for a share of their full value."""
    facts = claim.facts
    actual = work.money(facts.actual_value, "actual value")
    whole = share_bp == FULL
    share_txt = "" if whole else f" x {share_bp / 100:g}% lost"
    cur = work.currency
    if claim.insured:
        declared = work.money(claim.declared_value, "declared value")
        if declared is None:
            work.missing.append("declared (insured) value")
            return None
        insured = share_of(declared, share_bp)
        work.line(
            "Insured amount" + ("" if whole else " (proportional)"),
            insured,
            f"Insured parcel (保价): declared value {fmt(declared, cur)}{share_txt} (快递暂行条例 art. 27)",
        )
        if actual is None:
            work.missing.append("actual value of the goods (the insured amount is capped by the actual loss)")
            return None
        loss = share_of(actual, share_bp)
        if loss < insured:
            work.line(
                "Capped at the actual loss",
                loss,
                f"Insured amount not above the actual loss: {fmt(actual, cur)}{share_txt} = {fmt(loss, cur)}",
            )
            return loss
        return insured
    if actual is None:
        work.missing.append("actual value of the goods")
        return None
    loss = share_of(actual, share_bp)
    work.line("Actual loss", loss, f"Uninsured parcel: actual value {fmt(actual, cur)}{share_txt}")
    freight = work.money(claim.freight, "freight")
    if freight is None:
        work.missing.append(f"freight (uninsured losses are capped at {rules.uninsured_cap_multiple} x the freight)")
        return None
    cap = freight * rules.uninsured_cap_multiple
    if cap < loss:
        work.line(
            f"Capped at {rules.uninsured_cap_multiple} x freight",
            cap,
            f"Uninsured cap: {rules.uninsured_cap_multiple} x freight {fmt(freight, cur)} (network contract term)",
        )
        return cap
    return loss


def assess(claim: ClaimInput, rules: CompensationRules) -> Assessment:
    """The compensation the rules give for a claim, every amount explained."""
    work = _Work(rules.currency)
    facts = claim.facts
    kind = claim.kind
    limit = getattr(rules.total_delay_days, facts.service_scope)
    total_delay = kind is ClaimKind.DELAY and facts.days_late is not None and facts.days_late >= limit
    complete_damage = kind is ClaimKind.DAMAGE and facts.loss_share_bp == FULL
    as_loss = kind in (ClaimKind.LOSS, ClaimKind.WRONG_CONTENTS) or total_delay or complete_damage
    if total_delay:
        work.line(
            "Total delay treated as lost",
            0,
            f"{facts.days_late} days late, total delay from {limit} days ({facts.service_scope}): paid as lost",
        )
    elif complete_damage:
        work.line("Complete damage treated as lost", 0, "Completely damaged (完全损毁): paid as lost")
    elif kind is ClaimKind.WRONG_CONTENTS:
        work.line("Wrong contents treated as lost", 0, "A different item was delivered: paid as completely damaged")

    total = 0
    if kind is ClaimKind.DELAY and not total_delay:
        freight = work.money(claim.freight, "freight")
        if facts.days_late is None:
            # Never paid on a guess (issue 15: a delay with days late unknown was refunded and charged back).
            work.missing.append("days late (a delay is compensated only once it is known how late the parcel was)")
        if freight is None:
            work.missing.append("freight (a delay refunds the freight)")
        if freight is not None and facts.days_late is not None:
            work.line(
                "Freight refund",
                freight,
                f"Delayed ({facts.days_late} days late, total delay from {limit} days): this shipment's freight "
                "is refunded; insurance and add-on fees are not",
            )
            total = freight
    else:
        share = FULL if as_loss else facts.loss_share_bp
        goods: int | None = None
        if share is None:
            work.missing.append(f"extent of the {kind.value} (share of the full value, loss_share_bp)")
        else:
            goods = _goods(work, claim, share, rules)
        freight = work.money(claim.freight, "freight")
        if as_loss and rules.refund_freight_when_lost and freight is not None:
            work.line("Freight refund", freight, "Lost parcel: freight refunded (the insurance fee is not)")
            total += freight
        total += goods or 0
    if work.missing:
        return Assessment(None, work.currency, tuple(work.lines), tuple(work.missing), as_loss)
    work.line("Compensation", total, f"Total under rules {rules.version}")
    return Assessment(total, work.currency, tuple(work.lines), (), as_loss)


@dataclass(frozen=True)
class Verdict:
    decision: ClaimDecision
    reason: str


def decide(assessment: Assessment, fraud_flags: list[FraudFlag], rules: CompensationRules) -> Verdict:
    """Approve automatically only under the limit and without fraud flags; else a reviewer decides."""
    if assessment.amount_minor is None:
        return Verdict(ClaimDecision.PENDING_REVIEW, "Facts missing: " + "; ".join(assessment.missing))
    if fraud_flags:
        return Verdict(ClaimDecision.PENDING_REVIEW, "Fraud flags: " + ", ".join(f.value for f in fraud_flags))
    if assessment.amount_minor == 0:
        return Verdict(ClaimDecision.PENDING_REVIEW, "Nothing to pay under the rules: a reviewer confirms")
    limit = rules.auto_approve_below_minor
    if assessment.amount_minor >= limit:
        return Verdict(
            ClaimDecision.PENDING_REVIEW,
            f"{fmt(assessment.amount_minor, assessment.currency)} is not below the auto-approval limit "
            f"{fmt(limit, rules.currency)}",
        )
    return Verdict(ClaimDecision.APPROVED, f"Approved by rules {rules.version}: below {fmt(limit, rules.currency)}")


@dataclass(frozen=True)
class CustodyLiability:
    station: str | None
    reason: str


def liable_by_custody(kind: ClaimKind, facts: ClaimFacts, rules: CompensationRules) -> CustodyLiability:
    """Which station the scan trail holds liable, and why (station None when the trail does not say)."""
    custody = rules.liability_by_custody
    if kind is ClaimKind.DAMAGE:
        if facts.outer_box_intact is True:
            where, why = custody.damage_outer_box_intact, "outer box intact, contents broken: packaging"
        elif facts.outer_box_intact is False:
            where, why = custody.damage_outer_box_broken, "outer box broken: handling at delivery"
        else:
            where, why = custody.damage_unknown, "box condition not recorded"
    else:
        where = getattr(custody, kind.value)
        why = {
            "loss": "last station that scanned it, with no receiving scan at the next one",
            "shortage": "contents missing from the parcel",
            "wrong_contents": "a different item in the parcel",
            "delay": "station holding the parcel when it fell late",
        }[kind.value]
    station = {
        "origin": facts.origin_station,
        "last_scan": facts.last_scan_station,
        "destination": facts.destination_station or facts.last_scan_station,
    }[where]
    label = {"origin": "sending station", "last_scan": "last scanning station", "destination": "delivering station"}
    return CustodyLiability(station, f"Scan trail: {kind.value}, {why}; the {label[where]} is liable")


# -- four eyes ---------------------------------------------------------------------------------------


def review_cap(claim: ClaimInput, rules: CompensationRules) -> int | None:
    """The most the rules could pay for this parcel, as if it were lost: a reviewer adjusts up to it.

    Insured: the declared value; uninsured: N x the freight; plus the freight refund when the
    rules refund it. None when the parcel's figures needed for the cap are unknown.
    """
    work = _Work(rules.currency)
    freight = work.money(claim.freight, "freight")
    refund = freight if rules.refund_freight_when_lost and freight is not None else 0
    if claim.insured:
        declared = work.money(claim.declared_value, "declared value")
        return None if declared is None else declared + refund
    if freight is None:
        return None
    return freight * rules.uninsured_cap_multiple + refund


def needs_second_approval(amount_minor: int, rules: CompensationRules) -> bool:
    return amount_minor > rules.four_eyes.second_approval_above_minor


def check_reason_code(code: str | None, rules: CompensationRules, *, required: bool) -> None:
    """Refuse (the message names the codes) unless the code is one of the rules' list."""
    codes = ", ".join(sorted(rules.four_eyes.reason_codes))
    if code is None:
        if required:
            raise ClaimRefused("reason_code", f"a reason code is required: {codes}", field="reason_code")
        return
    if code not in rules.four_eyes.reason_codes:
        raise ClaimRefused("reason_code", f"unknown reason code {code!r}: {codes}", field="reason_code")


# -- who claims, and until when they may appeal ------------------------------------------------------


def claimant_without_asking(kind: ClaimKind | None, rules: CompensationRules) -> Claimant | None:
    """The party the rules pay when nobody asked (a bare parcel exception): none unless the rules file
    enables the kind (off by default; DOMAIN.md "Compensation")."""
    role: ClaimantRole | None = rules.open_without_claimant.get(kind) if kind is not None else None
    return None if role is None else Claimant(role=role)


def appeal_until(
    decision: ClaimDecision, decided_at: datetime, appeals_made: int, rules: CompensationRules
) -> datetime | None:
    """Until when the customer may appeal a decision: what claim.decided tells them and what `appeal`
    enforces, from the same rules (none while the claim waits for review or when no appeal is left)."""
    if decision is ClaimDecision.PENDING_REVIEW or appeals_made >= rules.max_customer_appeals:
        return None
    return decided_at + timedelta(days=rules.customer_appeal_days)


def with_facts(facts: ClaimFacts, update: FactsUpdate) -> ClaimFacts:
    """The facts with what a reviewer or a claimant established (the fields they gave)."""
    given = update.model_dump(mode="json", exclude_unset=True)
    return ClaimFacts.model_validate({**facts.model_dump(mode="json"), **given}, strict=False)
