"""The claim aggregate: opening, decisions, appeals, liability, chargebacks and the ledger, without I/O."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from caseflow_claims.domain import (
    Approval,
    CaseCopy,
    Claim,
    ClaimRefused,
    ClaimRequest,
    Decided,
    DeclarationRecord,
    Effect,
    FactsUpdate,
    LiableShare,
    OpenedCase,
    Paid,
    Review,
    Stamp,
    Status,
    ask,
)
from caseflow_claims.domain.records import iso
from caseflow_claims.rules import CompensationRules
from caseflow_claims.settings import DEFAULT_RULES
from caseflow_contracts import Money
from caseflow_contracts.cases import ParcelFacts
from caseflow_contracts.claims import ClaimDecision, ClaimFacts, ClaimKind
from caseflow_contracts.common import Actor, CaseKind, Claimant, ClaimantRole, PayoutMethod
from caseflow_kit.rules import load_rules

from .factories import NOW

STAMP = Stamp(Actor(subject="r1", roles=["claims.reviewer"]), "req-1")
SENDER = Claimant(role=ClaimantRole.SENDER)


def rv(action: str, reason: str = "", code: str | None = "inspection_confirmed", **kw: Any) -> Review:
    """A review by r1; adjust and reject cite a reason code from the rules."""
    return Review(action, STAMP, None if action == "approve" else code, reason, **kw)  # type: ignore[arg-type]


RULES = load_rules(DEFAULT_RULES, CompensationRules)
AFTER_RESOLUTION = RULES.model_copy(update={"arbitrate_when": "case_resolved"})


def case_copy(*, actual: int = 2000, freight: int = 1000) -> CaseCopy:
    parcel = ParcelFacts(
        origin_station="SH-001",
        current_station="HZ-002",
        destination_station="BJ-003",
        freight=Money(amount_minor=freight),
        order_amount=Money(amount_minor=actual),
    )
    opened = OpenedCase(
        kind=CaseKind.LOSS, waybill_no="YT0000000001", parcel=parcel, customer_ref="c1", opened_at=iso(NOW)
    )
    return CaseCopy(case_id="CF-TEST000001", opened=opened)


def opened(
    *,
    actual: int = 2000,
    freight: int = 1000,
    kind: ClaimKind = ClaimKind.LOSS,
    share: int | None = 10_000,
    rules: CompensationRules = RULES,
    case: CaseCopy | None = None,
) -> tuple[Claim, list[Effect]]:
    """A claim the sender asks for, on the case's parcel facts (the kind and lost share as given)."""
    request = ClaimRequest(SENDER, "case_opened", claim_kind=kind, facts=FactsUpdate(loss_share_bp=share))
    return Claim.open(case or case_copy(actual=actual, freight=freight), request, rules, NOW)


def kinds(effects: list[Effect]) -> list[str]:
    return [type(e).__name__ for e in effects]


def test_small_claim_is_approved_paid_and_charged_back_by_the_scan_trail() -> None:
    claim, effects = opened()
    assert kinds(effects) == ["Opened", "Decided", "Paid", "Arbitrated", "Charged"]
    assert claim.status is Status.APPROVED
    assert claim.paid_minor == 3000
    cb = claim.chargebacks[0]
    assert (cb.station, cb.payout_share_minor, cb.penalty_minor) == ("HZ-002", 3000, 10_000)
    summary = claim.ledger_summary()
    assert summary["charged_back_minor"] == 3000
    assert summary["absorbed_minor"] == 0
    assert summary["penalties_minor"] == 10_000
    assert claim.balances()
    assert claim.case_resolved(NOW, RULES, NOW) == []  # nothing new


