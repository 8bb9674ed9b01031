"""The claim aggregate: decisions, appeals, liability, chargebacks and the ledger, without I/O."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from caseflow_claims import model
from caseflow_claims.domain import assess, decide
from caseflow_claims.model import ClaimError, ClaimRecord, LiableShare, Review, Status
from caseflow_claims.rules import CompensationRules
from caseflow_claims.settings import DEFAULT_RULES
from caseflow_contracts import Money
from caseflow_contracts.claims import ClaimDecision, ClaimFacts, ClaimKind
from caseflow_contracts.common import Actor, CaseKind
from caseflow_kit.rules import load_rules

from .factories import NOW

STAMP = model.Stamp(Actor(subject="r1", roles=["claims.reviewer"]), "req-1")


def rv(action: str, reason: str = "", code: str | None = "inspection_confirmed", **kw: Any) -> Review:
    """A review by r1; adjust and reject cite a reason code from the rules."""
    return Review(action, STAMP, None if action == "approve" else code, reason, **kw)  # type: ignore[arg-type]


RULES = load_rules(DEFAULT_RULES, CompensationRules)
AFTER_RESOLUTION = RULES.model_copy(update={"arbitrate_when": "case_resolved"})


def opened(
    *,
    actual: int = 2000,
    freight: int = 1000,
    kind: ClaimKind = ClaimKind.LOSS,
    share: int | None = 10_000,
    rules: CompensationRules = RULES,
) -> tuple[ClaimRecord, list[model.Effect]]:
    claim = model.new_claim(
        claim_id="CL-TEST000001",
        case_id="CF-TEST000001",
        claim_kind=kind,
        case_kind=CaseKind.LOSS,
        waybill_no="YT0000000001",
        insured=False,
        declared_value=None,
        freight=Money(amount_minor=freight),
        facts=ClaimFacts(
            actual_value=Money(amount_minor=actual),
            loss_share_bp=share,
            origin_station="SH-001",
            last_scan_station="HZ-002",
            destination_station="BJ-003",
        ),
        fraud_flags=[],
        evidence=[],
        customer_ref="c1",
        rules=rules,
        now=NOW,
    )
    assessment = assess(claim.as_input(), rules)
    effects = model.open_and_decide(claim, decide(assessment, [], rules), assessment, rules, NOW)
    return claim, effects


def kinds(effects: list[model.Effect]) -> list[str]:
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
    assert model.case_resolved(claim, NOW, RULES, NOW) == []  # nothing new


def test_rules_can_wait_for_the_resolution_before_charging_back() -> None:
    claim, effects = opened(rules=AFTER_RESOLUTION)
    assert kinds(effects) == ["Opened", "Decided", "Paid"]
    assert claim.ledger_summary()["absorbed_minor"] == 3000
    assert claim.balances()
    effects = model.case_resolved(claim, NOW, AFTER_RESOLUTION, NOW)
    assert kinds(effects) == ["Arbitrated", "Charged"]
    assert claim.ledger_summary()["absorbed_minor"] == 0
    assert claim.balances()
    assert model.case_resolved(claim, NOW, AFTER_RESOLUTION, NOW) == []  # again: nothing new


def declaration(liable: str) -> model.DeclarationRecord:
    return model.DeclarationRecord(
        event_id="e-" + liable, station="BJ-003", liable_station=liable, amount_claimed=Money(amount_minor=1), at="x"
    )


def test_a_declaration_the_scan_trail_confirms_is_settled_by_it() -> None:
    claim, _ = opened(rules=AFTER_RESOLUTION)
    assert model.declare(claim, declaration("HZ-002"), AFTER_RESOLUTION, NOW) == []
    effects = model.case_resolved(claim, NOW, AFTER_RESOLUTION, NOW)
    assert kinds(effects) == ["Arbitrated", "Charged"]
    assert claim.liability is not None
    assert "confirms the arbitration declaration of BJ-003" in claim.liability.reason
    assert all(d.settled for d in claim.declarations)


def test_a_disputed_declaration_leaves_liability_to_hq() -> None:
    claim, _ = opened(rules=AFTER_RESOLUTION)
    model.declare(claim, declaration("SH-001"), AFTER_RESOLUTION, NOW)  # the trail says HZ-002
    assert model.case_resolved(claim, NOW, AFTER_RESOLUTION, NOW) == []
    effects = model.hq_decide(
        claim,
        [LiableShare(station="SH-001", share_bp=6000), LiableShare(station="HZ-002", share_bp=4000)],
        "split",
        RULES,
        NOW,
    )
    assert kinds(effects) == ["Arbitrated", "Charged", "Charged"]
    assert sorted(c.payout_share_minor for c in claim.chargebacks) == [1200, 1800]
    assert claim.balances()
    assert all(d.settled for d in claim.declarations)


def test_hq_override_reverses_the_custody_chargeback() -> None:
    claim, _ = opened()
    model.case_resolved(claim, NOW, RULES, NOW)
    effects = model.hq_decide(claim, [], "no station at fault (无责)", RULES, NOW)
    assert kinds(effects) == ["Arbitrated", "Reversed"]
    summary = claim.ledger_summary()
    assert summary["charged_back_minor"] == 0
    assert summary["absorbed_minor"] == 3000
    assert summary["penalties_minor"] == 0
    assert claim.balances()


def test_station_appeal_then_hq_upholds_keeps_the_chargeback() -> None:
    claim, _ = opened()
    model.case_resolved(claim, NOW, RULES, NOW)
    cb = claim.chargebacks[0]
    later = NOW + timedelta(days=2)
    effects = model.appeal_chargeback(claim, cb.chargeback_id, "HZ-002", "we scanned it out", rules=RULES, now=later)
    assert kinds(effects) == ["ChargebackAppealed"]
    assert model.appeal_chargeback(claim, cb.chargeback_id, "HZ-002", "again", rules=RULES, now=later) == []
    effects = model.hq_decide(claim, [LiableShare(station="HZ-002", share_bp=10_000)], "trail is clear", RULES, later)
    assert kinds(effects) == ["Arbitrated"]
    assert claim.chargebacks[0].status == "upheld"
    assert claim.balances()


def test_station_appeal_window_and_ownership() -> None:
    claim, _ = opened()
    model.case_resolved(claim, NOW, RULES, NOW)
    cb = claim.chargebacks[0]
    with pytest.raises(ClaimError, match="not_found"):
        model.appeal_chargeback(claim, cb.chargeback_id, "SH-001", "not ours", rules=RULES, now=NOW)
    with pytest.raises(ClaimError, match="appeal_window_closed"):
        model.appeal_chargeback(claim, cb.chargeback_id, "HZ-002", "late", rules=RULES, now=NOW + timedelta(days=8))


def test_review_adjust_with_facts_recomputes_and_pays() -> None:
    claim, effects = opened(kind=ClaimKind.DAMAGE, share=None, actual=10_000, freight=5000)
    assert claim.status is Status.PENDING_REVIEW
    assert kinds(effects) == ["Opened", "Decided"]
    facts = claim.facts.model_copy(update={"loss_share_bp": 3000})
    with pytest.raises(ClaimError, match="reason_code"):
        model.review(claim, rv("adjust", code=None, facts=facts), RULES, NOW)
    effects = model.review(claim, rv("adjust", "photos show 30%", facts=facts, idempotency_key="q1"), RULES, NOW)
    assert kinds(effects) == ["Decided", "Paid", "Arbitrated", "Charged", "Audited"]
    assert claim.paid_minor == 3000
    assert claim.chargebacks[0].station == "BJ-003"  # box condition not recorded: the delivering station
    # the same request again (client retry) changes nothing
    assert model.review(claim, rv("adjust", "photos show 30%", facts=facts, idempotency_key="q1"), RULES, NOW) == []
    with pytest.raises(ClaimError, match="not_reviewable"):
        model.review(claim, rv("approve"), RULES, NOW)


def test_review_cannot_approve_without_an_amount_and_reject_needs_a_reason() -> None:
    claim, _ = opened(kind=ClaimKind.DAMAGE, share=None)
    with pytest.raises(ClaimError, match="facts_missing"):
        model.review(claim, rv("approve"), RULES, NOW)
    with pytest.raises(ClaimError, match="reason_code"):
        model.review(claim, rv("reject", code=None), RULES, NOW)
    with pytest.raises(ClaimError, match="unknown reason code"):
        model.review(claim, rv("reject", code="because"), RULES, NOW)
    effects = model.review(claim, rv("reject", "sender packed it badly"), RULES, NOW)
    assert kinds(effects) == ["Decided", "Audited"]
    assert claim.status is Status.REJECTED
    assert claim.paid_minor == 0


def test_customer_appeal_tops_up_once_and_never_below_paid() -> None:
    claim, _ = opened(actual=100_000, freight=20_000)  # 80,000 > limit: review
    assert claim.status is Status.PENDING_REVIEW
    model.review(claim, rv("adjust", "partial proof", amount_minor=30_000), RULES, NOW)
    assert claim.paid_minor == 30_000
    with pytest.raises(ClaimError, match="appeal_window_closed"):
        model.appeal(claim, "more", RULES, NOW + timedelta(days=31))
    effects = model.appeal(claim, "invoice attached", RULES, NOW + timedelta(days=1))
    assert kinds(effects) == ["Appealed"]
    with pytest.raises(ClaimError, match="below_paid"):
        model.review(claim, rv("adjust", "less", amount_minor=10_000), RULES, NOW)
    effects = model.review(claim, rv("approve", "invoice checks out"), RULES, NOW)
    assert kinds(effects) == [
        "Decided",
        "Paid",
        "Charged",
        "Audited",
    ]  # the top-up is charged back too (no new penalty)
    assert [c.penalty_minor for c in claim.chargebacks] == [10_000, 0]
    assert [p.amount_minor for p in claim.payouts] == [30_000, 50_000]
    assert claim.paid_minor == 80_000
    with pytest.raises(ClaimError, match="appeals_exhausted"):
        model.appeal(claim, "again", RULES, NOW + timedelta(days=2))
    assert claim.balances()


def test_a_rejected_appeal_keeps_the_earlier_payout() -> None:
    claim, _ = opened()
    model.appeal(claim, "want more", RULES, NOW)
    effects = model.review(claim, rv("reject", "the cap applies"), RULES, NOW)
    assert kinds(effects) == ["Decided", "Audited"]
    decided = effects[0]
    assert isinstance(decided, model.Decided)
    assert decided.decision.decision is ClaimDecision.APPROVED
    assert decided.decision.amount_minor == 3000
    assert claim.paid_minor == 3000


def test_top_up_after_arbitration_is_charged_back_without_a_second_penalty() -> None:
    claim, _ = opened()
    model.case_resolved(claim, NOW, RULES, NOW)
    model.appeal(claim, "freight was higher", RULES, NOW)
    model.review(claim, rv("adjust", "receipt", amount_minor=4000), RULES, NOW)
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
    with pytest.raises(ClaimError, match="facts_missing"):
        # a refused command leaves the record half-changed: callers (service.execute) discard it
        model.review(claim.model_copy(deep=True), damage, RULES, NOW)  # no extent: not paid as a loss
    facts = claim.facts.model_copy(update={"loss_share_bp": 2000})
    effects = model.review(claim, rv("adjust", "20% broken", facts=facts, claim_kind=ClaimKind.DAMAGE), RULES, NOW)
    assert kinds(effects) == ["Decided", "Paid", "Arbitrated", "Charged", "Audited"]
    assert claim.claim_kind is ClaimKind.DAMAGE
    assert claim.paid_minor == 2000


def test_a_split_payout_is_charged_back_in_parts_that_add_up_to_it() -> None:
    """101 fen split 50/50 used to charge 51 + 51 (half up per station) and book -1 fen absorbed."""
    claim, _ = opened(actual=1, freight=100)
    assert claim.paid_minor == 101
    halves = [LiableShare(station="SH-001", share_bp=5000), LiableShare(station="HZ-002", share_bp=5000)]
    model.hq_decide(claim, halves, "both lost track of it", RULES, NOW)
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
        model.hq_decide(claim, [LiableShare(station=s, share_bp=bp) for s, bp in order], "three ways", RULES, NOW)
        parts.append({c.station: c.payout_share_minor for c in claim.chargebacks if c.status != "reversed"})
    assert parts[0] == parts[1]
    assert sum(parts[0].values()) == 101


def test_what_no_station_is_liable_for_is_absorbed_to_the_fen() -> None:
    claim, _ = opened(actual=1, freight=100)
    model.hq_decide(claim, [LiableShare(station="SH-001", share_bp=3333)], "a third", RULES, NOW)
    summary = claim.ledger_summary()
    assert (summary["charged_back_minor"], summary["absorbed_minor"]) == (34, 67)  # 33.66 fen rounds to 34
    assert claim.balances()


# -- four eyes ---------------------------------------------------------------------------------------

APPROVER = model.Stamp(Actor(subject="a2", roles=["claims.approver"]), "req-2")


def test_adjustments_stay_within_the_rules_cap_with_a_reason_code() -> None:
    claim, _ = opened(actual=100_000, freight=20_000)  # uninsured: cap 3 x 20,000 + freight refund 20,000
    with pytest.raises(ClaimError, match="above_cap") as refused:
        model.review(claim, rv("adjust", "goodwill", amount_minor=80_001), RULES, NOW)
    assert refused.value.field == "amount_minor"
    effects = model.review(claim, rv("adjust", "goodwill", code="goodwill", amount_minor=80_000), RULES, NOW)
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
    effects = model.review(claim, rv("approve"), RULES, NOW)
    assert kinds(effects) == ["Audited"]  # a proposal: no money moves
    assert claim.status is Status.AWAITING_APPROVAL
    assert claim.paid_minor == 0
    with pytest.raises(ClaimError, match="self_approval"):
        model.second_approval(claim, model.Approval("approve", STAMP), RULES, NOW)
    with pytest.raises(ClaimError, match="reason_code"):
        model.second_approval(claim, model.Approval("decline", APPROVER), RULES, NOW)
    effects = model.second_approval(claim, model.Approval("approve", APPROVER), RULES, NOW)
    assert kinds(effects) == ["Decided", "Paid", "Arbitrated", "Charged", "Audited"]
    paid = next(fx for fx in effects if isinstance(fx, model.Paid))
    assert [a.subject for a in paid.payout.approved_by] == ["r1", "a2"]
    assert (claim.decisions[-1].reviewer_id, claim.decisions[-1].approver_id) == ("r1", "a2")
    assert [r.action for r in claim.audit] == ["proposed", "approved"]
    with pytest.raises(ClaimError, match="nothing_to_approve"):
        model.second_approval(claim, model.Approval("approve", APPROVER), RULES, NOW)


def test_a_declined_proposal_goes_back_to_review_unpaid() -> None:
    claim, _ = opened(actual=1_000_000, freight=300_000)
    model.review(claim, rv("approve"), RULES, NOW)
    decline = model.Approval("decline", APPROVER, "fraud_suspected")
    assert kinds(model.second_approval(claim, decline, RULES, NOW)) == ["Audited"]
    assert claim.status is Status.PENDING_REVIEW
    assert claim.proposal is None
    assert claim.paid_minor == 0


def test_the_cap_of_a_claim() -> None:
    from caseflow_claims.domain import ClaimInput, needs_second_approval, review_cap

    facts = ClaimFacts()
    cny = lambda fen: Money(amount_minor=fen)  # noqa: E731
    assert review_cap(ClaimInput(ClaimKind.LOSS, True, cny(90_000), cny(1000), facts), RULES) == 91_000
    assert review_cap(ClaimInput(ClaimKind.LOSS, False, None, cny(1000), facts), RULES) == 4000
    assert review_cap(ClaimInput(ClaimKind.LOSS, False, None, None, facts), RULES) is None
    assert review_cap(ClaimInput(ClaimKind.LOSS, True, None, cny(1000), facts), RULES) is None
    assert not needs_second_approval(500_000, RULES)
    assert needs_second_approval(500_001, RULES)
