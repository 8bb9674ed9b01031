"""The ladder: the first assignment, oversight stacked above the station that keeps its case, breaches and
their withdrawal, contacts (after closure too) and reopenings."""

from __future__ import annotations

from datetime import timedelta

import pytest

from caseflow_contracts.cases import (
    CaseContactAfterClosurePayload,
    CaseCustomerResponded,
    CaseEscalated,
    CaseEscalatedPayload,
    EscalationTrigger,
)
from caseflow_contracts.common import Channel, LadderLevel
from caseflow_contracts.sla import SlaMetric
from caseflow_contracts.stations import ProgressPayload, ResolutionResult, ResolvedPayload
from caseflow_routing.domain.case import CaseFile, Trigger
from caseflow_routing.domain.decision import RoutingRequest, decide
from caseflow_routing.domain.ladder import (
    breach_withdrawn,
    escalate,
    merged,
    open_case,
    reassign,
    reopened,
    sla_breached,
)
from caseflow_routing.domain.stations import progress_noted, resolved
from caseflow_routing.domain.workflow import State

from .factories import (
    NOW,
    PUDONG,
    D,
    breach,
    clock_payload,
    facts,
    new_case,
    opened,
    types,
    update,
    withdrawal,
)
from .factories import (
    merged as merged_event,
)
from .factories import (
    reopened as reopened_event,
)

LATER = NOW + timedelta(hours=3)


def test_opening_emits_the_first_assignment_with_its_reason_and_no_supervisor() -> None:
    p = opened(hint="BJ-CY-01", area=PUDONG).payload
    outcome = open_case(p, decide(RoutingRequest.of(p, NOW), D, {}), NOW)
    [(model, payload)] = outcome.emits
    assert model is CaseEscalated
    assert isinstance(payload, CaseEscalatedPayload)
    assert (payload.holder, payload.level, payload.trigger, payload.supervisor) == (
        "SH-PD-01",
        "station",
        "initial_assignment",
        None,
    )
    assert "超区" in payload.reason
    assert [h.action for h in outcome.case.history] == ["transferred", "assigned"]
    assert outcome.case.history[0].details["from_station"] == "BJ-CY-01"


def _breach(case: CaseFile, level: LadderLevel, station: str | None, metric: SlaMetric = SlaMetric.CALLBACK) -> object:
    return sla_breached(case, clock_payload(case.case_id, level, station, metric), facts(f"b-{metric}-{level}"))


def test_breaches_add_oversight_one_level_each_and_the_station_keeps_its_case() -> None:
    case = new_case()
    first = sla_breached(case, clock_payload(case.case_id, LadderLevel.STATION, "BJ-HD-01"), facts("b1"))
    assert (first.case.holder, first.case.level, first.case.supervisor) == ("BJ-HD-01", LadderLevel.HUB, "HUB-BJ")
    [(_, escalated)] = first.emits
    assert isinstance(escalated, CaseEscalatedPayload)
    assert (escalated.holder, escalated.level, escalated.supervisor, escalated.previous_level) == (
        "BJ-HD-01",
        LadderLevel.HUB,
        "HUB-BJ",
        LadderLevel.STATION,
    )
    assert (escalated.trigger, escalated.trigger_ref) == (EscalationTrigger.SLA_BREACH, "callback:station")
    # The same breach again (a new event id) adds nothing.
    again = sla_breached(first.case, clock_payload(case.case_id, LadderLevel.STATION, "BJ-HD-01"), facts("b1-again"))
    assert again.emits == []
    assert "already applied" in again.note
    # The supervisor missed its follow-up: one more level. The resolution clock: one more. At HQ: the top.
    hub = sla_breached(
        first.case,
        clock_payload(case.case_id, LadderLevel.HUB, "HUB-BJ", SlaMetric.ESCALATION_FOLLOW_UP),
        facts("b2"),
    )
    assert (hub.case.holder, hub.case.supervisor) == ("BJ-HD-01", "RC-NORTH")
    resolution = sla_breached(
        hub.case, clock_payload(case.case_id, LadderLevel.STATION, "BJ-HD-01", SlaMetric.RESOLUTION), facts("b3")
    )
    assert (resolution.case.holder, resolution.case.level) == ("BJ-HD-01", LadderLevel.HQ)
    top = sla_breached(
        resolution.case,
        clock_payload(case.case_id, LadderLevel.HQ, "HQ-CS", SlaMetric.ESCALATION_FOLLOW_UP),
        facts("b4"),
    )
    assert top.emits == []
    assert top.case.history[-1].action == "escalation_at_top"
    assert [s.supervisor for s in top.case.oversight] == ["HUB-BJ", "RC-NORTH", "HQ-CS"]