def test_rules_can_wait_for_the_resolution_before_charging_back() -> None:
    claim, effects = opened(rules=AFTER_RESOLUTION)
    assert kinds(effects) == ["Opened", "Decided", "Paid"]
    assert claim.ledger_summary()["absorbed_minor"] == 3000
    assert claim.balances()
    effects = claim.case_resolved(NOW, AFTER_RESOLUTION, NOW)
    assert kinds(effects) == ["Arbitrated", "Charged"]
    assert claim.ledger_summary()["absorbed_minor"] == 0
    assert claim.balances()
    assert claim.case_resolved(NOW, AFTER_RESOLUTION, NOW) == []  # again: nothing new


def declaration(liable: str) -> DeclarationRecord:
    return DeclarationRecord(
        event_id="e-" + liable, station="BJ-003", liable_station=liable, amount_claimed=Money(amount_minor=1), at="x"
    )


def test_a_declaration_the_scan_trail_confirms_is_settled_by_it() -> None:
    claim, _ = opened(rules=AFTER_RESOLUTION)
    assert claim.declare(declaration("HZ-002"), AFTER_RESOLUTION, NOW) == []
    effects = claim.case_resolved(NOW, AFTER_RESOLUTION, NOW)
    assert kinds(effects) == ["Arbitrated", "Charged"]
    assert claim.liability is not None
    assert "confirms the arbitration declaration of BJ-003" in claim.liability.reason
    assert len(claim.declarations) == 1
    assert all(d.settled for d in claim.declarations)


def test_a_disputed_declaration_leaves_liability_to_hq() -> None:
    claim, _ = opened(rules=AFTER_RESOLUTION)
    claim.declare(declaration("SH-001"), AFTER_RESOLUTION, NOW)  # the trail says HZ-002
    assert claim.case_resolved(NOW, AFTER_RESOLUTION, NOW) == []
    effects = claim.arbitrate(
        [LiableShare(station="SH-001", share_bp=6000), LiableShare(station="HZ-002", share_bp=4000)],
        "split",
        STAMP,
        RULES,
        NOW,
    )
    assert kinds(effects) == ["Arbitrated", "Charged", "Charged", "Audited"]
    assert sorted(c.payout_share_minor for c in claim.chargebacks) == [1200, 1800]
    assert claim.balances()
    assert len(claim.declarations) == 1
    assert all(d.settled for d in claim.declarations)


def test_hq_override_reverses_the_custody_chargeback() -> None:
    claim, _ = opened()
    claim.case_resolved(NOW, RULES, NOW)
    effects = claim.arbitrate([], "no station at fault (无责)", STAMP, RULES, NOW)
    assert kinds(effects) == ["Arbitrated", "Reversed", "Audited"]
    summary = claim.ledger_summary()
    assert summary["charged_back_minor"] == 0
    assert summary["absorbed_minor"] == 3000
    assert summary["penalties_minor"] == 0
    assert claim.balances()


def test_station_appeal_then_hq_upholds_keeps_the_chargeback() -> None:
    claim, _ = opened()
    claim.case_resolved(NOW, RULES, NOW)
    cb = claim.chargebacks[0]
    later = NOW + timedelta(days=2)
    effects = claim.appeal_chargeback(cb.chargeback_id, "HZ-002", "we scanned it out", STAMP, rules=RULES, now=later)
    assert kinds(effects) == ["ChargebackAppealed", "Audited"]
    assert claim.appeal_chargeback(cb.chargeback_id, "HZ-002", "again", STAMP, rules=RULES, now=later) == []
    effects = claim.arbitrate([LiableShare(station="HZ-002", share_bp=10_000)], "trail is clear", STAMP, RULES, later)
    assert kinds(effects) == ["Arbitrated", "Audited"]
    assert claim.chargebacks[0].status == "upheld"
    assert claim.balances()


def test_station_appeal_window_and_ownership() -> None:
    claim, _ = opened()
    claim.case_resolved(NOW, RULES, NOW)
    cb = claim.chargebacks[0]
    with pytest.raises(ClaimRefused, match="not_found"):
        claim.appeal_chargeback(cb.chargeback_id, "SH-001", "not ours", STAMP, rules=RULES, now=NOW)
    with pytest.raises(ClaimRefused, match="appeal_window_closed"):
        claim.appeal_chargeback(cb.chargeback_id, "HZ-002", "late", STAMP, rules=RULES, now=NOW + timedelta(days=8))


