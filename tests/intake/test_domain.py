"""intake's pure rules, table-driven, on the rules file that ships with the service."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from caseflow_contracts.cases import FraudFlag
from caseflow_contracts.common import CaseKind, Money, Priority
from caseflow_contracts.upstream import ContactCategory, ExceptionKind, SaleStage
from caseflow_intake.domain import classify, fraud
from caseflow_intake.domain.case import Joining, case_id_for, merge, reopen
from caseflow_intake.domain.classify import PriorityInput
from caseflow_intake.domain.fraud import PastClaim
from caseflow_intake.domain.reference import Action, CaseRef, Decision, Reference
from caseflow_intake.rules import PRIORITY_ORDER

from .factories import NOW, RULES, address, contact, incoming, intake_case


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (ExceptionKind.DELAY, CaseKind.DELAY),
        (ExceptionKind.DAMAGE, CaseKind.DAMAGE),
        (ExceptionKind.SHORTAGE, CaseKind.SHORTAGE),
        (ExceptionKind.LOSS, CaseKind.LOSS),
        (ExceptionKind.WRONG_CONTENTS, CaseKind.DAMAGE),
        (ExceptionKind.MISROUTE, CaseKind.OUT_OF_AREA_TRANSFER),
        (ExceptionKind.OUT_OF_AREA, CaseKind.OUT_OF_AREA_TRANSFER),
        (ExceptionKind.RETURN, CaseKind.PROBLEM_PARCEL),
        (ExceptionKind.PROBLEM_PARCEL, CaseKind.PROBLEM_PARCEL),
    ],
)
def test_exception_kinds(kind: ExceptionKind, expected: CaseKind) -> None:
    assert classify.kind_of_exception(kind, RULES) is expected


@pytest.mark.parametrize(
    ("category", "text", "extra", "expected"),
    [
        (ContactCategory.INQUIRY, "请问我的快递到哪了", {}, CaseKind.INQUIRY),
        (ContactCategory.INQUIRY, "快递破损了吗？想查一下", {}, CaseKind.INQUIRY),  # inquiries stay inquiries
        (ContactCategory.COMPLAINT, "快递员态度很差", {}, CaseKind.COMPLAINT),
        (ContactCategory.COMPLAINT, "收到的包裹外箱破损，里面的杯子碎了", {}, CaseKind.DAMAGE),
        (ContactCategory.CLAIM_REQUEST, "包裹丢失了，要求赔偿", {}, CaseKind.LOSS),
        (ContactCategory.CLAIM_REQUEST, "箱子里少了一件衣服", {}, CaseKind.SHORTAGE),
        (ContactCategory.COMPLAINT, "My parcel is DELAYED for a week", {}, CaseKind.DELAY),
        (ContactCategory.CLAIM_REQUEST, "要求赔偿", {}, CaseKind.COMPLAINT),
        (ContactCategory.SUGGESTION, "建议增加晚间派送", {}, CaseKind.INQUIRY),
        (ContactCategory.REGULATOR_APPEAL, "已向12305申诉", {}, CaseKind.REGULATOR_APPEAL),
        (ContactCategory.REGULATOR_APPEAL, "申诉", {"sale_stage": SaleStage.AFTER_SALE}, CaseKind.REGULATOR_APPEAL),
        (ContactCategory.INQUIRY, "这款有货吗", {"sale_stage": SaleStage.PRE_SALE}, CaseKind.PRE_SALE),
        (ContactCategory.COMPLAINT, "付款后一直没发货", {"sale_stage": SaleStage.IN_SALE}, CaseKind.IN_SALE),
        (
            ContactCategory.CLAIM_REQUEST,
            "要退货退款",
            {"sale_stage": SaleStage.AFTER_SALE, "after_sale_type": "refund"},
            CaseKind.AFTER_SALE,
        ),
    ],
)
def test_contact_kinds(category: ContactCategory, text: str, extra: dict[str, object], expected: CaseKind) -> None:
    event = contact("BE123456789", category, text=text, **extra)
    assert classify.kind_of_contact(event.payload, RULES) is expected


@pytest.mark.parametrize(
    ("facts", "expected", "reason"),
    [
        (PriorityInput(CaseKind.INQUIRY), Priority.LOW, "inquiry base priority low"),
        (PriorityInput(CaseKind.DELAY), Priority.NORMAL, "delay base priority normal"),
        (PriorityInput(CaseKind.LOSS), Priority.HIGH, "loss base priority high"),
        (PriorityInput(CaseKind.INQUIRY, vip=True), Priority.HIGH, "VIP customer"),
        (PriorityInput(CaseKind.DELAY, cross_border=True), Priority.HIGH, "cross-border shipment"),
        (
            PriorityInput(CaseKind.DAMAGE, declared_value=Money(amount_minor=200000)),
            Priority.HIGH,
            "declared value at least 2000.00 CNY",
        ),
        (
            PriorityInput(CaseKind.DAMAGE, declared_value=Money(amount_minor=199999)),
            Priority.NORMAL,
            "damage base priority normal",
        ),
        (
            PriorityInput(CaseKind.DAMAGE, declared_value=Money(amount_minor=199999, currency="USD")),
            Priority.HIGH,
            "declared value at least 300.00 USD",
        ),
        (
            PriorityInput(CaseKind.DAMAGE, declared_value=Money(amount_minor=10**9, currency="EUR")),
            Priority.NORMAL,
            "damage base priority normal",
        ),
        (PriorityInput(CaseKind.REGULATOR_APPEAL), Priority.URGENT, "regulator_appeal base priority urgent"),
        (
            PriorityInput(CaseKind.AFTER_SALE, category=ContactCategory.REGULATOR_APPEAL),
            Priority.URGENT,
            "regulator appeal",
        ),
        (PriorityInput(CaseKind.LOSS, vip=True, cross_border=True), Priority.HIGH, "VIP customer"),
    ],
)
def test_priority(facts: PriorityInput, expected: Priority, reason: str) -> None:
    priority, reasons = classify.priority_of(facts, RULES)
    assert priority is expected
    assert reason in reasons


@given(st.sampled_from(PRIORITY_ORDER), st.integers(min_value=0, max_value=5))
def test_raising_never_lowers_and_caps_at_urgent(priority: Priority, steps: int) -> None:
    raised = classify.raise_priority(priority, steps)
    assert PRIORITY_ORDER.index(raised) >= PRIORITY_ORDER.index(priority)
    assert PRIORITY_ORDER.index(raised) == min(PRIORITY_ORDER.index(priority) + steps, 3)


@pytest.mark.parametrize(
    ("declared", "text", "expected"),
    [
        ("zh-CN", "请问我的快递到哪里了", "zh-CN"),
        ("zh-CN", "Where is my parcel, it is late", "en"),
        ("en", "我的包裹还没有到", "zh-CN"),
        ("en", "ok", "en"),  # too short to tell
        ("zh-CN", "", "zh-CN"),
        ("fr", "Où est mon colis, s'il vous plaît", "fr"),  # another Latin-script language
        ("zh-CN", "荷物がまだ届いていません", "ja"),
        ("zh-CN", "택배가 아직 안 왔어요", "ko"),
    ],
)
def test_language(declared: str, text: str, expected: str) -> None:
    assert classify.language_of(declared, text, RULES) == expected


STATIONS = {"origin_station": "SH-01", "current_station": "HUB-NJ", "destination_station": "BJ-07"}


@pytest.mark.parametrize(
    ("kind", "stations", "station", "reason_part"),
    [
        (CaseKind.DELAY, STATIONS, "BJ-07", "destination"),
        (CaseKind.LOSS, STATIONS, "HUB-NJ", "last scanning"),
        (CaseKind.LOSS, {**STATIONS, "current_station": None}, "SH-01", "last scanning"),
        (CaseKind.PROBLEM_PARCEL, STATIONS, "HUB-NJ", "registering"),
        (CaseKind.OUT_OF_AREA_TRANSFER, STATIONS, "BJ-07", "covering station"),
        (CaseKind.INQUIRY, STATIONS, "BJ-07", "nearest known"),
        (CaseKind.COMPLAINT, {}, None, "HQ desk"),
    ],
)
def test_station_hint(kind: CaseKind, stations: dict[str, str | None], station: str | None, reason_part: str) -> None:
    found, reason = classify.station_hint(kind, stations, RULES)
    assert found == station
    assert reason_part in reason


@pytest.mark.parametrize(
    ("order", "shipping", "billing", "flags"),
    [
        (Money(amount_minor=500000), None, None, []),
        (Money(amount_minor=500001), None, None, [FraudFlag.HIGH_ORDER_AMOUNT]),
        (Money(amount_minor=70001, currency="USD"), None, None, [FraudFlag.HIGH_ORDER_AMOUNT]),
        (None, address(), address(), []),
        (None, address("朝阳区 建国路 88号"), address("朝阳区建国路88号"), []),
        (None, address(), address("海淀区中关村大街1号"), [FraudFlag.ADDRESS_MISMATCH]),
        (None, address(), address(city="上海市", province="上海市"), [FraudFlag.ADDRESS_MISMATCH]),
        (
            Money(amount_minor=900000),
            address(),
            address(street="另一个地址"),
            [FraudFlag.HIGH_ORDER_AMOUNT, FraudFlag.ADDRESS_MISMATCH],
        ),
        (None, address(), None, []),
    ],
)
def test_order_fraud_flags(order: Money | None, shipping: object, billing: object, flags: list[FraudFlag]) -> None:
    assert fraud.order_fraud_flags(order, shipping, billing, RULES) == flags  # type: ignore[arg-type]


def test_frequent_claimant_counts_a_rolling_window() -> None:
    day = timedelta(days=1)
    old = [PastClaim("CF-OLD0001", NOW - 40 * day)]
    recent = [PastClaim(f"CF-RECENT{i}", NOW - i * day) for i in range(1, 4)]
    within = fraud.recent_claims(old + recent[:2], "CF-NEW00001", NOW, RULES)
    assert [c.case_id for c in within] == ["CF-RECENT2", "CF-RECENT1", "CF-NEW00001"]
    assert not fraud.frequent_claimant(within, RULES)
    fourth = fraud.recent_claims(old + recent, "CF-NEW00001", NOW, RULES)
    assert fraud.frequent_claimant(fourth, RULES)
    # Counting the same case again (a retried handler) does not count it twice.
    again = fraud.recent_claims(within, "CF-NEW00001", NOW, RULES)
    assert len(again) == len(within)


def test_case_ids_are_stable_and_valid() -> None:
    a = case_id_for("exc:tms:EX1", NOW)
    assert a == case_id_for("exc:tms:EX1", NOW)
    assert a != case_id_for("exc:tms:EX2", NOW)
    assert a.startswith(f"CF-{NOW:%Y%m%d}")
    assert len(a) == 3 + 8 + 10
    assert a[3:].isalnum()
    assert a[3:].upper() == a[3:]


def ref(open_: list[CaseRef] = (), closed: list[CaseRef] = (), sources: list[str] = ()) -> Reference:  # type: ignore[assignment]
    return Reference("wb:BE1", list(open_), list(closed), list(sources))


H = timedelta(hours=1)
#: A problem of the decision table as the input that has it: (kind, a customer contact?).
AS_INPUT = {
    ("delay", False): (CaseKind.DELAY, False),
    ("contents", False): (CaseKind.DAMAGE, False),
    ("inquiry", True): (CaseKind.INQUIRY, True),
    ("contents", True): (CaseKind.DAMAGE, True),
    ("delay", True): (CaseKind.DELAY, True),
}


@pytest.mark.parametrize(
    ("reference", "problem", "contact_", "generic", "at", "expected"),
    [
        (ref(), "delay", False, False, NOW, Decision(Action.OPEN)),
        (ref(sources=["exc:tms:S1"]), "delay", False, False, NOW, Decision(Action.DUPLICATE)),
        (
            ref([CaseRef("CF-A000001", "delay", NOW)]),
            "delay",
            False,
            False,
            NOW,
            Decision(Action.MERGE, "CF-A000001"),
        ),
        (ref([CaseRef("CF-A000001", "delay", NOW)]), "contents", False, False, NOW, Decision(Action.OPEN)),
        # A generic contact (inquiry, complaint) joins the newest open case whatever its problem.
        (
            ref([CaseRef("CF-A000001", "delay", NOW - H), CaseRef("CF-B000001", "contents", NOW)]),
            "inquiry",
            True,
            True,
            NOW,
            Decision(Action.MERGE, "CF-B000001"),
        ),
        (
            ref(closed=[CaseRef("CF-A000001", "delay", NOW)]),
            "inquiry",
            True,
            True,
            NOW + 167 * H,
            Decision(Action.REOPEN, "CF-A000001"),
        ),
        (
            ref(closed=[CaseRef("CF-A000001", "delay", NOW)]),
            "inquiry",
            True,
            True,
            NOW + 169 * H,
            Decision(Action.OPEN, "", "CF-A000001"),
        ),
        # An exception never reopens: it opens a new case linked to the closed one.
        (
            ref(closed=[CaseRef("CF-A000001", "delay", NOW)]),
            "delay",
            False,
            False,
            NOW + H,
            Decision(Action.OPEN, "", "CF-A000001"),
        ),
        (ref(closed=[CaseRef("CF-A000001", "delay", NOW)]), "contents", True, False, NOW + H, Decision(Action.OPEN)),
        (
            ref(closed=[CaseRef("CF-A000001", "delay", NOW - 2 * H), CaseRef("CF-B000001", "delay", NOW - H)]),
            "delay",
            True,
            False,
            NOW,
            Decision(Action.REOPEN, "CF-B000001"),
        ),
    ],
)
def test_merge_reopen_decision(  # noqa: PLR0917 - one parameter per table column
    reference: Reference, problem: str, contact_: bool, generic: bool, at: object, expected: Decision
) -> None:
    kind, is_contact = AS_INPUT[(problem, contact_)]
    item = incoming(kind, by_customer=is_contact, at=at, source_id="S1")  # type: ignore[arg-type]
    assert (item.contact and item.kind in RULES.generic_contact_kinds) is generic
    assert RULES.problem_of(item.kind) == problem
    assert reference.decide(item, RULES) == expected


#: What a merge did: (priority, contacts, repeat contacts, a repeat?, priority raised?).
Outcome = tuple[Priority, int, int, bool, bool]


@pytest.mark.parametrize(
    ("current", "contacts", "incoming_", "contact_", "outcome"),
    [
        # An exception merged into an open case: no repeat, priority only follows the new facts.
        (Priority.NORMAL, 0, Priority.NORMAL, False, (Priority.NORMAL, 0, 0, False, False)),
        (Priority.NORMAL, 0, Priority.HIGH, False, (Priority.HIGH, 0, 0, False, True)),
        # The customer's first contact on an exception case is not a repeat.
        (Priority.NORMAL, 0, Priority.LOW, True, (Priority.NORMAL, 1, 0, False, False)),
        # The second contact is, and raises the priority one level.
        (Priority.NORMAL, 1, Priority.LOW, True, (Priority.HIGH, 2, 1, True, True)),
        (Priority.HIGH, 2, Priority.LOW, True, (Priority.URGENT, 3, 2, True, True)),
        (Priority.URGENT, 3, Priority.LOW, True, (Priority.URGENT, 4, 3, True, False)),
        (Priority.LOW, 1, Priority.URGENT, True, (Priority.URGENT, 2, 1, True, True)),
    ],
)
def test_merge_outcome(current: Priority, contacts: int, incoming_: Priority, contact_: bool, outcome: Outcome) -> None:
    case = intake_case(priority=current, contacts=contacts)
    joining = Joining("S1", incoming(CaseKind.DELAY).channel, contact_, NOW, incoming_, "")
    merged = merge(case, joining, NOW, RULES)
    assert (merged.priority, case.contacts, merged.repeat_contacts, merged.repeat_contact, merged.priority_raised) == (
        outcome
    )
    assert (case.priority, case.repeat_contacts) == (outcome[0], outcome[2])


def test_reopen_raises_priority() -> None:
    for current, incoming_, expected in [
        (Priority.NORMAL, Priority.LOW, Priority.HIGH),
        (Priority.LOW, Priority.URGENT, Priority.URGENT),
    ]:
        case = intake_case(priority=current, contacts=1)
        reopened = reopen(
            case, Joining("S1", incoming(CaseKind.DELAY).channel, True, NOW, incoming_, ""), NOW, NOW, RULES
        )
        assert reopened.priority is expected
