"""What stations, supervisors and HQ's desk report, applied to a case: accepted after escalation, stamped when
it reached the suite, late when past a breach's deadline, refused with forbidden words, reason codes, rulings."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from caseflow_contracts.cases import (
    CaseCallbackLoggedPayload,
    CaseClosed,
    CaseEscalatedPayload,
    CaseHqRuledPayload,
    CaseNoteRefusedPayload,
    CaseResolvedPayload,
    CaseTransferredPayload,
)
from caseflow_contracts.common import LadderLevel
from caseflow_contracts.errors import Refusal
from caseflow_contracts.sla import SlaMetric
from caseflow_contracts.stations import (
    CallbackOutcome,
    CallbackPayload,
    CaseRecord,
    EscalationRequestedPayload,
    HqRuling,
    HqRulingPayload,
    ProgressPayload,
    RejectedPayload,
    ResolutionProposedPayload,
    ResolutionResult,
    ResolvedPayload,
    StationUpdatePayload,
    TransferRequestedPayload,
)
from caseflow_routing.domain.case import CaseFile, Outcome
from caseflow_routing.domain.ladder import breach_withdrawn, sla_breached
from caseflow_routing.domain.stations import (
    acknowledged,
    called_back,
    escalation_requested,
    hq_ruled,
    progress_noted,
    rejected,
    resolution_proposed,
    resolved,
    transfer_requested,
)
from caseflow_routing.domain.workflow import State

from .factories import CHAOYANG, NOW, PUDONG, breach, clock_payload, facts, new_case, types, update, withdrawal

DEADLINE = NOW + timedelta(hours=2)


def ack(case: CaseFile, station: str | None = None, **kw: Any) -> Outcome:
    return acknowledged(case, StationUpdatePayload(**update(case.case_id, station or case.holder)), facts(**kw))


def call(case: CaseFile, station: str | None = None, *, result: str = "已告知客户改派时间", **kw: Any) -> Outcome:
    payload = CallbackPayload(**update(case.case_id, station or case.holder), result=result)
    return called_back(case, payload, facts(**kw))


def resolve(case: CaseFile, station: str | None = None, **kw: Any) -> Outcome:
    payload = ResolvedPayload(**update(case.case_id, station or case.holder), result=ResolutionResult.RESOLVED)
    return resolved(case, payload, facts(**kw))


def escalated(case: CaseFile) -> CaseFile:
    """The case after a callback breach added the hub as supervisor."""
    return sla_breached(case, clock_payload(case.case_id, LadderLevel.STATION, case.holder), facts("breach-1")).case


@pytest.mark.parametrize(
    ("steps", "expected_state", "expected_events"),
    [
        (["ack"], State.ACKNOWLEDGED, ["case.acknowledged"]),
        (["ack", "ack"], State.ACKNOWLEDGED, []),
        (["call"], State.IN_PROGRESS, ["case.callback_logged"]),
        (["call", "ack"], State.IN_PROGRESS, []),  # a late acknowledgement
        (["wait"], State.AWAITING_CUSTOMER, ["case.progress_noted", "case.awaiting_customer"]),
        (["wait", "wait"], State.AWAITING_CUSTOMER, ["case.progress_noted"]),
        (["wait", "note"], State.IN_PROGRESS, ["case.customer_responded", "case.progress_noted"]),
        (["propose"], State.RESOLUTION_PROPOSED, ["case.resolution_proposed"]),
        (["pending"], State.RESOLUTION_PENDING, ["case.resolved"]),
        (["resolve"], State.CLOSED, ["case.resolved", "case.closed"]),
        (["resolve", "resolve"], State.CLOSED, []),
    ],
)
def test_station_actions(steps: list[str], expected_state: State, expected_events: list[str]) -> None:
    case = new_case()
    outcome = Outcome(case)
    for name in steps:
        outcome = _action(outcome.case, name)
    assert outcome.case.state is expected_state
    assert types(outcome) == expected_events


def _action(case: CaseFile, name: str, station: str | None = None) -> Outcome:
    base = update(case.case_id, station or case.holder)
    if name == "ack":
        return acknowledged(case, StationUpdatePayload(**base), facts())
    if name == "call":
        return called_back(case, CallbackPayload(**base, result="已告知"), facts())
    if name in ("wait", "note"):
        return progress_noted(case, ProgressPayload(**base, awaiting_customer=name == "wait"), facts())
    if name == "propose":
        return resolution_proposed(case, ResolutionProposedPayload(**base, solution="改派"), facts())
    result = ResolutionResult.PENDING if name == "pending" else ResolutionResult.RESOLVED
    return resolved(case, ResolvedPayload(**base, result=result), facts())


def test_actions_are_stamped_when_they_reached_the_suite_and_keep_the_stations_claim() -> None:
    case = new_case()
    arrived = NOW + timedelta(minutes=42)
    outcome = call(case, received_at=arrived, now=arrived + timedelta(minutes=30))  # routing was behind
    [(_, logged)] = outcome.emits
    assert isinstance(logged, CaseCallbackLoggedPayload)
    assert logged.at == arrived  # not routing's time, not the station's own `at`
    entry = outcome.case.history[-1]
    assert (entry.at, entry.details["claimed_at"]) == (arrived, (NOW + timedelta(minutes=5)).isoformat())


@pytest.mark.parametrize(
    ("outcome", "result", "counts"),
    [
        (CallbackOutcome.REACHED, "已告知客户：明天上午改派", True),
        (CallbackOutcome.REACHED, "", False),  # reached, but nothing told
        (CallbackOutcome.REACHED, "   ", False),
        (CallbackOutcome.NOT_REACHED, "已留言", False),  # an attempt: logged, the clock runs on
    ],
)
def test_a_callback_counts_as_the_response_only_when_the_customer_was_reached_and_told(
    outcome: CallbackOutcome, result: str, counts: bool
) -> None:
    case = new_case()
    payload = CallbackPayload(**update(case.case_id, case.holder), outcome=outcome, result=result)
    [(_, logged)] = called_back(case, payload, facts()).emits
    assert isinstance(logged, CaseCallbackLoggedPayload)
    assert (logged.outcome, logged.result, logged.counts_as_response) == (outcome, result, counts)


def test_the_holder_acts_after_escalation_and_late_actions_are_recorded_late() -> None:
    case = escalated(new_case())
    assert (case.holder, case.supervisor) == ("BJ-HD-01", "HUB-BJ")
    acked = ack(case, received_at=DEADLINE + timedelta(minutes=5))
    assert types(acked) == ["case.acknowledged"]
    late = call(acked.case, received_at=DEADLINE + timedelta(minutes=10))
    assert types(late) == ["case.callback_logged"]
    assert late.emits[0][1].level is LadderLevel.STATION  # type: ignore[attr-defined]  # the holder's own level
    entry = late.case.history[-1]
    assert (entry.details["late"], entry.details["breach"]) == (True, "callback:station")
    assert late.tags == ["late_station_action"]
    done = resolve(late.case, received_at=DEADLINE + timedelta(hours=1))
    assert types(done) == ["case.resolved", "case.closed"]
    assert "late" not in done.case.history[-1].details  # the resolution clock did not breach


def test_an_action_that_reached_the_suite_before_the_deadline_is_not_late_though_handled_after_the_breach() -> None:
    case = escalated(new_case())
    on_time = call(case, received_at=DEADLINE - timedelta(seconds=3), now=DEADLINE + timedelta(minutes=4))
    assert "late" not in on_time.case.history[-1].details
    assert on_time.tags == []


def test_after_a_withdrawn_breach_nothing_is_late() -> None:
    case = new_case()
    breached = breach(case.case_id, LadderLevel.STATION, case.holder)
    up = sla_breached(case, breached.payload, facts(breached.event_id))
    back = breach_withdrawn(up.case, withdrawal(breached, stopped_at=NOW).payload, facts("w"))
    assert "late" not in call(back.case, received_at=DEADLINE + timedelta(hours=1)).case.history[-1].details


def test_a_supervisor_follows_up_and_may_not_do_the_holders_work() -> None:
    case = escalated(new_case())
    followed = call(case, "HUB-BJ")
    [(_, logged)] = followed.emits
    assert (logged.station, logged.level) == ("HUB-BJ", LadderLevel.HUB)  # type: ignore[attr-defined]
    assert followed.case.state is State.ASSIGNED  # the holder's work is the holder's
    noted = progress_noted(case, ProgressPayload(**update(case.case_id, "HUB-BJ")), facts())
    assert types(noted) == ["case.progress_noted"]
    for name in ("ack", "wait", "resolve"):
        with pytest.raises(Refusal) as refused:
            _action(case, name, "HUB-BJ")
        assert refused.value.code == "not_holder"


@pytest.mark.parametrize("stranger", ["BJ-CY-01", "RC-NORTH", "HQ-CS"])
def test_a_unit_that_neither_holds_nor_supervises_the_case_is_refused(stranger: str) -> None:
    with pytest.raises(Refusal) as refused:
        call(escalated(new_case()), stranger)
    assert refused.value.code == "not_holder"


def test_a_follow_up_that_crossed_the_withdrawal_of_its_escalation_is_recorded_and_changes_nothing() -> None:
    """The hub a breach added pushes the station; sla withdraws the breach (the station's callback was on time)
    before the hub's note reaches routing: the note is recorded, emits nothing, and is not `not_holder`."""
    case = new_case()
    breached = breach(case.case_id, LadderLevel.STATION, case.holder)
    up = sla_breached(case, breached.payload, facts(breached.event_id))
    back = breach_withdrawn(up.case, withdrawal(breached, stopped_at=NOW).payload, facts("w")).case
    for name in ("call", "note"):
        late = _action(back, name, "HUB-BJ")
        assert (late.emits, late.case.state, late.case.oversight) == ([], back.state, [])
        assert late.case.history[-1].details["station"] == "HUB-BJ"
    for name in ("ack", "resolve"):  # not a supervisor's work: still refused
        with pytest.raises(Refusal) as refused:
            _action(back, name, "HUB-BJ")
        assert refused.value.code == "not_holder"
    with pytest.raises(Refusal) as stranger:  # a unit that never supervised the case
        _action(back, "note", "RC-NORTH")
    assert stranger.value.code == "not_holder"


def test_work_on_a_closed_case_is_refused() -> None:
    closed = resolve(new_case()).case
    with pytest.raises(Refusal) as refused:
        _action(closed, "ack")
    assert refused.value.code == "case_closed"


@pytest.mark.parametrize("station", [None, "HUB-BJ"])
def test_a_follow_up_that_crossed_the_close_is_recorded_and_changes_nothing(station: str | None) -> None:
    """The holder's or its supervisor's callback or note sent before it learnt of the resolution is stale
    knowledge, not bad input: the closed case records it, emits nothing and stays closed."""
    closed = resolve(escalated(new_case())).case
    for name in ("call", "note"):
        late = _action(closed, name, station)
        assert (late.emits, late.case.state) == ([], State.CLOSED)
        assert late.case.history[-1].action == f"ignored_{'call_back' if name == 'call' else 'note_progress'}"
        assert late.case.history[-1].details["station"] == (station or closed.holder)


def test_a_resolution_carries_the_case_record_and_closes_the_case_when_it_reached_the_suite() -> None:
    case = new_case()
    record = CaseRecord(solution_owner="派送组", fault_type="延误", agent_name="李*", evaluation="已闭环")
    payload = ResolvedPayload(
        **update(case.case_id, case.holder), result=ResolutionResult.RESOLVED, solution="运费已退", record=record
    )
    outcome = resolved(case, payload, facts(received_at=NOW + timedelta(hours=3)))
    done = outcome.emits[0][1]
    assert isinstance(done, CaseResolvedPayload)
    assert (done.result, done.solution, done.record, done.opened_at) == ("resolved", "运费已退", record, NOW)
    assert outcome.emits[1][0] is CaseClosed
    assert outcome.case.closed_at == NOW + timedelta(hours=3)


def test_unresolved_needs_a_reason() -> None:
    case = new_case()
    with pytest.raises(Refusal) as refused:
        resolved(
            case, ResolvedPayload(**update(case.case_id, case.holder), result=ResolutionResult.UNRESOLVED), facts()
        )
    assert refused.value.code == "missing_reason"


# -- forbidden words -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload_type", "extra", "field", "words"),
    [
        (StationUpdatePayload, {"note": "喂，客户在吗"}, "note", ["喂"]),
        (CallbackPayload, {"result": "我也不清楚"}, "result", ["不清楚"]),
        (ResolutionProposedPayload, {"solution": "你想好了再打来吧"}, "solution", ["你想好了再打来吧"]),
        (
            ResolvedPayload,
            {"result": ResolutionResult.UNRESOLVED, "reason": "客户脑残"},
            "reason",
            ["脑残"],
        ),
        (RejectedPayload, {"reason": "不知道", "reason_code": "wrong_station"}, "reason", ["不知道"]),
    ],
)
def test_text_with_forbidden_words_is_refused_recorded_and_put_on_the_scorecard(
    payload_type: Any, extra: dict[str, Any], field: str, words: list[str]
) -> None:
    case = new_case()
    payload = payload_type(**update(case.case_id, case.holder, **extra))
    handler = {
        StationUpdatePayload: acknowledged,
        CallbackPayload: called_back,
        ResolutionProposedPayload: resolution_proposed,
        ResolvedPayload: resolved,
        RejectedPayload: rejected,
    }[payload_type]
    outcome = handler(case, payload, facts("upd-1", received_at=NOW + timedelta(minutes=7)))
    assert outcome.refusal is not None
    assert outcome.refusal.code == "forbidden_words"
    [(_, refused)] = outcome.emits
    assert isinstance(refused, CaseNoteRefusedPayload)
    assert (refused.station, refused.field, refused.words, refused.refused_event_id) == (
        case.holder,
        field,
        words,
        "upd-1",
    )
    assert outcome.case.state is case.state
    assert outcome.case.history[-1].action == "note_refused"