def test_review_adjust_with_facts_recomputes_and_pays() -> None:
    claim, effects = opened(kind=ClaimKind.DAMAGE, share=None, actual=10_000, freight=5000)
    assert claim.status is Status.PENDING_REVIEW
    assert kinds(effects) == ["Opened", "Decided"]
    facts = FactsUpdate(loss_share_bp=3000)
    with pytest.raises(ClaimRefused, match="reason_code"):
        claim.review(rv("adjust", code=None, facts=facts), RULES, NOW)
    effects = claim.review(rv("adjust", "photos show 30%", facts=facts, idempotency_key="q1"), RULES, NOW)
    assert kinds(effects) == ["Decided", "Paid", "Arbitrated", "Charged", "Audited"]
    assert claim.paid_minor == 3000
    assert claim.chargebacks[0].station == "BJ-003"  # box condition not recorded: the delivering station
    # the same request again (client retry) changes nothing
    assert claim.review(rv("adjust", "photos show 30%", facts=facts, idempotency_key="q1"), RULES, NOW) == []
    with pytest.raises(ClaimRefused, match="not_reviewable"):
        claim.review(rv("approve"), RULES, NOW)


def test_review_cannot_approve_without_an_amount_and_reject_needs_a_reason() -> None:
    claim, _ = opened(kind=ClaimKind.DAMAGE, share=None)
    with pytest.raises(ClaimRefused, match="facts_missing"):
        claim.review(rv("approve"), RULES, NOW)
    with pytest.raises(ClaimRefused, match="reason_code"):
        claim.review(rv("reject", code=None), RULES, NOW)
    with pytest.raises(ClaimRefused, match="unknown reason code"):
        claim.review(rv("reject", code="because"), RULES, NOW)
    effects = claim.review(rv("reject", "sender packed it badly"), RULES, NOW)
    assert kinds(effects) == ["Decided", "Audited"]
    assert claim.status is Status.REJECTED
    assert claim.paid_minor == 0


def test_customer_appeal_tops_up_once_and_never_below_paid() -> None:
    claim, _ = opened(actual=100_000, freight=20_000)  # 80,000 > limit: review
    assert claim.status is Status.PENDING_REVIEW
    claim.review(rv("adjust", "partial proof", amount_minor=30_000), RULES, NOW)
    assert claim.paid_minor == 30_000
    with pytest.raises(ClaimRefused, match="appeal_window_closed"):
        claim.appeal("more", STAMP, RULES, NOW + timedelta(days=31))
    effects = claim.appeal("invoice attached", STAMP, RULES, NOW + timedelta(days=1))
    assert kinds(effects) == ["Appealed", "Audited"]
    with pytest.raises(ClaimRefused, match="below_paid"):
        claim.review(rv("adjust", "less", amount_minor=10_000), RULES, NOW)
    effects = claim.review(rv("approve", "invoice checks out"), RULES, NOW)
    assert kinds(effects) == [
        "Decided",
        "Paid",
        "Charged",
        "Audited",
    ]  # the top-up is charged back too (no new penalty)
    assert [c.penalty_minor for c in claim.chargebacks] == [10_000, 0]
    assert [p.amount_minor for p in claim.payouts] == [30_000, 50_000]
    assert claim.paid_minor == 80_000
    with pytest.raises(ClaimRefused, match="appeals_exhausted"):
        claim.appeal("again", STAMP, RULES, NOW + timedelta(days=2))
    assert claim.balances()