@pytest.mark.parametrize(
    ("station", "why"),
    [("BJ-CY-01", "another station's clock"), ("RC-NORTH", "a unit that does not supervise the case")],
)
def test_a_breach_of_a_unit_with_no_part_in_the_case_is_stale(station: str, why: str) -> None:
    case = new_case()
    outcome = sla_breached(case, clock_payload(case.case_id, LadderLevel.STATION, station), facts())
    assert outcome.emits == [], why
    assert "stale" in outcome.note


def test_a_breach_of_the_assignment_before_hqs_reassignment_is_stale() -> None:
    case = new_case().copy()
    reassign(case, D, "BJ-CY-01", reason="wrong station", decided_by="HQ-CS", now=NOW + timedelta(minutes=30))
    old_clock = clock_payload(case.case_id, LadderLevel.STATION, None, started_at=NOW)
    assert "stale" in sla_breached(case, old_clock, facts()).note
    new_clock = clock_payload(case.case_id, LadderLevel.STATION, "BJ-CY-01", started_at=NOW + timedelta(minutes=30))
    assert types(sla_breached(case, new_clock, facts())) == ["case.escalated"]


def test_a_breach_after_the_case_closed_changes_nothing() -> None:
    case = new_case()
    closed = resolved(
        case, ResolvedPayload(**update(case.case_id, case.holder), result=ResolutionResult.RESOLVED), facts()
    )
    outcome = sla_breached(closed.case, clock_payload(case.case_id, LadderLevel.STATION, case.holder), facts())
    assert (outcome.emits, outcome.note) == ([], "breach after the case closed")


def test_the_same_trigger_never_escalates_twice() -> None:
    case = new_case()
    cause = Trigger(EscalationTrigger.EXPLICIT_REQUEST, "evt-1", "asked")
    once = escalate(case, D, cause, NOW)
    twice = escalate(once.case, D, cause, NOW)
    assert once.case.supervisor == twice.case.supervisor == "HUB-BJ"
    assert twice.emits == []


# -- withdrawn breaches ----------------------------------------------------------------------------------------


def test_a_withdrawn_breach_takes_back_the_oversight_it_added() -> None:
    case = new_case()
    breached = breach(case.case_id, LadderLevel.STATION, "BJ-HD-01")
    up = sla_breached(case, breached.payload, facts(breached.event_id))
    assert up.case.supervisor == "HUB-BJ"
    back = breach_withdrawn(up.case, withdrawal(breached, stopped_at=NOW).payload, facts("w1"))
    assert (back.case.holder, back.case.level, back.case.supervisor) == ("BJ-HD-01", LadderLevel.STATION, None)
    assert back.emits == []  # the history entry and the metric say it: no case.escalated downwards
    assert back.tags == ["escalation_withdrawn"]
    assert back.case.history[-1].action == "escalation_withdrawn"
    assert back.case.breaches[0].withdrawn is True


def test_a_withdrawn_breach_keeps_the_oversight_another_trigger_added_since() -> None:
    case = new_case()
    breached = breach(case.case_id, LadderLevel.STATION, "BJ-HD-01")
    up = sla_breached(case, breached.payload, facts(breached.event_id))
    again = merged(up.case, merged_event(case.case_id).payload, facts("contact"))  # the customer calls: one more
    assert again.case.supervisor == "RC-NORTH"
    kept = breach_withdrawn(again.case, withdrawal(breached, stopped_at=NOW).payload, facts("w1"))
    assert [s.supervisor for s in kept.case.oversight] == ["HUB-BJ", "RC-NORTH"]
    assert kept.case.history[-1].details["kept"] == "oversight added since stays"


def test_withdrawing_a_breach_routing_never_applied_is_recorded_and_changes_nothing_else() -> None:
    case = new_case()
    stale = breach(case.case_id, LadderLevel.STATION, "BJ-CY-01")
    outcome = breach_withdrawn(case, withdrawal(stale, stopped_at=NOW).payload, facts("w1"))
    assert (outcome.case.oversight, outcome.emits) == ([], [])
    assert outcome.case.history[-1].details == {"breach": stale.event_id, "applied": False}


# -- customers -------------------------------------------------------------------------------------------------