def test_an_ignored_duplicate_is_not_checked_for_words_it_would_never_send() -> None:
    acked = ack(new_case()).case
    again = acknowledged(acked, StationUpdatePayload(**update(acked.case_id, acked.holder, note="喂")), facts())
    assert (again.refusal, again.emits) == (None, [])


# -- rejections, transfer requests and HQ's rulings -----------------------------------------------------------


def reject(case: CaseFile, code: str | None = "wrong_station", **kw: Any) -> Outcome:
    payload = RejectedPayload(**update(case.case_id, case.holder), reason="非本网点件", reason_code=code)
    return rejected(case, payload, facts("rej-1", **kw))


def rule(case: CaseFile, ruling: HqRuling, *, to: str | None = None, desk: str = "HQ-CS", about: str = "") -> Outcome:
    payload = HqRulingPayload(
        **update(case.case_id, desk), ruling=ruling, about_station=about or case.holder, to_station=to, reason="复核"
    )
    return hq_ruled(case, payload, facts("ruling-1", now=NOW + timedelta(hours=1)))


@pytest.mark.parametrize(("code", "refusal"), [(None, "missing_reason_code"), ("bored", "unknown_reason_code")])
def test_a_rejection_needs_a_reason_code_from_hqs_list(code: str | None, refusal: str) -> None:
    with pytest.raises(Refusal) as refused:
        reject(new_case(), code)
    assert refused.value.code == refusal
    assert "wrong_station" in refused.value.message