def test_a_rejected_appeal_keeps_the_earlier_payout() -> None:
    claim, _ = opened()
    claim.appeal("want more", STAMP, RULES, NOW)
    effects = claim.review(rv("reject", "the cap applies"), RULES, NOW)
    assert kinds(effects) == ["Decided", "Audited"]
    decided = effects[0]
    assert isinstance(decided, Decided)
    assert decided.decision.decision is ClaimDecision.APPROVED
    assert decided.decision.amount_minor == 3000
    assert claim.paid_minor == 3000


def test_top_up_after_arbitration_is_charged_back_without_a_second_penalty() -> None:
    claim, _ = opened()
    claim.case_resolved(NOW, RULES, NOW)
    claim.appeal("freight was higher", STAMP, RULES, NOW)
    claim.review(rv("adjust", "receipt", amount_minor=4000), RULES, NOW)
    assert [c.payout_share_minor for c in claim.chargebacks] == [3000, 1000]
    assert [c.penalty_minor for c in claim.chargebacks] == [10_000, 0]
    assert claim.balances()


def test_reviewer_sets_the_kind_and_the_lost_share_follows_it() -> None:
    claim, _ = opened(actual=10_000, freight=5000)  # opened as a loss (the placeholder for an unknown kind)
    claim.status = Status.PENDING_REVIEW  # as if nothing had been paid or charged back yet
    claim.payouts.clear()
    claim.chargebacks.clear()
    claim.liability = None
    claim.ledger.clear()
    damage = rv("adjust", "it was broken, not lost", claim_kind=ClaimKind.DAMAGE)
    with pytest.raises(ClaimRefused, match="facts_missing"):
        # a refused command leaves the claim half-changed: callers (commands.command) discard it
        claim.model_copy(deep=True).review(damage, RULES, NOW)  # no extent: not paid as a loss
    facts = FactsUpdate(loss_share_bp=2000)
    effects = claim.review(rv("adjust", "20% broken", facts=facts, claim_kind=ClaimKind.DAMAGE), RULES, NOW)
    assert kinds(effects) == ["Decided", "Paid", "Arbitrated", "Charged", "Audited"]
    assert claim.claim_kind is ClaimKind.DAMAGE
    assert claim.paid_minor == 2000


def test_a_split_payout_is_charged_back_in_parts_that_add_up_to_it() -> None:
    """101 fen split 50/50 used to charge 51 + 51 (half up per station) and book -1 fen absorbed."""
    claim, _ = opened(actual=1, freight=100)
    assert claim.paid_minor == 101
    halves = [LiableShare(station="SH-001", share_bp=5000), LiableShare(station="HZ-002", share_bp=5000)]
    claim.arbitrate(halves, "both lost track of it", STAMP, RULES, NOW)
    active = {c.station: c.payout_share_minor for c in claim.chargebacks if c.status != "reversed"}
    assert active == {"HZ-002": 51, "SH-001": 50}  # the odd fen falls to the first station by code
    summary = claim.ledger_summary()
    assert (summary["charged_back_minor"], summary["absorbed_minor"]) == (101, 0)
    assert claim.balances()


def test_the_split_does_not_depend_on_the_order_hq_names_the_stations() -> None:
    parts = []
    for order in (
        (("SH-001", 3333), ("HZ-002", 3333), ("BJ-003", 3334)),
        (("BJ-003", 3334), ("HZ-002", 3333), ("SH-001", 3333)),
    ):
        claim, _ = opened(actual=1, freight=100)
        claim.arbitrate([LiableShare(station=s, share_bp=bp) for s, bp in order], "three ways", STAMP, RULES, NOW)
        parts.append({c.station: c.payout_share_minor for c in claim.chargebacks if c.status != "reversed"})
    assert parts[0] == parts[1]
    assert sum(parts[0].values()) == 101


def test_what_no_station_is_liable_for_is_absorbed_to_the_fen() -> None:
    claim, _ = opened(actual=1, freight=100)
    claim.arbitrate([LiableShare(station="SH-001", share_bp=3333)], "a third", STAMP, RULES, NOW)
    summary = claim.ledger_summary()
    assert (summary["charged_back_minor"], summary["absorbed_minor"]) == (34, 67)  # 33.66 fen rounds to 34
    assert claim.balances()