def _closed(case: CaseFile) -> CaseFile:
    done = ResolvedPayload(**update(case.case_id, case.holder), result=ResolutionResult.RESOLVED, solution="已改派")
    return resolved(case, done, facts(received_at=NOW + timedelta(hours=1))).case


def test_a_contact_on_a_closed_case_comes_back_as_a_contact_after_closure() -> None:
    closed = _closed(new_case())
    contact = merged_event(closed.case_id, at=NOW + timedelta(minutes=50))  # made before the close, applied after
    outcome = merged(closed, contact.payload, facts("m1", received_at=LATER))
    assert outcome.case.state is State.CLOSED  # routing does not reopen: intake decides, within its window
    [(_, after)] = outcome.emits
    assert isinstance(after, CaseContactAfterClosurePayload)
    assert (after.station, after.closed_at, after.contact_at, after.at) == (
        "BJ-HD-01",
        NOW + timedelta(hours=1),
        NOW + timedelta(minutes=50),
        LATER,
    )
    assert after.source_event_id == contact.payload.source_event_id
    assert outcome.tags == ["contact_after_closure"]


def test_a_parcel_exception_on_a_closed_case_is_recorded_without_a_contact_after_closure() -> None:
    closed = _closed(new_case())
    outcome = merged(closed, merged_event(closed.case_id, channel=Channel.UPSTREAM).payload, facts())
    assert outcome.emits == []
    assert outcome.case.history[-1].action == "exception_after_closure"


def test_a_contact_while_the_case_waits_on_the_customer_is_their_answer() -> None:
    case = new_case()
    waiting = progress_noted(
        case, ProgressPayload(**update(case.case_id, case.holder), awaiting_customer=True), facts()
    )
    contact = merged_event(case.case_id, at=NOW + timedelta(minutes=20))
    outcome = merged(waiting.case, contact.payload, facts(received_at=LATER))
    assert outcome.case.state is State.IN_PROGRESS
    assert outcome.case.oversight == []  # an answer, not a repeat contact
    [(model, answered)] = outcome.emits
    assert model is CaseCustomerResponded
    assert answered.at == NOW + timedelta(minutes=20)  # type: ignore[attr-defined]  # when the customer answered


def test_repeat_contacts_add_one_level_per_level() -> None:
    case = new_case()
    first = merged(case, merged_event(case.case_id).payload, facts("c1"))
    second = merged(first.case, merged_event(case.case_id).payload, facts("c2"))
    assert [s.supervisor for s in second.case.oversight] == ["HUB-BJ", "RC-NORTH"]
    assert second.case.holder == "BJ-HD-01"
    not_repeat = merged(case, merged_event(case.case_id, repeat=False).payload, facts("c3"))
    assert (not_repeat.emits, not_repeat.note) == ([], "not a repeat contact")


def test_a_reopened_case_goes_back_to_its_station_with_one_more_level_and_fresh_clocks() -> None:
    case = new_case()
    up = _breach(case, LadderLevel.STATION, "BJ-HD-01")
    closed = _closed(up.case)  # type: ignore[attr-defined]
    outcome = reopened(closed, reopened_event(case.case_id).payload, facts(received_at=LATER))
    reopened_case = outcome.case
    assert (reopened_case.state, reopened_case.holder, reopened_case.supervisor) == (
        State.ASSIGNED,
        "BJ-HD-01",
        "RC-NORTH",
    )
    assert (reopened_case.assigned_at, reopened_case.breaches, reopened_case.reopen_count) == (LATER, [], 1)
    [(_, escalated)] = outcome.emits
    assert isinstance(escalated, CaseEscalatedPayload)
    assert (escalated.trigger, escalated.trigger_ref, escalated.holder) == ("reopened", "reopen-1", "BJ-HD-01")
    # A second reopening event for a case that is open again changes nothing.
    assert reopened(reopened_case, reopened_event(case.case_id).payload, facts()).emits == []


def test_a_reopened_case_under_hq_already_starts_again_under_hq() -> None:
    case = new_case()
    for level in ("a", "b", "c"):
        case = escalate(case, D, Trigger(EscalationTrigger.EXPLICIT_REQUEST, level, "asked"), NOW).case
    assert case.supervisor == "HQ-CS"
    outcome = reopened(_closed(case), reopened_event(case.case_id).payload, facts(received_at=LATER))
    [(_, escalated)] = outcome.emits
    assert isinstance(escalated, CaseEscalatedPayload)
    assert (escalated.holder, escalated.level, escalated.supervisor) == ("BJ-HD-01", LadderLevel.HQ, "HQ-CS")