def test_a_rejection_waits_for_hq_and_the_station_keeps_the_case() -> None:
    outcome = reject(new_case())
    assert (outcome.emits, outcome.case.holder) == ([], "BJ-HD-01")
    assert outcome.case.pending is not None
    assert (outcome.case.pending.kind, outcome.case.pending.reason_code) == ("rejection", "wrong_station")
    again = reject(outcome.case)
    assert (again.emits, again.note) == ([], "a rejection already waits for HQ's ruling")


def test_hq_overturning_a_rejection_is_shirking_and_adds_oversight() -> None:
    case = reject(new_case()).case
    outcome = rule(case, HqRuling.REJECTION_OVERTURNED)
    assert types(outcome) == ["case.hq_ruled", "case.escalated"]
    ruled, up = outcome.emits[0][1], outcome.emits[1][1]
    assert isinstance(ruled, CaseHqRuledPayload)
    assert (ruled.station, ruled.ruling, ruled.decided_by) == ("BJ-HD-01", "rejection_overturned", "HQ-CS:A1001")
    assert isinstance(up, CaseEscalatedPayload)
    assert (up.holder, up.supervisor, up.trigger, up.trigger_ref) == (
        "BJ-HD-01",
        "HUB-BJ",
        "station_rejection",
        "rej-1",
    )
    assert outcome.case.pending is None


