"""Who holds a case and who watches over it: the first assignment, oversight added up the ladder (and taken
back when sla withdraws the breach that added it), HQ's reassignment, customers' contacts and reopenings."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from caseflow_contracts.cases import (
    CaseContactAfterClosure,
    CaseContactAfterClosurePayload,
    CaseCustomerResponded,
    CaseEscalated,
    CaseEscalatedPayload,
    CaseMergedPayload,
    CaseOpenedPayload,
    CaseReopenedPayload,
    CaseStationActionPayload,
    CaseTransferred,
    CaseTransferredPayload,
    EscalationTrigger,
)
from caseflow_contracts.common import Channel, LadderLevel
from caseflow_contracts.errors import Refusal
from caseflow_contracts.sla import SlaBreachWithdrawnPayload, SlaClockPayload

from .case import BreachSeen, CaseFile, Emit, Facts, Outcome, Oversight, Trigger
from .decision import Decision, climb_target
from .directory import StationDirectory
from .workflow import Action, State, step


def open_case(payload: CaseOpenedPayload, decision: Decision, now: datetime) -> Outcome:
    """The first assignment: the holder the decision found, no supervisor."""
    case = CaseFile(
        case_id=payload.case_id,
        kind=payload.kind,
        priority=payload.priority,
        channel=payload.channel,
        holder=decision.holder,
        holder_level=decision.level,
        state=State.ASSIGNED,
        opened_at=payload.opened_at,
        assigned_at=now,
        area=payload.area,
    )
    case.triggers.append(case.trigger_key(EscalationTrigger.INITIAL_ASSIGNMENT, case.case_id))
    if decision.transferred_from is not None:
        case.record(now, "transferred", from_station=decision.transferred_from, reason="out of area (超区)")
    case.record(now, "assigned", trigger=EscalationTrigger.INITIAL_ASSIGNMENT.value, reason=decision.reason)
    cause = Trigger(EscalationTrigger.INITIAL_ASSIGNMENT, case.case_id, decision.reason)
    return Outcome(case, [_escalated(case, cause, decision.reason, None, now)])


def escalate(case: CaseFile, directory: StationDirectory, cause: Trigger, now: datetime) -> Outcome:
    """Add the next level of oversight for this trigger: at most once per trigger and epoch, never past HQ."""
    case = case.copy()
    key = case.trigger_key(cause.kind, cause.ref)
    if key in case.triggers:
        return Outcome(case, note=f"trigger {key} already applied")
    moved = step(case.state, Action.ESCALATE)
    if moved.outcome != "move":
        return Outcome(case, note=moved.reason)
    case.triggers.append(key)
    return add_oversight(case, directory, cause, key, now)


def add_oversight(case: CaseFile, directory: StationDirectory, cause: Trigger, key: str, now: datetime) -> Outcome:
    """One level more above the holder (on a case this operation already copied); the holder keeps the case."""
    target, route = climb_target(directory, case.supervisor or case.holder)
    reason = f"{cause.why}; {route}"
    if target is None:
        case.record(now, "escalation_at_top", trigger=cause.kind.value, trigger_ref=cause.ref, reason=reason)
        return Outcome(case, note=route)
    previous = case.level
    case.oversight.append(Oversight(directory.level(target), target, key, now))
    case.record(now, "escalated", trigger=cause.kind.value, trigger_ref=cause.ref, reason=reason, supervisor=target)
    return Outcome(case, [_escalated(case, cause, reason, previous, now)], tags=["escalated"])


def _escalated(case: CaseFile, cause: Trigger, reason: str, previous: LadderLevel | None, now: datetime) -> Emit:
    return CaseEscalated, CaseEscalatedPayload(
        case_id=case.case_id,
        holder=case.holder,
        level=case.level,
        supervisor=case.supervisor,
        previous_level=previous,
        trigger=cause.kind,
        trigger_ref=cause.ref[:128],
        reason=reason[:4000],
        kind=case.kind,
        priority=case.priority,
        channel=case.channel,
        escalated_at=now,
    )


def reassign(
    case: CaseFile, directory: StationDirectory, to: str, *, reason: str, decided_by: str, now: datetime
) -> Emit:
    """HQ gives the case (already copied) to another station: it starts afresh, without oversight."""
    moved = step(case.state, Action.REASSIGN)
    if moved.outcome == "refuse":
        raise Refusal("case_closed", moved.reason)
    previous = case.holder
    case.oversight = []
    case.start_afresh(to, directory.level(to), now)
    case.state = moved.state
    case.record(now, "transferred", from_station=previous, reason=reason, decided_by=decided_by)
    return CaseTransferred, CaseTransferredPayload(
        case_id=case.case_id,
        from_station=previous,
        to_station=to,
        level=case.level,
        reason=reason[:4000],
        kind=case.kind,
        priority=case.priority,
        channel=case.channel,
        transferred_at=now,
        decided_by=decided_by,
    )


# -- sla's breaches --------------------------------------------------------------------------------------------


def sla_breached(case: CaseFile, breach: SlaClockPayload, facts: Facts) -> Outcome:
    """A breach of the holder's or a supervisor's clock adds a level; one of an earlier assignment is stale."""
    if case.state is State.CLOSED:
        return Outcome(case, note="breach after the case closed")
    earlier = case.epoch > 0 and breach.started_at < case.assigned_at
    elsewhere = breach.station is not None and breach.station != case.holder and not case.supervises(breach.station)
    if earlier or elsewhere:
        return Outcome(case, note=f"stale breach: the case is with {case.holder} at {case.level} now")
    seen = BreachSeen(breach.metric.value, breach.level, breach.deadline_at, facts.event_id)
    if any(b.ref == seen.ref for b in case.breaches):
        return Outcome(case, note=f"breach {seen.ref} already applied")
    case = case.copy()
    case.breaches.append(seen)
    why = f"SLA {breach.metric} breached at {breach.level} ({breach.elapsed_seconds}s of {breach.target_seconds}s)"
    return escalate(case, facts.directory, Trigger(EscalationTrigger.SLA_BREACH, seen.ref, why), facts.now)


def breach_withdrawn(case: CaseFile, withdrawal: SlaBreachWithdrawnPayload, facts: Facts) -> Outcome:
    """sla disproved a breach: the oversight it added goes, unless another trigger added oversight since."""
    seen = next((b for b in case.breaches if b.event_id == withdrawal.breach_event_id), None)
    case = case.copy()
    if seen is None or seen.withdrawn:
        case.record(facts.now, "breach_withdrawn", breach=withdrawal.breach_event_id, applied=False)
        return Outcome(case, note="a breach that added no oversight here")
    case.breaches = [replace(b, withdrawn=True) if b is seen else b for b in case.breaches]
    key = case.trigger_key(EscalationTrigger.SLA_BREACH, seen.ref)
    if case.oversight and case.oversight[-1].trigger_key == key:
        undone = case.oversight.pop()
        case.record(
            facts.now, "escalation_withdrawn", breach=seen.ref, supervisor=undone.supervisor, reason=withdrawal.reason
        )
        return Outcome(case, tags=["escalation_withdrawn"])
    kept = "oversight added since stays" if any(s.trigger_key == key for s in case.oversight) else "it added none"
    case.record(facts.now, "breach_withdrawn", breach=seen.ref, applied=True, kept=kept, reason=withdrawal.reason)
    return Outcome(case, note=kept, tags=["breach_withdrawn_kept"])


# -- customers -------------------------------------------------------------------------------------------------


def merged(case: CaseFile, contact: CaseMergedPayload, facts: Facts) -> Outcome:
    """A contact intake merged: after the close it comes back to intake as a contact after closure; while the
    case waits on the customer it is their answer; else a repeat contact adds a level (once per level)."""
    case = case.copy()
    case.priority = contact.priority
    if case.state is State.CLOSED:
        return _after_closure(case, contact, facts.now)
    if case.state is State.AWAITING_CUSTOMER:
        case.state = step(case.state, Action.CUSTOMER_RESPONDED).state
        at = contact.contact_at or contact.merged_at
        case.record(at, "customer_responded", ref=contact.source_event_id)
        answered = CaseStationActionPayload(
            case_id=case.case_id, station=case.holder, level=case.holder_level, at=at, note="customer contacted again"
        )
        return Outcome(case, [(CaseCustomerResponded, answered)])
    if not contact.repeat_contact:
        return Outcome(case, note="not a repeat contact")
    why = f"customer contacted again while the case sat at {case.level} ({case.supervisor or case.holder})"
    return escalate(case, facts.directory, Trigger(EscalationTrigger.REPEAT_CONTACT, str(case.level), why), facts.now)


def _after_closure(case: CaseFile, contact: CaseMergedPayload, now: datetime) -> Outcome:
    if contact.channel is Channel.UPSTREAM:  # a parcel exception, not a customer: nobody to answer
        case.record(now, "exception_after_closure", ref=contact.source_event_id)
        return Outcome(case, note="a parcel exception on a closed case")
    case.record(now, "contact_after_closure", ref=contact.source_event_id)
    after = CaseContactAfterClosurePayload(
        case_id=case.case_id,
        source_event_id=contact.source_event_id,
        station=case.holder,
        closed_at=case.closed_at or now,
        contact_at=contact.contact_at,
        at=now,
    )
    return Outcome(case, [(CaseContactAfterClosure, after)], tags=["contact_after_closure"])


def reopened(case: CaseFile, reopening: CaseReopenedPayload, facts: Facts) -> Outcome:
    """intake reopened the case: back to the station that held it, fresh clocks, one more level of oversight."""
    case = case.copy()
    case.priority = reopening.priority
    case.reopen_count = max(case.reopen_count, reopening.reopen_count)
    moved = step(case.state, Action.REOPEN)
    if moved.outcome != "move":
        return Outcome(case, note=moved.reason)
    case.state, case.closed_at = moved.state, None
    case.start_afresh(case.holder, case.holder_level, facts.now)
    cause = Trigger(
        EscalationTrigger.REOPENED, f"reopen-{reopening.reopen_count}", f"reopened (reopen {reopening.reopen_count})"
    )
    key = case.trigger_key(cause.kind, cause.ref)
    case.triggers.append(key)
    outcome = add_oversight(case, facts.directory, cause, key, facts.now)
    if not outcome.emits:  # HQ watches already: the station starts again under it, with new clocks
        outcome.emits.append(_escalated(case, cause, f"{cause.why}; {outcome.note}", case.level, facts.now))
    return outcome
