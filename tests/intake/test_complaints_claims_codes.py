"""Complaints as a property, claim intent, signed-not-received, platform questions, problem codes (pure)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from caseflow_contracts.common import CaseKind, Claimant, ClaimantRole, PayoutMethod
from caseflow_contracts.errors import Refusal
from caseflow_contracts.upstream import ContactCategory, ExceptionKind, SaleStage
from caseflow_intake.domain import classify
from caseflow_intake.domain.case import draft_case
from caseflow_intake.domain.inputs import from_contact, from_exception, happened_at

from .factories import NOW, PRIVACY, RULES, contact, exception


@pytest.mark.parametrize(
    ("category", "text", "extra", "kind", "complaint"),
    [
        # A complaint about a delay stays a delay case, and is a complaint.
        (ContactCategory.COMPLAINT, "快递延误三天了", {}, CaseKind.DELAY, True),
        (ContactCategory.COMPLAINT, "外箱破损，东西碎了", {}, CaseKind.DAMAGE, True),
        (ContactCategory.COMPLAINT, "快递员不送上楼", {}, CaseKind.COMPLAINT, True),
        (ContactCategory.REGULATOR_APPEAL, "已向12305申诉", {}, CaseKind.REGULATOR_APPEAL, True),
        # Complaint words make any contact a complaint, whatever its kind.
        (ContactCategory.INQUIRY, "我要投诉，包裹到哪了", {}, CaseKind.INQUIRY, True),
        (ContactCategory.CLAIM_REQUEST, "包裹丢失了，非常不满意", {}, CaseKind.LOSS, True),
        (ContactCategory.INQUIRY, "I want to complain about my parcel", {}, CaseKind.INQUIRY, True),
        (ContactCategory.COMPLAINT, "售后太慢", {"sale_stage": SaleStage.AFTER_SALE}, CaseKind.AFTER_SALE, True),
        # Not complaints.
        (ContactCategory.INQUIRY, "请问我的快递到哪了", {}, CaseKind.INQUIRY, False),
        (ContactCategory.CLAIM_REQUEST, "包裹丢失了，要求赔偿", {}, CaseKind.LOSS, False),
        (ContactCategory.SIGNED_NOT_RECEIVED, "显示已签收但我没收到", {}, CaseKind.SIGNED_NOT_RECEIVED, False),
    ],
)
def test_a_complaint_is_a_property_apart_from_the_kind(
    category: ContactCategory, text: str, extra: dict[str, object], kind: CaseKind, complaint: bool
) -> None:
    item = from_contact(contact("BE1234567890", category, text=text, **extra).payload, RULES, arrived=NOW)
    assert (item.kind, item.complaint) == (kind, complaint)


def test_an_exception_never_complains_nor_claims() -> None:
    item = from_exception(exception(description="客户投诉，要求赔偿").payload, RULES, arrived=NOW)
    assert not item.complaint
    assert item.claimant is None
    assert draft_case(item, rules=RULES, privacy=PRIVACY, now=NOW).payload.claimant is None


@pytest.mark.parametrize(
    ("category", "extra", "claimant"),
    [
        (ContactCategory.CLAIM_REQUEST, {}, Claimant(role=ClaimantRole.RECIPIENT)),
        (
            ContactCategory.CLAIM_REQUEST,
            {"claimant": Claimant(role=ClaimantRole.SENDER, payout_method=PayoutMethod.BANK_TRANSFER)},
            Claimant(role=ClaimantRole.SENDER, payout_method=PayoutMethod.BANK_TRANSFER),
        ),
        # A platform's after-sale refund request asks for money, paid back through the platform.
        (
            ContactCategory.INQUIRY,
            {"sale_stage": SaleStage.AFTER_SALE, "after_sale_type": "refund"},
            Claimant(role=ClaimantRole.RECIPIENT, payout_method=PayoutMethod.PLATFORM_REFUND),
        ),
        # A contact that names its claimant asks, whatever its category.
        (
            ContactCategory.COMPLAINT,
            {"claimant": Claimant(role=ClaimantRole.SENDER)},
            Claimant(role=ClaimantRole.SENDER),
        ),
        # No claim intent: nothing.
        (ContactCategory.INQUIRY, {}, None),
        (ContactCategory.COMPLAINT, {}, None),
        (ContactCategory.INQUIRY, {"sale_stage": SaleStage.AFTER_SALE, "after_sale_type": "exchange"}, None),
        (ContactCategory.INQUIRY, {"sale_stage": SaleStage.PRE_SALE}, None),
    ],
)
def test_claim_intent_names_the_claimant_and_payout(
    category: ContactCategory, extra: dict[str, object], claimant: Claimant | None
) -> None:
    item = from_contact(contact("BE1234567890", category, text="包裹丢失了", **extra).payload, RULES, arrived=NOW)
    assert item.claimant == claimant
    assert draft_case(item, rules=RULES, privacy=PRIVACY, now=NOW).payload.claimant == claimant


def test_signed_not_received_carries_its_evidence_to_the_delivering_station() -> None:
    event = contact(
        "BE1234567890",
        ContactCategory.SIGNED_NOT_RECEIVED,
        text="显示已签收，但我没有收到",
        sale_stage=SaleStage.AFTER_SALE,  # the category stands whatever sale stage a platform names
        evidence_refs=["sig-scan-0001", "photo-0002"],
    )
    item = from_contact(event.payload, RULES, arrived=NOW)
    payload = draft_case(item, rules=RULES, privacy=PRIVACY, now=NOW).payload
    assert payload.kind is CaseKind.SIGNED_NOT_RECEIVED
    assert payload.evidence_refs == ["sig-scan-0001", "photo-0002"]
    assert "delivering station" in payload.station_hint.reason
    stations = {"destination_station": "BJ-CY-07", "current_station": "HUB-BJ"}
    assert classify.station_hint(CaseKind.SIGNED_NOT_RECEIVED, stations, RULES)[0] == "BJ-CY-07"


@pytest.mark.parametrize("stage", list(SaleStage))
def test_platform_questions_go_to_the_platform_team_not_a_station(stage: SaleStage) -> None:
    event = contact(None, ContactCategory.INQUIRY, platform="天猫", platform_order_id="TM0001", sale_stage=stage)
    payload = draft_case(from_contact(event.payload, RULES, arrived=NOW), rules=RULES, privacy=PRIVACY, now=NOW).payload
    assert payload.kind.value == stage.value
    assert payload.station_hint.station is None
    assert "platform service team" in payload.station_hint.reason
    stations = {"destination_station": "BJ-CY-07"}
    assert classify.station_hint(payload.kind, stations, RULES) == (None, payload.station_hint.reason)


@pytest.mark.parametrize("code", ["地址不详", "未带/少带派送费", "超区件", "到付结算", None])
def test_known_problem_codes_are_taken(code: str | None) -> None:
    item = from_exception(exception(kind=ExceptionKind.PROBLEM_PARCEL, problem_code=code).payload, RULES, arrived=NOW)
    assert item.parcel.problem_code == code


@pytest.mark.parametrize("code", ["地址不祥", "address unknown", "地址不详 ", "问题件"])
def test_an_unknown_problem_code_is_refused_with_a_reason(code: str) -> None:
    event = exception(kind=ExceptionKind.PROBLEM_PARCEL, problem_code=code)
    with pytest.raises(Refusal) as refused:
        from_exception(event.payload, RULES, arrived=NOW)
    assert refused.value.code == "unknown_problem_code"
    assert "30 problem-parcel types" in refused.value.message


def test_the_rules_list_the_30_best_problem_parcel_types() -> None:
    assert len(RULES.problem_codes) == len(set(RULES.problem_codes)) == 30


def test_event_time_is_the_sources_but_never_after_it_reached_the_broker() -> None:
    hour = timedelta(hours=1)
    assert happened_at(NOW, NOW + hour) == NOW  # the suite's own lag never counts against the customer
    assert happened_at(NOW + hour, NOW) == NOW  # a source clock running ahead cannot stretch a window
    late = from_contact(contact("BE1234567890", at=NOW + hour).payload, RULES, arrived=NOW)
    assert (late.stated_at, late.at) == (NOW + hour, NOW)