def test_hq_upholding_a_rejection_reassigns_the_case_afresh() -> None:
    case = escalated(new_case(hint="SH-PD-01", area=PUDONG))
    case = reject(case).case
    outcome = rule(case, HqRuling.REJECTION_UPHELD)  # no station named: the covering peer
    assert types(outcome) == ["case.hq_ruled", "case.transferred"]
    moved = outcome.emits[1][1]
    assert isinstance(moved, CaseTransferredPayload)
    assert (moved.from_station, moved.to_station, moved.decided_by) == ("SH-PD-01", "SH-PD-02", "HQ-CS:A1001")
    fresh = outcome.case
    assert (fresh.holder, fresh.oversight, fresh.breaches, fresh.state, fresh.epoch) == (
        "SH-PD-02",
        [],
        [],
        State.ASSIGNED,
        1,
    )


def test_a_transfer_out_of_area_with_a_covering_station_is_decided_by_hqs_rule() -> None:
    # The station holds a case for an area the directory gives to another station (coverage was edited).
    case = replace(new_case(hint="BJ-HD-01"), area=CHAOYANG)
    request = TransferRequestedPayload(
        **update(case.case_id, "BJ-HD-01"), reason="超区", reason_code="out_of_area", to_station="BJ-CY-01"
    )
    outcome = transfer_requested(case, request, facts("t1"))
    assert types(outcome) == ["case.hq_ruled", "case.transferred"]
    ruled, moved = outcome.emits[0][1], outcome.emits[1][1]
    assert isinstance(ruled, CaseHqRuledPayload)
    assert isinstance(moved, CaseTransferredPayload)
    assert (ruled.ruling, ruled.decided_by, moved.to_station) == (
        "transfer_approved",
        "hq-rule-out-of-area",
        "BJ-CY-01",
    )
    assert "covers the delivery area" in moved.reason
    assert outcome.case.holder == "BJ-CY-01"