# -- four eyes ---------------------------------------------------------------------------------------

APPROVER = Stamp(Actor(subject="a2", roles=["claims.approver"]), "req-2")


def test_adjustments_stay_within_the_rules_cap_with_a_reason_code() -> None:
    claim, _ = opened(actual=100_000, freight=20_000)  # uninsured: cap 3 x 20,000 + freight refund 20,000
    with pytest.raises(ClaimRefused, match="above_cap") as refused:
        claim.review(rv("adjust", "goodwill", amount_minor=80_001), RULES, NOW)
    assert refused.value.field == "amount_minor"
    effects = claim.review(rv("adjust", "goodwill", code="goodwill", amount_minor=80_000), RULES, NOW)
    assert kinds(effects)[-1] == "Audited"
    assert claim.audit[-1].reason_code == "goodwill"
    assert (claim.audit[-1].before_minor, claim.audit[-1].after_minor) == (0, 80_000)


def test_above_the_threshold_a_second_different_approver_decides() -> None:
    big = RULES.model_copy(update={"auto_approve_below_minor": 10**9})
    claim, _ = opened(actual=1_000_000, freight=300_000, rules=big)  # 1,000,000 capped at 900,000 + 300,000
    claim.status = Status.PENDING_REVIEW
    claim.payouts.clear()
    claim.ledger.clear()
    claim.chargebacks.clear()
    claim.liability = None
    effects = claim.review(rv("approve"), RULES, NOW)
    assert kinds(effects) == ["Audited"]  # a proposal: no money moves
    assert claim.status is Status.AWAITING_APPROVAL
    assert claim.paid_minor == 0
    with pytest.raises(ClaimRefused, match="self_approval"):
        claim.second_approval(Approval("approve", STAMP), RULES, NOW)
    with pytest.raises(ClaimRefused, match="reason_code"):
        claim.second_approval(Approval("decline", APPROVER), RULES, NOW)
    effects = claim.second_approval(Approval("approve", APPROVER), RULES, NOW)
    assert kinds(effects) == ["Decided", "Paid", "Arbitrated", "Charged", "Audited"]
    paid = next(fx for fx in effects if isinstance(fx, Paid))
    assert [a.subject for a in paid.payout.approved_by] == ["r1", "a2"]
    assert (claim.decisions[-1].reviewer_id, claim.decisions[-1].approver_id) == ("r1", "a2")
    assert [r.action for r in claim.audit] == ["proposed", "approved"]
    with pytest.raises(ClaimRefused, match="nothing_to_approve"):
        claim.second_approval(Approval("approve", APPROVER), RULES, NOW)


def test_a_declined_proposal_goes_back_to_review_unpaid() -> None:
    claim, _ = opened(actual=1_000_000, freight=300_000)
    claim.review(rv("approve"), RULES, NOW)
    decline = Approval("decline", APPROVER, "fraud_suspected")
    assert kinds(claim.second_approval(decline, RULES, NOW)) == ["Audited"]
    assert claim.status is Status.PENDING_REVIEW
    assert claim.proposal is None
    assert claim.paid_minor == 0


def test_the_cap_of_a_claim() -> None:
    from caseflow_claims.domain.compensation import ClaimInput, needs_second_approval, review_cap

    facts = ClaimFacts()
    cny = lambda fen: Money(amount_minor=fen)  # noqa: E731
    assert review_cap(ClaimInput(ClaimKind.LOSS, True, cny(90_000), cny(1000), facts), RULES) == 91_000
    assert review_cap(ClaimInput(ClaimKind.LOSS, False, None, cny(1000), facts), RULES) == 4000
    assert review_cap(ClaimInput(ClaimKind.LOSS, False, None, None, facts), RULES) is None
    assert review_cap(ClaimInput(ClaimKind.LOSS, True, None, cny(1000), facts), RULES) is None
    assert not needs_second_approval(500_000, RULES)
    assert needs_second_approval(500_001, RULES)


