"""Closes and contacts after closure: intake's copy of "is this case closed?" and how it is reconciled.

routing owns a case's state; intake learns a close from routing's case.resolved / case.closed, later than it
happened. A contact intake merged into a case routing had already closed comes back from routing as
case.contact_after_closure (routing's view is final), and intake turns it into a reopening (within the
window), a follow-up case linked to the closed one (after it), or, when another contact has reopened the
case since, a repeat contact on the reopened case. It is never absorbed.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from caseflow_contracts.cases import CaseContactAfterClosurePayload
from caseflow_contracts.errors import Refusal
from caseflow_contracts.stations import ResolutionResult

from ..rules import IntakeRules
from .case import (
    CaseDraft,
    Change,
    ClaimHistory,
    Emit,
    FollowUp,
    IntakeCase,
    Joining,
    Status,
    counted,
    draft_case,
    merge,
    open_case,
    reopen,
)
from .inputs import from_contact
from .privacy import Privacy
from .reference import Reference, within_window


def known(case: IntakeCase | None, case_id: str) -> IntakeCase:
    if case is None:
        raise Refusal("unknown_case", f"intake holds no case {case_id}")
    return case


def ends_case(result: ResolutionResult) -> bool:
    """A resolution ends the case unless it is pending (the station still works on it)."""
    return result is not ResolutionResult.PENDING


def close(case: IntakeCase, ref: Reference, at: datetime, station: str | None) -> Change:
    """routing ended the case at `at`: later contacts reopen it (within the window) or open a linked case.

    A close stamped at or before the start of the current episode (the close a reopening ended, or the contact
    that reopened it) ended an earlier episode, and a second close event of one close changes nothing.
    """
    if not _closed(case, at, station):
        return Change()
    ref.case_closed(case.case_id, case.problem, at)
    return Change(cases=[case], refs=[ref])


def _closed(case: IntakeCase, at: datetime, station: str | None) -> bool:
    if case.status is Status.CLOSED or (case.episode_from is not None and at <= case.episode_from):
        return False
    case.status, case.closed_at = Status.CLOSED, at
    case.station = station or case.station
    return True


def recall(
    followup: FollowUp | None,
    notice: CaseContactAfterClosurePayload,
    *,
    rules: IntakeRules,
    privacy: Privacy,
    now: datetime,
) -> tuple[FollowUp, CaseDraft]:
    """The merged contact routing speaks of, and the follow-up case it would open."""
    if followup is None:
        raise Refusal(
            "unknown_contact",
            f"intake merged no customer contact {notice.source_event_id} into {notice.case_id}: nothing to reopen",
        )
    contact = from_contact(privacy.open_contact(followup.contact), rules, arrived=followup.at)
    return followup, draft_case(contact, rules=rules, privacy=privacy, now=now, linked=notice.case_id)


def after_closure(
    case: IntakeCase,
    ref: Reference,
    notice: CaseContactAfterClosurePayload,
    *,
    followup: FollowUp,
    draft: CaseDraft,
    claims: ClaimHistory | None,
    cause: str,
    rules: IntakeRules,
    now: datetime,
) -> Change:
    """routing applied a merged contact to a case it had closed: the contact is a contact after closure.

    The window is judged on event times: when the customer made the contact (the merge's contact_at, which
    intake stamped) against when routing closed the case (its closed_at), so a contact that crossed the close
    (made before it) always reopens. `cause` (routing's event id) keys what this causes: a redelivery changes
    nothing, a later crossing of the same contact is a new one.
    """
    contact_at = notice.contact_at or followup.at
    joining = Joining.of_draft(draft, notice.source_event_id, contact_at)
    case.station = notice.station
    basis = (case.case_id, "after-closure", cause)
    entry = replace(draft.entry, at=now, received_at=contact_at)
    if case.status is Status.OPEN and case.reopened_from is not None and case.reopened_from >= notice.closed_at:
        # Another contact reopened the case from this close meanwhile: this one joins the reopened episode.
        payload = merge(case, joining, now, rules, merged_from=followup.priority_before)
        case.history.append(replace(entry, action="rejoined"))
        return Change(emits=[Emit(payload, basis)], cases=[case], refs=[ref], reopening=counted(case, "rejoined"))
    if case.status is Status.OPEN:
        # routing's close never made it into intake's copy (judged stale): routing's view is final.
        case.status, case.closed_at = Status.CLOSED, notice.closed_at
        ref.case_closed(case.case_id, case.problem, notice.closed_at)
    if within_window(contact_at, notice.closed_at, rules):
        reopened = reopen(case, joining, notice.closed_at, now, rules, merged_from=followup.priority_before)
        case.history.append(replace(entry, action="reopened"))
        ref.case_reopened(case.case_id, case.problem, now)
        return Change(emits=[Emit(reopened, basis)], cases=[case], refs=[ref], reopening=counted(case, "reopened"))
    change = open_case(draft, ref, claims, source_key=followup.source_key, rules=rules, now=now)
    change.cases.append(case)
    change.reopening = counted(case, "follow_up")
    return change