@pytest.mark.parametrize(
    ("hint", "area", "code"),
    [
        ("BJ-HD-01", None, "out_of_area"),  # no area: no covering station known
        ("SH-PD-01", PUDONG, "out_of_area"),  # the directory says the holder covers the area: HQ's desk decides
        ("SH-PD-01", PUDONG, "address_changed"),  # a reason HQ's rules do not decide
    ],
)
def test_other_transfer_requests_wait_for_hqs_desk(hint: str, area: Any, code: str) -> None:
    case = new_case(hint=hint, area=area)
    request = TransferRequestedPayload(**update(case.case_id, case.holder), reason="?", reason_code=code)
    outcome = transfer_requested(case, request, facts("t2"))
    assert outcome.emits == []
    assert outcome.case.pending is not None
    assert outcome.case.holder == hint
    denied = rule(outcome.case, HqRuling.TRANSFER_DENIED)
    assert types(denied) == ["case.hq_ruled"]
    assert (denied.case.holder, denied.case.pending) == (hint, None)


def test_hq_may_reassign_a_case_of_its_own_accord_to_a_named_station() -> None:
    outcome = rule(new_case(), HqRuling.TRANSFER_APPROVED, to="BJ-CY-01")
    assert types(outcome) == ["case.hq_ruled", "case.transferred"]
    assert outcome.case.holder == "BJ-CY-01"


@pytest.mark.parametrize(
    ("ruling", "kw", "code"),
    [
        (HqRuling.REJECTION_OVERTURNED, {}, "no_pending_request"),
        (HqRuling.TRANSFER_DENIED, {}, "no_pending_request"),
        (HqRuling.TRANSFER_APPROVED, {}, "missing_target"),  # no area, no station named
        (HqRuling.TRANSFER_APPROVED, {"to": "SH-MH-01"}, "unknown_station"),  # inactive
        (HqRuling.TRANSFER_APPROVED, {"to": "BJ-CY-01", "desk": "HUB-BJ"}, "not_hq"),
        (HqRuling.TRANSFER_APPROVED, {"to": "BJ-CY-01", "about": "BJ-CY-01"}, "stale_ruling"),
    ],
)
def test_rulings_hq_cannot_make_are_refused(ruling: HqRuling, kw: dict[str, Any], code: str) -> None:
    with pytest.raises(Refusal) as refused:
        rule(new_case(), ruling, **kw)
    assert refused.value.code == code


@pytest.mark.parametrize(("station", "allowed"), [("BJ-HD-01", True), ("HQ-CS", True), ("BJ-CY-01", False)])
def test_the_holder_or_a_unit_above_it_may_ask_for_one_more_level(station: str, allowed: bool) -> None:
    case = new_case()
    request = EscalationRequestedPayload(**update(case.case_id, station), reason="VIP")
    if not allowed:
        with pytest.raises(Refusal) as refused:
            escalation_requested(case, request, facts())
        assert refused.value.code == "not_holder"
        return
    outcome = escalation_requested(case, request, facts("req-1"))
    assert (outcome.case.holder, outcome.case.supervisor) == ("BJ-HD-01", "HUB-BJ")


def test_breach_of_a_supervisors_follow_up_makes_its_late_follow_up_late() -> None:
    case = escalated(new_case())
    follow_up = clock_payload(case.case_id, LadderLevel.HUB, "HUB-BJ", SlaMetric.ESCALATION_FOLLOW_UP)
    up = sla_breached(case, follow_up, facts("b-hub")).case
    late = call(up, "HUB-BJ", received_at=follow_up.deadline_at + timedelta(minutes=1))
    assert late.case.history[-1].details["breach"] == "escalation_follow_up:hub"
    holder_call = call(up, received_at=NOW + timedelta(minutes=30))  # the holder's own clock: met
    assert "late" not in holder_call.case.history[-1].details