# -- who claims (issue 15) ---------------------------------------------------------------------------


def test_a_claim_records_who_claims_and_how_they_are_paid() -> None:
    recipient = Claimant(role=ClaimantRole.RECIPIENT, payout_method=PayoutMethod.BANK_TRANSFER)
    stamp = Stamp(Actor(subject="r7", roles=["claims.reviewer"]), "req-7")
    request = ClaimRequest(recipient, "api", stamp, idempotency_key="open-1")
    claim, effects = Claim.open(case_copy(), request, RULES, NOW)
    assert kinds(effects)[:2] == ["Opened", "Decided"]
    assert (claim.claimant, claim.source, claim.opened_by, claim.open_request_id) == (
        recipient,
        "api",
        stamp.actor,
        "open-1",
    )


def test_a_claim_needs_the_case_facts_from_intake() -> None:
    with pytest.raises(ClaimRefused, match="case_not_known_yet"):
        Claim.open(CaseCopy(case_id="CF-TEST000001"), ClaimRequest(SENDER, "api"), RULES, NOW)


def test_one_claim_per_case_whoever_asks_again() -> None:
    claim, _ = opened()
    again = ClaimRequest(Claimant(role=ClaimantRole.RECIPIENT), "case_merged")
    assert ask(claim, claim.case_id, again, RULES, NOW) == (claim, [])  # a contact asking again: under way
    with pytest.raises(ClaimRefused, match="claim_exists"):
        ask(claim, claim.case_id, ClaimRequest(SENDER, "api", STAMP), RULES, NOW)
    first, _ = Claim.open(case_copy(), ClaimRequest(SENDER, "api", STAMP, idempotency_key="k1"), RULES, NOW)
    retry = ClaimRequest(SENDER, "api", STAMP, idempotency_key="k1")
    assert ask(first, first.case_id, retry, RULES, NOW) == (first, [])  # the same request again
    fresh, effects = ask(case_copy(), "CF-TEST000001", retry, RULES, NOW)
    assert kinds(effects)[0] == "Opened"
    assert fresh.claim_id == "CL-TEST000001"


def test_a_delay_with_days_late_unknown_is_never_paid_on_a_guess() -> None:
    """The issue's example: 12 CNY freight, days late unknown, was refunded and charged 12 + 100 CNY."""
    claim, effects = opened(kind=ClaimKind.DELAY, share=None, actual=9000, freight=1200)
    assert kinds(effects) == ["Opened", "Decided"]
    assert claim.status is Status.PENDING_REVIEW
    assert any("days late" in m for m in claim.missing)
    assert (claim.paid_minor, claim.chargebacks) == (0, [])
    request = ClaimRequest(SENDER, "api", STAMP, ClaimKind.DELAY, FactsUpdate(days_late=2))
    known, effects = Claim.open(case_copy(actual=9000, freight=1200), request, RULES, NOW)
    assert kinds(effects) == ["Opened", "Decided", "Paid", "Arbitrated", "Charged"]
    assert known.paid_minor == 1200


# -- the appeal window the customer is told (issue 15) -----------------------------------------------


def test_each_decision_tells_the_appeal_window_the_rules_enforce() -> None:
    claim, effects = opened()
    decided = next(fx for fx in effects if isinstance(fx, Decided)).decision
    until = NOW + timedelta(days=RULES.customer_appeal_days)
    assert decided.appeal_until == iso(until)
    seven = RULES.model_copy(update={"customer_appeal_days": 7})  # the rules change after the decision
    with pytest.raises(ClaimRefused, match="appeal_window_closed"):
        claim.model_copy(deep=True).appeal("late", STAMP, seven, until + timedelta(seconds=1))
    assert kinds(claim.appeal("on the last day", STAMP, seven, until)) == ["Appealed", "Audited"]  # as told
    effects = claim.review(rv("reject", "the cap applies"), RULES, until)
    assert claim.decisions[-1].appeal_until is None  # no appeal left: none is told
    pending, _ = opened(kind=ClaimKind.DAMAGE, share=None)
    assert pending.decisions[-1].appeal_until is None


