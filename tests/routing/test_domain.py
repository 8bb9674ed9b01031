"""A case file under station updates, breaches and contacts: holder checks, one climb per trigger, events out."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caseflow_contracts.cases import (
    CaseAcknowledged,
    CaseAwaitingCustomer,
    CaseCallbackLogged,
    CaseClosed,
    CaseCustomerResponded,
    CaseEscalated,
    CaseEscalatedPayload,
    CaseProgressNoted,
    CaseResolutionProposed,
    CaseResolved,
    CaseTransferred,
    EscalationTrigger,
)
from caseflow_contracts.common import LadderLevel
from caseflow_contracts.sla import SlaMetric
from caseflow_contracts.stations import ResolutionResult, TransferRequestedPayload
from caseflow_routing.decision import RoutingRequest, decide
from caseflow_routing.directory import RANK
from caseflow_routing.domain import (
    CaseFile,
    Outcome,
    Refusal,
    Report,
    Trigger,
    climb,
    customer_contacted,
    open_case,
    sla_breached,
    station_action,
    transfer_requested,
)
from caseflow_routing.workflow import Action, State

from .factories import CHAOYANG, NOW, PUDONG, base_update, breach, directory, opened, update

D = directory()


def new_case(hint: str = "BJ-HD-01", area: Any = None) -> CaseFile:
    event = opened(hint=hint, area=area)
    p = event.payload
    request = RoutingRequest(p.kind, p.priority, p.language, p.cross_border, p.area, p.station_hint.station, NOW)
    return open_case(p, decide(request, D, {}), NOW).case


def types(outcome: Outcome) -> list[str]:
    return [model.event_type() for model, _ in outcome.emits]


def act(case: CaseFile, action: Action, station: str | None = None, report: Report | None = None) -> Outcome:
    return station_action(case, action, base_update(case.case_id, station or case.holder), D, report)


def test_opening_emits_the_first_assignment_with_its_reason() -> None:
    event = opened(hint="BJ-CY-01", area=PUDONG)
    p = event.payload
    request = RoutingRequest(p.kind, p.priority, p.language, p.cross_border, p.area, p.station_hint.station, NOW)
    outcome = open_case(p, decide(request, D, {}), NOW)
    [(model, payload)] = outcome.emits
    assert model is CaseEscalated
    assert isinstance(payload, CaseEscalatedPayload)
    assert (payload.holder, payload.level, payload.trigger) == ("SH-PD-01", "station", "initial_assignment")
    assert "超区" in payload.reason
    assert [h["action"] for h in outcome.case.history] == ["transferred", "assigned"]
    assert outcome.case.history[0]["from_station"] == "BJ-CY-01"


@pytest.mark.parametrize(
    ("steps", "expected_state", "expected_events"),
    [
        ([Action.ACKNOWLEDGE], State.ACKNOWLEDGED, ["case.acknowledged"]),
        ([Action.ACKNOWLEDGE, Action.ACKNOWLEDGE], State.ACKNOWLEDGED, []),
        ([Action.CALL_BACK], State.IN_PROGRESS, ["case.callback_logged"]),
        ([Action.CALL_BACK, Action.ACKNOWLEDGE], State.IN_PROGRESS, []),  # a late acknowledgement
        ([Action.AWAIT_CUSTOMER], State.AWAITING_CUSTOMER, ["case.progress_noted", "case.awaiting_customer"]),
        ([Action.AWAIT_CUSTOMER, Action.AWAIT_CUSTOMER], State.AWAITING_CUSTOMER, ["case.progress_noted"]),
        (
            [Action.AWAIT_CUSTOMER, Action.NOTE_PROGRESS],
            State.IN_PROGRESS,
            ["case.customer_responded", "case.progress_noted"],
        ),
        ([Action.PROPOSE_RESOLUTION], State.RESOLUTION_PROPOSED, ["case.resolution_proposed"]),
        ([Action.RESOLVE_PENDING], State.RESOLUTION_PENDING, ["case.resolved"]),
        ([Action.RESOLVE], State.CLOSED, ["case.resolved", "case.closed"]),
        ([Action.RESOLVE, Action.RESOLVE], State.CLOSED, []),
    ],
)
def test_station_actions(steps: list[Action], expected_state: State, expected_events: list[str]) -> None:
    case = new_case()
    outcome = Outcome(case)
    for action in steps:
        outcome = act(outcome.case, action)
    assert outcome.case.state is expected_state
    assert types(outcome) == expected_events


def test_resolution_carries_result_satisfaction_and_closes() -> None:
    report = Report(result=ResolutionResult.RESOLVED, solution="运费已退", satisfaction=5)
    outcome = act(new_case(), Action.RESOLVE, report=report)
    resolved = outcome.emits[0][1]
    assert isinstance(resolved, CaseResolved.model_fields["payload"].annotation)  # type: ignore[arg-type]
    assert (resolved.result, resolved.satisfaction, resolved.solution) == ("resolved", 5, "运费已退")
    assert outcome.emits[1][0] is CaseClosed


def test_unresolved_needs_a_reason() -> None:
    with pytest.raises(Refusal) as refused:
        act(new_case(), Action.RESOLVE, report=Report(result=ResolutionResult.UNRESOLVED))
    assert refused.value.code == "missing_reason"


def test_a_station_cannot_update_a_case_it_does_not_hold() -> None:
    case = new_case()
    with pytest.raises(Refusal) as refused:
        act(case, Action.CALL_BACK, station="BJ-CY-01")
    assert refused.value.code == "not_holder"


def test_updates_on_a_closed_case_are_refused() -> None:
    closed = act(new_case(), Action.RESOLVE).case
    with pytest.raises(Refusal) as refused:
        act(closed, Action.CALL_BACK)
    assert refused.value.code == "case_closed"


def test_breach_climbs_once_per_metric_and_level_and_stale_breaches_change_nothing() -> None:
    case = new_case()
    first = sla_breached(case, D, breach(case.case_id, LadderLevel.STATION, "BJ-HD-01").payload, NOW)
    assert (first.case.holder, first.case.level) == ("HUB-BJ", LadderLevel.HUB)
    assert types(first) == ["case.escalated"]
    again = sla_breached(first.case, D, breach(case.case_id, LadderLevel.STATION, "BJ-HD-01").payload, NOW)
    assert again.emits == []
    assert "stale" in again.note
    hub = sla_breached(first.case, D, breach(case.case_id, LadderLevel.HUB, "HUB-BJ").payload, NOW)
    assert hub.case.holder == "RC-NORTH"
    resolution = sla_breached(
        hub.case, D, breach(case.case_id, LadderLevel.REGIONAL_CENTRE, None, SlaMetric.RESOLUTION).payload, NOW
    )
    assert (resolution.case.holder, resolution.case.level) == ("HQ-CS", LadderLevel.HQ)
    top = sla_breached(resolution.case, D, breach(case.case_id, LadderLevel.HQ, "HQ-CS").payload, NOW)
    assert top.emits == []
    assert top.case.history[-1]["action"] == "escalation_at_top"


def test_the_same_trigger_never_climbs_twice() -> None:
    case = new_case()
    cause = Trigger(EscalationTrigger.EXPLICIT_REQUEST, "evt-1", "asked")
    once = climb(case, D, cause, NOW)
    twice = climb(once.case, D, cause, NOW)
    assert once.case.holder == "HUB-BJ"
    assert twice.case.holder == "HUB-BJ"
    assert twice.emits == []


def test_repeat_contact_climbs_once_per_level_and_answers_a_waiting_case() -> None:
    case = new_case()
    first = customer_contacted(case, D, "c1", NOW, repeat=True)
    second = customer_contacted(first.case, D, "c2", NOW, repeat=True)
    assert (first.case.level, second.case.level) == (LadderLevel.HUB, LadderLevel.REGIONAL_CENTRE)
    waiting = act(second.case, Action.AWAIT_CUSTOMER).case
    answered = customer_contacted(waiting, D, "c3", NOW, repeat=True)
    assert answered.case.state is State.IN_PROGRESS
    assert answered.case.level is LadderLevel.REGIONAL_CENTRE
    assert types(answered) == ["case.customer_responded"]


def test_transfer_request_moves_sideways_to_the_covering_station_else_climbs() -> None:
    case = new_case(hint="SH-PD-01", area=CHAOYANG)  # intake named a station; area says Beijing
    assert case.holder == "BJ-CY-01"  # 超区 already fixed at assignment
    moved = transfer_requested(
        case,
        D,
        TransferRequestedPayload(**update(case.case_id, "BJ-CY-01"), reason="not ours", to_station="BJ-HD-01"),
        "t1",
    )
    assert types(moved) == ["case.transferred"]
    assert (moved.case.holder, moved.case.level) == ("BJ-HD-01", LadderLevel.STATION)
    no_peer = transfer_requested(
        moved.case, D, TransferRequestedPayload(**update(case.case_id, "BJ-HD-01"), reason="still not ours"), "t2"
    )
    assert types(no_peer) == ["case.transferred"]  # coverage still knows BJ-CY-01
    lone = new_case(hint="BJ-HD-01", area=None)
    climbed = transfer_requested(
        lone, D, TransferRequestedPayload(**update(lone.case_id, "BJ-HD-01"), reason="?"), "t3"
    )
    assert types(climbed) == ["case.escalated"]
    assert climbed.case.holder == "HUB-BJ"


def test_reopen_at_hq_hands_the_case_to_hq_again() -> None:
    case = new_case()
    case.holder, case.level = "HQ-CS", LadderLevel.HQ
    closed = act(case, Action.RESOLVE).case
    reopened = climb(closed, D, Trigger(EscalationTrigger.REOPENED, "reopen-1", "reopened"), NOW)
    assert (reopened.case.state, reopened.case.holder) == (State.ASSIGNED, "HQ-CS")
    assert types(reopened) == ["case.escalated"]


# -- property tests over whole stories ---------------------------------------------------------------

STATIONS = sorted(D.by_code)
STATION_ACTIONS = [
    Action.ACKNOWLEDGE,
    Action.CALL_BACK,
    Action.NOTE_PROGRESS,
    Action.AWAIT_CUSTOMER,
    Action.PROPOSE_RESOLUTION,
    Action.RESOLVE_PENDING,
    Action.RESOLVE,
]
inputs = st.one_of(
    st.tuples(st.just("station"), st.sampled_from(STATION_ACTIONS), st.booleans(), st.sampled_from(STATIONS)),
    st.tuples(
        st.just("breach"), st.sampled_from(list(SlaMetric)[:2]), st.sampled_from(list(LadderLevel)), st.booleans()
    ),
    st.tuples(st.just("contact"), st.booleans()),
    st.tuples(st.just("climb"), st.sampled_from(["reject", "explicit", "transfer"]), st.integers(0, 5), st.booleans()),
    st.tuples(st.just("reopen"), st.integers(1, 3)),
)


def apply(case: CaseFile, item: tuple[Any, ...], step_no: int) -> Outcome:
    at = NOW + timedelta(minutes=step_no)
    kind = item[0]
    if kind == "station":
        _, action, by_holder, other = item
        return act(case, action, station=case.holder if by_holder else other)
    if kind == "breach":
        _, metric, level, with_station = item
        p = breach(case.case_id, level, case.holder if with_station else None, metric).payload
        return sla_breached(case, D, p, at)
    if kind == "contact":
        return customer_contacted(case, D, f"c{step_no}", at, repeat=item[1])
    if kind == "climb":
        _, what, ref, by_holder = item
        if what == "transfer":
            request = TransferRequestedPayload(
                **update(case.case_id, case.holder if by_holder else "BJ-CY-01"), reason="x"
            )
            return transfer_requested(case, D, request, f"t{ref}")
        trigger = EscalationTrigger.STATION_REJECTION if what == "reject" else EscalationTrigger.EXPLICIT_REQUEST
        return climb(case, D, Trigger(trigger, f"r{ref}", what), at)
    cause = Trigger(EscalationTrigger.REOPENED, f"reopen-{item[1]}", "reopened")
    return climb(case, D, cause, at)


@settings(max_examples=300, deadline=None)
@given(st.lists(inputs, max_size=25))
def test_any_story_keeps_the_invariants(story: list[tuple[Any, ...]]) -> None:
    case = new_case(hint="BJ-CY-01", area=CHAOYANG)
    seen_triggers: set[tuple[str, str]] = set()
    refusals: set[str] = set()
    for number, item in enumerate(story):
        before = case
        try:
            outcome = apply(case, item, number)
        except Refusal as refused:
            refusals.add(refused.code)
            continue
        case = outcome.case
        # The holder is known, the level is the holder's, and the ladder is only ever climbed.
        assert case.holder in D
        assert case.level is D.level(case.holder)
        assert RANK[case.level] >= RANK[before.level]
        for model, payload in outcome.emits:
            if model is CaseEscalated:
                assert isinstance(payload, CaseEscalatedPayload)
                key = (str(payload.trigger), payload.trigger_ref)
                assert key not in seen_triggers, f"trigger {key} moved the case twice"
                seen_triggers.add(key)
                assert payload.previous_holder == before.holder
            if model in (CaseAcknowledged, CaseCallbackLogged, CaseProgressNoted, CaseResolutionProposed):
                assert case.state is not State.CLOSED
            if model in (CaseTransferred,):
                assert case.level is before.level
            if model in (CaseAwaitingCustomer,):
                assert case.state is State.AWAITING_CUSTOMER
            if model in (CaseCustomerResponded,):
                assert before.state is State.AWAITING_CUSTOMER
        if case.state is State.CLOSED and before.state is not State.CLOSED:
            assert types(outcome)[-1] == "case.closed"
    assert refusals <= {"not_holder", "case_closed", "invalid_transition"}


@settings(max_examples=200, deadline=None)
@given(st.lists(inputs, max_size=20))
def test_redelivering_a_trigger_moves_nothing(story: list[tuple[Any, ...]]) -> None:
    """Replaying any climb trigger (same ref) right after itself never produces a second escalation.

    (A repeat contact is keyed by the level it arrived at, so a later one at the next level may climb again.)"""
    case = new_case(hint="BJ-CY-01", area=CHAOYANG)
    for number, item in enumerate(story):
        try:
            outcome = apply(case, item, number)
        except Refusal:
            continue
        case = outcome.case
        if item[0] in ("breach", "climb", "reopen"):
            try:
                replay = apply(case, item, number)
            except Refusal:
                continue
            assert all(model is not CaseEscalated for model, _ in replay.emits) or (
                item[0] == "climb" and item[1] == "transfer"
            )
            case = replay.case


@settings(max_examples=100, deadline=None)
@given(st.lists(inputs, max_size=20))
def test_the_same_story_always_ends_the_same_way(story: list[tuple[Any, ...]]) -> None:
    """No hidden clock or ordering: replaying a story (as after a restore) yields the same case and events."""
    start = new_case(hint="BJ-CY-01", area=CHAOYANG)

    def replay() -> tuple[dict[str, Any], list[Any]]:
        case, emitted = start, []
        for number, item in enumerate(story):
            try:
                outcome = apply(case, item, number)
            except Refusal as refused:
                emitted.append(refused.code)
                continue
            case = outcome.case
            emitted += [(model.event_type(), payload.model_dump()) for model, payload in outcome.emits]
        return case.to_doc(), emitted

    assert replay() == replay()


def test_station_free_text_is_scrubbed_before_it_travels() -> None:
    case = new_case()
    update_with_phone = base_update(case.case_id, case.holder).model_copy(update={"note": "已联系客户 13812345678"})
    noted = station_action(case, Action.NOTE_PROGRESS, update_with_phone, D)
    assert noted.emits[0][1].note == "已联系客户 138****5678"  # type: ignore[attr-defined]
    report = Report(
        result=ResolutionResult.UNRESOLVED, reason="客户身份证 110101199003071234 不符", solution="x@example.com"
    )
    closed = station_action(noted.case, Action.RESOLVE, base_update(case.case_id, case.holder), D, report)
    resolved = closed.emits[0][1]
    assert "110101199003071234" not in resolved.reason  # type: ignore[attr-defined]
    assert "x@example.com" not in resolved.solution  # type: ignore[attr-defined]
    rejected = climb(case, D, Trigger(EscalationTrigger.STATION_REJECTION, "r1", "call 13812345678 back"), NOW)
    assert "13812345678" not in rejected.emits[0][1].reason  # type: ignore[attr-defined]
    assert "13812345678" not in str(rejected.case.history)
