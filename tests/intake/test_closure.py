"""Closes, contacts after closure and satisfaction answers: the pure rules (issue 20: whose view is final)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from caseflow_contracts.cases import (
    CaseContactAfterClosurePayload,
    CaseMergedPayload,
    CaseOpenedPayload,
    CaseReopenedPayload,
    CaseSatisfactionRecordedPayload,
)
from caseflow_contracts.common import CaseKind, Channel, Priority
from caseflow_contracts.errors import Refusal
from caseflow_contracts.upstream import SatisfactionAnswerPayload
from caseflow_intake.domain import answers, closure
from caseflow_intake.domain.case import Change, FollowUp, IntakeCase, Status, draft_case, join
from caseflow_intake.domain.reference import Action, Decision, Reference
from caseflow_intake.rules import IntakeRules

from .factories import NOW, PRIVACY, RULES, incoming, intake_case

H = timedelta(hours=1)
WINDOW = timedelta(hours=RULES.reopen_window_hours)


def merged_contact(case: IntakeCase, ref: Reference, at: datetime, source_id: str = "CT1") -> FollowUp:
    """A customer contact made at `at`, merged into the (open, in intake's view) case: its follow-up draft."""
    item = incoming(CaseKind.DELAY, at=at, source_id=source_id, text="还没到，我要投诉")
    change = join(case, item, ref, Decision(Action.MERGE, case.case_id), rules=RULES, privacy=PRIVACY, now=at)
    [followup] = change.followups
    return followup


def story() -> tuple[IntakeCase, Reference]:
    case = intake_case(priority=Priority.NORMAL, contacts=0)
    ref = Reference(case.ref)
    ref.case_opened(case.case_id, case.problem, NOW)
    return case, ref


def notice(
    case: IntakeCase, closed_at: datetime, contact_at: datetime | None, source_id: str = "CT1"
) -> CaseContactAfterClosurePayload:
    return CaseContactAfterClosurePayload(
        case_id=case.case_id,
        source_event_id=source_id,
        station="BJ-CY-07",
        closed_at=closed_at,
        contact_at=contact_at,
        at=closed_at + H,
    )


def after(
    case: IntakeCase,
    ref: Reference,
    n: CaseContactAfterClosurePayload,
    kept: FollowUp | None,
    rules: IntakeRules = RULES,
) -> Change:
    """intake's answer to routing's notice, as its handler asks the domain for it."""
    followup, draft = closure.recall(kept, n, rules=rules, privacy=PRIVACY, now=n.at)
    return closure.after_closure(
        case, ref, n, followup=followup, draft=draft, claims=None, cause="EV-1", rules=rules, now=n.at
    )


def test_a_contact_that_crossed_the_close_reopens_the_case() -> None:
    case, ref = story()
    followup = merged_contact(case, ref, NOW + 2 * H)  # intake merged it: the case was open in its view
    closure.close(case, ref, NOW + 3 * H, "BJ-CY-07")  # routing's close reaches intake after it
    assert case.status is Status.CLOSED
    change = after(case, ref, notice(case, NOW + 1 * H, NOW + 2 * H), followup)  # routing had closed it at 1 h
    [emit] = change.emits
    assert isinstance(emit.payload, CaseReopenedPayload)
    assert emit.payload.source_event_id == "CT1"
    assert emit.payload.reopen_count == 1
    # As if intake had known the close: the delay case (normal) raised once, the contact counted once.
    assert emit.payload.priority is Priority.HIGH
    assert (case.contacts, case.repeat_contacts) == (1, 0)
    assert emit.basis == (case.case_id, "after-closure", "EV-1")
    assert case.status is Status.OPEN
    assert [c.case_id for c in ref.open] == [case.case_id]
    assert ref.closed == []
    assert change.reopening is not None
    assert (change.reopening.outcome, change.reopening.station) == ("reopened", "BJ-CY-07")
    assert case.history[-1].action == "reopened"


def test_a_contact_in_the_window_after_the_close_reopens_and_after_it_opens_a_linked_case() -> None:
    case, ref = story()
    closed = NOW + H
    followup = merged_contact(case, ref, closed + WINDOW)
    change = after(case, ref, notice(case, closed, closed + WINDOW), followup)
    assert [type(e.payload) for e in change.emits] == [CaseReopenedPayload]

    case, ref = story()
    followup = merged_contact(case, ref, closed + WINDOW + timedelta(seconds=1))
    change = after(case, ref, notice(case, closed, closed + WINDOW + timedelta(seconds=1)), followup)
    [emit] = change.emits
    assert isinstance(emit.payload, CaseOpenedPayload)
    assert emit.payload.linked_case_id == case.case_id
    assert emit.payload.case_id != case.case_id
    assert emit.payload.summary == "还没到，我要投诉"  # the contact's own words, from its sealed copy
    assert emit.payload.opened_at == closed + H  # when intake opened it
    assert [c.case_id for c in ref.open] == [emit.payload.case_id]
    assert [c.case_id for c in ref.closed] == [case.case_id]
    assert case.status is Status.CLOSED
    assert change.reopening is not None
    assert change.reopening.outcome == "follow_up"


def test_a_contact_after_another_reopened_the_case_joins_that_episode() -> None:
    case, ref = story()
    followup = merged_contact(case, ref, NOW + 2 * H)
    closure.close(case, ref, NOW + 1 * H, None)
    # A second contact, taken in after the close, reopened the case (intake's own view).
    later = incoming(CaseKind.DELAY, at=NOW + 3 * H, source_id="CT2")
    join(case, later, ref, Decision(Action.REOPEN, case.case_id), rules=RULES, privacy=PRIVACY, now=NOW + 3 * H)
    change = after(case, ref, notice(case, NOW + 1 * H, NOW + 2 * H), followup)
    [emit] = change.emits
    assert isinstance(emit.payload, CaseMergedPayload)
    assert emit.payload.repeat_contact
    assert emit.payload.contact_at == NOW + 2 * H
    assert case.reopen_count == 1  # not reopened twice
    assert (case.contacts, case.repeat_contacts) == (2, 1)  # each contact counted once
    assert emit.payload.priority is Priority.HIGH  # raised once for the reopening, never lowered
    assert change.reopening is not None
    assert change.reopening.outcome == "rejoined"


def test_a_close_intake_never_applied_is_applied_from_routings_word() -> None:
    """intake judged routing's close stale (a station clock behind): routing's view is final."""
    case, ref = story()
    followup = merged_contact(case, ref, NOW + 2 * H)
    change = after(case, ref, notice(case, NOW + 1 * H, NOW + 2 * H), followup)
    assert [type(e.payload) for e in change.emits] == [CaseReopenedPayload]
    assert case.reopened_from == NOW + 1 * H


def test_a_notice_about_no_merged_contact_or_no_case_is_refused() -> None:
    case, ref = story()
    with pytest.raises(Refusal) as refused:
        after(case, ref, notice(case, NOW, NOW), None)
    assert refused.value.code == "unknown_contact"
    with pytest.raises(Refusal) as unknown:
        closure.known(None, "CF-20260110NOSUCHCASE")
    assert unknown.value.code == "unknown_case"


def test_closes_of_an_earlier_episode_and_second_close_events_change_nothing() -> None:
    case, ref = story()
    assert closure.close(case, ref, NOW + H, "BJ-CY-07").cases == [case]
    assert closure.close(case, ref, NOW + H, None) == Change()  # case.closed after case.resolved: one close
    assert case.station == "BJ-CY-07"
    contact = incoming(CaseKind.DELAY, at=NOW + 5 * H)
    join(case, contact, ref, Decision(Action.REOPEN, case.case_id), rules=RULES, privacy=PRIVACY, now=NOW + 6 * H)
    assert closure.close(case, ref, NOW + 2 * H, None) == Change()  # ended the episode before the reopening
    assert case.status is Status.OPEN
    assert closure.close(case, ref, NOW + 7 * H, None).cases == [case]
    assert case.status is Status.CLOSED


@given(
    contact_offset_h=st.integers(min_value=-48, max_value=400),
    window_h=st.integers(min_value=0, max_value=300),
    intake_saw_close=st.booleans(),
    reopened_since=st.booleans(),
)
def test_a_contact_after_closure_is_never_absorbed(
    contact_offset_h: int, window_h: int, intake_saw_close: bool, reopened_since: bool
) -> None:
    """Whatever the timing and intake's view, routing's notice causes exactly one event about the contact."""
    rules = RULES.model_copy(update={"reopen_window_hours": window_h})
    closed = NOW + 24 * H
    contact_at = closed + contact_offset_h * H
    case, ref = story()
    followup = merged_contact(case, ref, contact_at)
    if intake_saw_close:
        closure.close(case, ref, closed, "BJ-CY-07")
        if reopened_since:
            other = incoming(CaseKind.DELAY, at=closed + H, source_id="CT2")
            join(case, other, ref, Decision(Action.REOPEN, case.case_id), rules=rules, privacy=PRIVACY, now=closed + H)
    change = after(case, ref, notice(case, closed, contact_at), followup, rules)
    [emit] = change.emits
    assert change.reopening is not None
    expected = (
        "rejoined"
        if intake_saw_close and reopened_since
        else "reopened"
        if contact_offset_h <= window_h
        else "follow_up"
    )
    assert change.reopening.outcome == expected
    kinds = {"rejoined": CaseMergedPayload, "reopened": CaseReopenedPayload, "follow_up": CaseOpenedPayload}
    assert isinstance(emit.payload, kinds[expected])
    assert case in change.cases


def answer(case_id: str, source_id: str = "SV1", comment: str = "") -> SatisfactionAnswerPayload:
    return SatisfactionAnswerPayload(
        source_system="sms",
        source_id=source_id,
        channel=Channel.PHONE,
        case_id=case_id,
        score=4,
        comment=comment,
        answered_at=NOW + H,
    )


def test_a_satisfaction_answer_lands_once_with_its_comment_scrubbed() -> None:
    item = incoming(CaseKind.DELAY)  # the customer 王小明, 13812345678
    draft = draft_case(item, rules=RULES, privacy=PRIVACY, now=NOW)
    case = IntakeCase(draft.payload, draft.problem, draft.ref, draft.payload.priority, 1, [draft.entry])
    said = answer(case.case_id, comment="王小明很满意，电话13812345678，身份证320102198801011234")
    change = answers.record_answer(case, said, privacy=PRIVACY, now=NOW + 2 * H, arrived=NOW + 2 * H)
    [emit] = change.emits
    assert isinstance(emit.payload, CaseSatisfactionRecordedPayload)
    assert emit.payload.score == 4
    assert emit.payload.answered_at == NOW + H
    for secret in ("王小明", "13812345678", "320102198801011234"):
        assert secret not in emit.payload.comment
    assert "138****5678" in emit.payload.comment
    assert case.history[-1].score == 4
    again = answers.record_answer(case, said, privacy=PRIVACY, now=NOW + 3 * H, arrived=NOW + 3 * H)
    assert again == Change()
    other = answers.record_answer(case, answer(case.case_id, "SV2"), privacy=PRIVACY, now=NOW, arrived=NOW)
    assert len(other.emits) == 1


def test_an_answer_about_an_unknown_case_is_refused() -> None:
    with pytest.raises(Refusal) as refused:
        answers.record_answer(None, answer("CF-20260110NOSUCHCASE"), privacy=PRIVACY, now=NOW, arrived=NOW)
    assert refused.value.code == "unknown_case"