def test_a_decision_recorded_before_the_window_was_told_gets_the_rules_window() -> None:
    claim, _ = opened()
    claim.decisions[-1].appeal_until = None
    with pytest.raises(ClaimRefused, match="appeal_window_closed"):
        claim.model_copy(deep=True).appeal("late", STAMP, RULES, NOW + timedelta(days=31))
    assert kinds(claim.appeal("in time", STAMP, RULES, NOW + timedelta(days=29))) == ["Appealed", "Audited"]


# -- facts from other services, early or late (issue 20) ---------------------------------------------


def test_a_resolution_before_the_claim_settles_liability_when_it_opens() -> None:
    case = case_copy()
    assert case.resolve(NOW)
    claim, effects = opened(rules=AFTER_RESOLUTION, case=case)
    assert kinds(effects) == ["Opened", "Decided", "Paid", "Arbitrated", "Charged"]
    assert claim.case_resolved_at == iso(NOW)


def final_word(claim: Claim) -> tuple[Any, ...]:
    """What a claim ends with: each station's net charge, the ledger's totals, whether HQ still has to decide."""
    net = {c.station: c.payout_share_minor + c.penalty_minor for c in claim.chargebacks if c.status != "reversed"}
    refs = sorted(e.ref for e in claim.evidence)
    return net, claim.ledger_summary(), claim.disputed, refs


@pytest.mark.parametrize("rules", [RULES, AFTER_RESOLUTION], ids=["at payout", "at resolution"])
@pytest.mark.parametrize("named", ["HZ-002", "SH-001"], ids=["trail agrees", "trail disputed"])
def test_a_declaration_before_or_after_the_claim_ends_the_same(rules: CompensationRules, named: str) -> None:
    """The declaration parked in claims' copy of the case (it came first) or told to the open claim, the
    resolution before or after: once HQ had its word where it was needed, the claims end the same."""
    early = case_copy()
    assert early.park(declaration(named))
    assert not early.park(declaration(named))  # redelivered: parked once
    early.resolve(NOW)
    first, _ = opened(rules=rules, case=early)
    second, _ = opened(rules=rules)
    second.declare(declaration(named), rules, NOW)
    second.case_resolved(NOW, rules, NOW)
    hq = [LiableShare(station="SH-001", share_bp=10_000)]
    for claim in (first, second):
        assert claim.balances()
        if claim.disputed:
            claim.arbitrate(hq, "packed badly at origin", STAMP, rules, NOW)
    assert final_word(first) == final_word(second)
    assert not first.disputed


def test_a_late_declaration_naming_another_station_puts_the_claim_before_hq() -> None:
    claim, _ = opened()  # paid; the scan trail holds HZ-002 liable and charges it
    assert [c.station for c in claim.chargebacks] == ["HZ-002"]
    assert claim.declare(declaration("HZ-002"), RULES, NOW) == []  # confirms the trail
    assert not claim.disputed
    assert claim.declare(declaration("SH-001"), RULES, NOW) == []
    assert claim.disputed  # HQ's queue: the trail's chargeback stands meanwhile, as under a station's appeal
    assert [c.status for c in claim.chargebacks] == ["issued"]
    claim.arbitrate([LiableShare(station="SH-001", share_bp=10_000)], "the declaration holds", STAMP, RULES, NOW)
    assert not claim.disputed
    assert {c.station: c.status for c in claim.chargebacks} == {"HZ-002": "reversed", "SH-001": "issued"}
    assert claim.balances()
