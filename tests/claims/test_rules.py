"""The compensation, decision and liability rules, table by table (DOMAIN.md defaults)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from caseflow_claims.domain.compensation import (
    ClaimInput,
    appeal_until,
    assess,
    claimant_without_asking,
    decide,
    liable_by_custody,
)
from caseflow_claims.domain.money import share_of, split
from caseflow_claims.rules import CompensationRules
from caseflow_claims.settings import DEFAULT_RULES
from caseflow_contracts import Money
from caseflow_contracts.cases import FraudFlag
from caseflow_contracts.claims import ClaimDecision, ClaimFacts, ClaimKind
from caseflow_contracts.common import Claimant, ClaimantRole
from caseflow_kit.rules import RulesError, RulesFile, load_rules

RULES = load_rules(DEFAULT_RULES, CompensationRules)
L, D, S, DL, W = ClaimKind.LOSS, ClaimKind.DAMAGE, ClaimKind.SHORTAGE, ClaimKind.DELAY, ClaimKind.WRONG_CONTENTS


def cny(fen: int | None, currency: str = "CNY") -> Money | None:
    return None if fen is None else Money(amount_minor=fen, currency=currency)


def claim(
    kind: ClaimKind,
    *,
    insured: bool = False,
    declared: int | None = None,
    freight: int | None = None,
    actual: int | None = None,
    share: int | None = None,
    late: int | None = None,
    scope: str = "domestic",
) -> ClaimInput:
    facts = ClaimFacts.model_validate(
        {"actual_value": cny(actual), "loss_share_bp": share, "days_late": late, "service_scope": scope}, strict=False
    )
    return ClaimInput(kind, insured, cny(declared), cny(freight), facts)


# (name, claim, expected amount in fen, labels that must explain it)
CASES = [
    (
        "insured loss capped by the actual loss",
        claim(L, insured=True, declared=100_000, actual=80_000, freight=1200),
        81_200,
        ["Insured amount", "Capped at the actual loss", "Freight refund"],
    ),
    (
        "insured loss below the actual loss",
        claim(L, insured=True, declared=50_000, actual=80_000, freight=1200),
        51_200,
        ["Insured amount", "Freight refund"],
    ),
    (
        "uninsured loss capped at 3 x freight",
        claim(L, actual=80_000, freight=1000),
        4000,
        ["Actual loss", "Capped at 3 x freight", "Freight refund"],
    ),
    ("uninsured loss under the cap", claim(L, actual=2000, freight=1000), 3000, ["Actual loss", "Freight refund"]),
    (
        "complete damage is paid as lost",
        claim(D, actual=2500, freight=1000, share=10_000),
        3500,
        ["Complete damage treated as lost", "Freight refund"],
    ),
    (
        "partial damage, insured, proportional",
        claim(D, insured=True, declared=40_000, actual=40_000, share=2500),
        10_000,
        ["Insured amount (proportional)"],
    ),
    (
        "partial damage, insured, capped by actual share",
        claim(D, insured=True, declared=40_000, actual=20_000, share=5000),
        10_000,
        ["Capped at the actual loss"],
    ),
    (
        "shortage, uninsured, capped",
        claim(S, actual=12_000, share=2500, freight=800),
        2400,
        ["Actual loss", "Capped at 3 x freight"],
    ),
    ("shortage, uninsured, under cap", claim(S, actual=12_000, share=500, freight=800), 600, ["Actual loss"]),
    ("delay refunds the freight", claim(DL, freight=1500, late=2, actual=90_000), 1500, ["Freight refund"]),
    (
        "total delay domestic (7 days) is paid as lost",
        claim(DL, freight=1500, late=7, actual=2000),
        3500,
        ["Total delay treated as lost", "Actual loss"],
    ),
    (
        "total delay same city (3 days)",
        claim(DL, freight=1000, late=3, actual=9000, scope="same_city"),
        4000,
        ["Capped at 3 x freight"],
    ),
    (
        "international, 9 days is not total",
        claim(DL, freight=5000, late=9, actual=9000, scope="international"),
        5000,
        ["Freight refund"],
    ),
    (
        "wrong contents is paid as completely damaged",
        claim(W, insured=True, declared=30_000, actual=30_000, freight=1000),
        31_000,
        ["Wrong contents treated as lost"],
    ),
]


@pytest.mark.parametrize(("name", "case", "amount", "labels"), CASES, ids=[c[0] for c in CASES])
def test_compensation_table(name: str, case: ClaimInput, amount: int, labels: list[str]) -> None:
    result = assess(case, RULES)
    assert result.amount_minor == amount, name
    assert result.missing == ()
    got = [line.label for line in result.lines]
    for label in labels:
        assert label in got
    assert result.lines[-1].label == "Compensation"
    assert result.lines[-1].amount_minor == amount
    assert all(line.basis for line in result.lines)


MISSING = [
    ("damage without its extent", claim(D, actual=5000, freight=1000), "extent of the damage"),
    ("uninsured loss without freight", claim(L, actual=5000), "freight"),
    (
        "insured loss without declared value",
        claim(L, insured=True, actual=5000, freight=100),
        "declared (insured) value",
    ),
    ("insured loss without actual value", claim(L, insured=True, declared=5000, freight=100), "actual value"),
    ("delay without freight", claim(DL, late=1), "freight"),
    # Issue 15: a delay whose days late are unknown was refunded (and charged back) on a guess.
    ("delay, days late unknown", claim(DL, freight=1500), "days late"),
    ("delay, days late unknown, no freight", claim(DL), "days late"),
]


@pytest.mark.parametrize(("name", "case", "missing"), MISSING, ids=[c[0] for c in MISSING])
def test_missing_facts_give_no_amount(name: str, case: ClaimInput, missing: str) -> None:
    result = assess(case, RULES)
    assert result.amount_minor is None
    assert any(missing in m for m in result.missing), result.missing
    assert decide(result, [], RULES).decision is ClaimDecision.PENDING_REVIEW


def test_money_in_another_currency_is_not_mixed() -> None:
    facts = ClaimFacts(actual_value=Money(amount_minor=5000, currency="USD"))
    result = assess(ClaimInput(L, False, None, cny(1000), facts), RULES)
    assert result.amount_minor is None
    assert any("USD" in m for m in result.missing)


def test_default_uninsured_cap_is_three_times_not_five() -> None:
    assert RULES.uninsured_cap_multiple == 3
    result = assess(claim(L, actual=100_000, freight=1000), RULES)
    assert result.amount_minor == 3 * 1000 + 1000


def test_the_cap_multiple_is_data() -> None:
    seven = RULES.model_copy(update={"uninsured_cap_multiple": 7})
    assert assess(claim(L, actual=100_000, freight=1000), seven).amount_minor == 7000 + 1000


def test_freight_refund_on_loss_can_be_switched_off() -> None:
    rules = RULES.model_copy(update={"refund_freight_when_lost": False})
    assert assess(claim(L, actual=2000, freight=1000), rules).amount_minor == 2000


@pytest.mark.parametrize(
    ("amount", "share", "expected"),
    [(333, 5000, 167), (100, 3333, 33), (1, 5000, 1), (0, 10_000, 0), (999, 10_000, 999)],
)
def test_shares_round_half_up_in_integers(amount: int, share: int, expected: int) -> None:
    assert share_of(amount, share) == expected


DECISIONS = [
    ("small and clean: approved", claim(L, actual=2000, freight=1000), [], ClaimDecision.APPROVED),
    ("just under 500 CNY: approved", claim(DL, freight=49_999, late=1), [], ClaimDecision.APPROVED),
    ("500 CNY exactly: review", claim(DL, freight=50_000, late=1), [], ClaimDecision.PENDING_REVIEW),
    ("fraud flag: review", claim(L, actual=2000, freight=1000), [FraudFlag.SIGNED_FOR], ClaimDecision.PENDING_REVIEW),
    ("nothing to pay: review", claim(DL, freight=0, late=1), [], ClaimDecision.PENDING_REVIEW),
    ("a delay, days late unknown: review", claim(DL, freight=1200), [], ClaimDecision.PENDING_REVIEW),
    ("facts missing: review", claim(D, actual=100), [], ClaimDecision.PENDING_REVIEW),
]


@pytest.mark.parametrize(("name", "case", "flags", "decision"), DECISIONS, ids=[d[0] for d in DECISIONS])
def test_decision_table(name: str, case: ClaimInput, flags: list[FraudFlag], decision: ClaimDecision) -> None:
    verdict = decide(assess(case, RULES), flags, RULES)
    assert verdict.decision is decision, verdict.reason
    assert verdict.reason


def test_auto_approval_limit_is_data() -> None:
    rules = RULES.model_copy(update={"auto_approve_below_minor": 1000})
    assert decide(assess(claim(DL, freight=1500, late=1), rules), [], rules).decision is ClaimDecision.PENDING_REVIEW


LIABILITY = [
    (L, None, "HZ", "last scanning station"),
    (W, None, "SH", "sending station"),
    (S, None, "SH", "sending station"),
    (DL, None, "HZ", "last scanning station"),
    (D, True, "SH", "packaging"),
    (D, False, "BJ", "delivering station"),
    (D, None, "BJ", "box condition not recorded"),
]


@pytest.mark.parametrize(("kind", "intact", "station", "why"), LIABILITY)
def test_liability_by_custody_table(kind: ClaimKind, intact: bool | None, station: str, why: str) -> None:
    facts = ClaimFacts(origin_station="SH", last_scan_station="HZ", destination_station="BJ", outer_box_intact=intact)
    found = liable_by_custody(kind, facts, RULES)
    assert found.station == station
    assert why in found.reason


def test_delivering_station_falls_back_to_the_last_scan() -> None:
    found = liable_by_custody(D, ClaimFacts(last_scan_station="HZ", outer_box_intact=False), RULES)
    assert found.station == "HZ"


def test_penalty_table() -> None:
    assert RULES.penalty_minor(L) == 100 * 100
    assert RULES.penalty_minor(D) == 50 * 100


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("uninsured_cap_multiple: 0", "uninsured_cap_multiple"),
        ("auto_approve_below_minor: 12.5", "auto_approve_below_minor"),
        ("penalty_points: {loss: 100}", "penalty_points"),
        ("surprise: 1", "surprise"),
    ],
)
def test_invalid_rules_are_rejected_and_the_old_ones_stay(tmp_path: Path, change: str, message: str) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(DEFAULT_RULES.read_text(encoding="utf-8"), encoding="utf-8")
    rules = RulesFile(path, CompensationRules)
    key = change.split(":", 1)[0]
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if not ln.startswith(key + ":")]
    if key == "penalty_points":
        lines = lines[: lines.index("penalty_point_value_minor: 100") + 1]
    path.write_text("\n".join([*lines, change]) + "\n", encoding="utf-8")
    with pytest.raises(RulesError, match=message):
        load_rules(path, CompensationRules)
    assert rules.reload(force=True) is False
    assert rules.current == RULES


def test_a_split_never_charges_more_than_the_whole() -> None:
    assert split(1, [5000, 5000]) == [1, 0]
    assert split(3000, [5000, 5000]) == [1500, 1500]
    assert split(1001, [3333, 3333, 3334]) == [334, 333, 334]
    assert sum(split(7, [2500, 2500, 2500])) == 5  # 75 % of 7 fen, rounded half up, shared out exactly


def test_nobody_is_paid_for_a_bare_exception_unless_the_rules_say_so() -> None:
    assert RULES.open_without_claimant == {}
    assert all(claimant_without_asking(kind, RULES) is None for kind in ClaimKind)
    assert claimant_without_asking(None, RULES) is None
    rules = RULES.model_copy(update={"open_without_claimant": {DL: ClaimantRole.SENDER}})
    assert claimant_without_asking(DL, rules) == Claimant(role=ClaimantRole.SENDER)
    assert claimant_without_asking(L, rules) is None


def test_the_appeal_window_told_is_the_one_the_rules_enforce() -> None:
    decided = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    assert RULES.customer_appeal_days == 30
    assert appeal_until(ClaimDecision.APPROVED, decided, 0, RULES) == decided + timedelta(days=30)
    assert appeal_until(ClaimDecision.REJECTED, decided, 0, RULES) == decided + timedelta(days=30)
    assert appeal_until(ClaimDecision.PENDING_REVIEW, decided, 0, RULES) is None
    assert appeal_until(ClaimDecision.APPROVED, decided, 1, RULES) is None  # no appeal left
    seven = RULES.model_copy(update={"customer_appeal_days": 7})
    assert appeal_until(ClaimDecision.APPROVED, decided, 0, seven) == decided + timedelta(days=7)
