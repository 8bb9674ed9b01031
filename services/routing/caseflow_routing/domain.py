"""A case as routing sees it (holder, level, state, history) and what each input does to it. No I/O.

Every operation returns the new case file and the lifecycle events it causes, or
raises `Refusal` (the runtime dead-letters the input with the code and reason).
Free text from stations (notes, reasons, solutions) travels to every consumer of
cases.lifecycle, so it is scrubbed of phone, ID and e-mail patterns first.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from caseflow_contracts import Event
from caseflow_contracts.cases import (
    CaseAcknowledged,
    CaseAwaitingCustomer,
    CaseCallbackLogged,
    CaseCallbackLoggedPayload,
    CaseClosed,
    CaseClosedPayload,
    CaseCustomerResponded,
    CaseEscalated,
    CaseEscalatedPayload,
    CaseOpenedPayload,
    CaseProgressNoted,
    CaseResolutionProposed,
    CaseResolved,
    CaseResolvedPayload,
    CaseStationActionPayload,
    CaseTransferred,
    CaseTransferredPayload,
    EscalationTrigger,
)
from caseflow_contracts.common import Area, CaseKind, Channel, Contract, LadderLevel, Priority
from caseflow_contracts.errors import Refusal
from caseflow_contracts.sla import SlaClockPayload
from caseflow_contracts.stations import (
    CallbackOutcome,
    ResolutionResult,
    StationUpdatePayload,
    TransferRequestedPayload,
)
from caseflow_kit.logs import scrub

from .decision import Decision, climb_target, transfer_target
from .directory import StationDirectory
from .workflow import Action, State, step

Emit = tuple[type[Event], Contract]


@dataclass
class CaseFile:
    case_id: str
    kind: CaseKind
    priority: Priority
    channel: Channel
    holder: str
    level: LadderLevel
    state: State
    opened_at: str
    triggers: list[str] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    area: dict[str, Any] | None = None
    reopen_count: int = 0

    def to_doc(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "kind": str(self.kind),
            "priority": str(self.priority),
            "channel": str(self.channel),
            "holder": self.holder,
            "level": str(self.level),
            "state": str(self.state),
            # Indexed: counts the open cases a station holds (its load).
            "open_holder": self.holder if self.state is not State.CLOSED else None,
            "opened_at": self.opened_at,
            "triggers": list(self.triggers),
            "history": [dict(entry) for entry in self.history],
            "area": self.area,
            "reopen_count": self.reopen_count,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> CaseFile:
        return cls(
            case_id=doc["case_id"],
            kind=CaseKind(doc["kind"]),
            priority=Priority(doc["priority"]),
            channel=Channel(doc["channel"]),
            holder=doc["holder"],
            level=LadderLevel(doc["level"]),
            state=State(doc["state"]),
            opened_at=doc["opened_at"],
            triggers=list(doc.get("triggers", [])),
            history=[dict(entry) for entry in doc.get("history", [])],
            area=doc.get("area"),
            reopen_count=int(doc.get("reopen_count", 0)),
        )

    def copy(self) -> CaseFile:
        """A copy that can change without touching this one (history entries are flat)."""
        return dataclasses.replace(
            self, triggers=list(self.triggers), history=[dict(e) for e in self.history], area=copy.copy(self.area)
        )

    def record(self, at: datetime, action: str, **details: Any) -> None:
        entry: dict[str, Any] = {
            "at": at.isoformat(),
            "action": action,
            "holder": self.holder,
            "level": str(self.level),
        }
        entry.update({k: (str(v) if isinstance(v, LadderLevel | State) else v) for k, v in details.items()})
        self.history.append(entry)


@dataclass(frozen=True)
class Trigger:
    """What moves a case up the ladder: its kind, its id (each moves a case at most once) and why."""

    kind: EscalationTrigger
    ref: str
    why: str


@dataclass(frozen=True)
class Report:
    """The details a station reports with an action."""

    outcome: CallbackOutcome | None = None
    solution: str = ""
    result: ResolutionResult | None = None
    reason: str = ""
    satisfaction: int | None = None


@dataclass
class Outcome:
    case: CaseFile
    emits: list[Emit] = field(default_factory=list)
    note: str = ""


# -- a new case -----------------------------------------------------------------------------------


def open_case(payload: CaseOpenedPayload, decision: Decision, at: datetime) -> Outcome:
    case = CaseFile(
        case_id=payload.case_id,
        kind=payload.kind,
        priority=payload.priority,
        channel=payload.channel,
        holder=decision.holder,
        level=decision.level,
        state=State.ASSIGNED,
        opened_at=payload.opened_at.isoformat(),
        area=payload.area.model_dump(mode="json") if payload.area else None,
    )
    case.triggers.append("initial_assignment")
    if decision.transferred_from is not None:
        case.record(at, "transferred", from_station=decision.transferred_from, reason="out of area (超区)")
    case.record(at, "assigned", trigger=EscalationTrigger.INITIAL_ASSIGNMENT.value, reason=decision.reason)
    event = CaseEscalatedPayload(
        case_id=case.case_id,
        holder=case.holder,
        level=case.level,
        trigger=EscalationTrigger.INITIAL_ASSIGNMENT,
        trigger_ref=case.case_id,
        reason=decision.reason[:4000],
        kind=case.kind,
        priority=case.priority,
        channel=case.channel,
        escalated_at=at,
    )
    return Outcome(case, [(CaseEscalated, event)])


# -- climbing the ladder --------------------------------------------------------------------------

_ACTION_OF_TRIGGER = {
    EscalationTrigger.SLA_BREACH: Action.SLA_BREACH,
    EscalationTrigger.STATION_REJECTION: Action.REJECT,
    EscalationTrigger.TRANSFER_REQUEST: Action.TRANSFER,
    EscalationTrigger.REPEAT_CONTACT: Action.REPEAT_CONTACT,
    EscalationTrigger.EXPLICIT_REQUEST: Action.REQUEST_ESCALATION,
    EscalationTrigger.REOPENED: Action.REOPEN,
}


def climb(case: CaseFile, directory: StationDirectory, cause: Trigger, at: datetime) -> Outcome:
    """Move the case one level up for this trigger: at most once per trigger key, never past HQ."""
    case = case.copy()
    trigger, ref, why = cause.kind, cause.ref, cause.why
    key = f"{trigger.value}:{ref}"
    if key in case.triggers:
        return Outcome(case, note=f"trigger {key} already applied")
    moved = step(case.state, _ACTION_OF_TRIGGER[trigger])
    if moved.outcome == "refuse":
        raise Refusal("invalid_transition", moved.reason)
    if moved.outcome == "stay":
        return Outcome(case, note=moved.reason)
    case.triggers.append(key)
    target, route = climb_target(directory, case.holder)
    if target is None:
        if trigger is not EscalationTrigger.REOPENED:
            reason = scrub(f"{why}; {route}")
            case.record(at, "escalation_at_top", trigger=trigger.value, trigger_ref=ref, reason=reason)
            return Outcome(case, note=route)
        target, route = case.holder, f"{route}: handed to {case.holder} again"
    previous_holder, previous_level = case.holder, case.level
    case.holder, case.level, case.state = target, directory.level(target), moved.state
    reason = scrub(f"{why}; {route}")
    case.record(at, "escalated", trigger=trigger.value, trigger_ref=ref, reason=reason, from_holder=previous_holder)
    event = CaseEscalatedPayload(
        case_id=case.case_id,
        holder=target,
        level=case.level,
        previous_holder=previous_holder,
        previous_level=previous_level,
        trigger=trigger,
        trigger_ref=ref[:128],
        reason=reason[:4000],
        kind=case.kind,
        priority=case.priority,
        channel=case.channel,
        escalated_at=at,
    )
    return Outcome(case, [(CaseEscalated, event)])


def transfer(case: CaseFile, to_station: str, directory: StationDirectory, reason: str, at: datetime) -> Outcome:
    """Move the case sideways to the covering station (超区 or misrouted); the transfer is recorded."""
    case = case.copy()
    moved = step(case.state, Action.TRANSFER)
    if moved.outcome == "refuse":
        raise Refusal("invalid_transition", moved.reason)
    previous, reason = case.holder, scrub(reason)
    case.holder, case.level, case.state = to_station, directory.level(to_station), moved.state
    case.record(at, "transferred", from_station=previous, reason=reason)
    event = CaseTransferredPayload(
        case_id=case.case_id,
        from_station=previous,
        to_station=to_station,
        level=case.level,
        reason=reason[:4000],
        kind=case.kind,
        priority=case.priority,
        channel=case.channel,
        transferred_at=at,
    )
    return Outcome(case, [(CaseTransferred, event)])


# -- station updates --------------------------------------------------------------------------------


def check_holder(case: CaseFile, station: str, directory: StationDirectory, *, supervisors: bool = False) -> None:
    """A station may only update a case it holds (its supervisors up the ladder may ask to escalate)."""
    if station == case.holder:
        return
    if supervisors and case.holder in directory and station in directory.chain(case.holder):
        return
    raise Refusal("not_holder", f"{station} does not hold {case.case_id} (holder {case.holder}, level {case.level})")


def station_action(
    case: CaseFile,
    action: Action,
    update: StationUpdatePayload,
    directory: StationDirectory,
    report: Report | None = None,
) -> Outcome:
    """Acknowledge, call back, note progress, propose or resolve: checked against holder and state."""
    check_holder(case, update.station, directory)
    report = report or Report()
    moved = step(case.state, action)
    if moved.outcome == "refuse":
        raise Refusal("case_closed" if case.state is State.CLOSED else "invalid_transition", moved.reason)
    case = case.copy()
    if moved.outcome == "stay":
        case.record(update.at, f"ignored_{action.value}", station=update.station, reason=moved.reason)
        return Outcome(case, note=moved.reason)
    if action is Action.RESOLVE and report.result is ResolutionResult.UNRESOLVED and not report.reason.strip():
        raise Refusal("missing_reason", "an unresolved result needs a reason")
    before = case.state
    case.state = moved.state
    base = CaseStationActionPayload(
        case_id=case.case_id,
        station=update.station,
        level=case.level,
        agent_id=update.agent_id,
        at=update.at,
        note=scrub(report.solution if action is Action.PROPOSE_RESOLUTION else update.note),
    )
    emits: list[Emit] = []
    if before is State.AWAITING_CUSTOMER and case.state is not State.AWAITING_CUSTOMER and case.state in _OPEN_STATES:
        emits.append((CaseCustomerResponded, base))
    emits += _events_of(action, case, base, report, before)
    case.record(update.at, action.value, station=update.station, state=case.state, agent=update.agent_id)
    return Outcome(case, emits)


_OPEN_STATES = frozenset(State) - {State.CLOSED}


def _events_of(
    action: Action, case: CaseFile, base: CaseStationActionPayload, report: Report, before: State
) -> list[Emit]:
    if action is Action.ACKNOWLEDGE:
        return [(CaseAcknowledged, base)]
    if action is Action.CALL_BACK:
        payload = CaseCallbackLoggedPayload(**base.model_dump(), outcome=report.outcome or CallbackOutcome.REACHED)
        return [(CaseCallbackLogged, payload)]
    if action is Action.NOTE_PROGRESS:
        return [(CaseProgressNoted, base)]
    if action is Action.AWAIT_CUSTOMER:
        emits: list[Emit] = [(CaseProgressNoted, base)]
        if before is not State.AWAITING_CUSTOMER:
            emits.append((CaseAwaitingCustomer, base))
        return emits
    if action is Action.PROPOSE_RESOLUTION:
        return [(CaseResolutionProposed, base)]
    if action in (Action.RESOLVE, Action.RESOLVE_PENDING):
        resolved = CaseResolvedPayload(
            **base.model_dump(),
            result=report.result or ResolutionResult.RESOLVED,
            reason=scrub(report.reason),
            solution=scrub(report.solution),
            satisfaction=report.satisfaction,
            kind=case.kind,
            opened_at=datetime.fromisoformat(case.opened_at),
        )
        emits = [(CaseResolved, resolved)]
        if case.state is State.CLOSED:
            why = "resolved" if resolved.result is ResolutionResult.RESOLVED else "closed unresolved"
            emits.append((CaseClosed, CaseClosedPayload(case_id=case.case_id, closed_at=base.at, reason=why)))
        return emits
    raise ValueError(f"{action} is not a station action")  # pragma: no cover - guarded by the caller


def customer_contacted(case: CaseFile, directory: StationDirectory, ref: str, at: datetime, *, repeat: bool) -> Outcome:
    """A merged contact: an answer while the case waits on the customer, else a repeat contact (one climb per level)."""
    if case.state is State.AWAITING_CUSTOMER:
        case = case.copy()
        case.state = step(case.state, Action.CUSTOMER_RESPONDED).state
        case.record(at, "customer_responded", ref=ref)
        base = CaseStationActionPayload(
            case_id=case.case_id, station=case.holder, level=case.level, at=at, note="customer contacted again"
        )
        return Outcome(case, [(CaseCustomerResponded, base)])
    if not repeat:
        return Outcome(case, note="not a repeat contact")
    why = f"customer contacted again while the case sat at {case.level} ({case.holder})"
    return climb(case, directory, Trigger(EscalationTrigger.REPEAT_CONTACT, str(case.level), why), at)


def transfer_requested(
    case: CaseFile, directory: StationDirectory, request: TransferRequestedPayload, ref: str
) -> Outcome:
    """Sideways to a covering peer when one is known (the transfer is recorded), else one level up."""
    check_holder(case, request.station, directory)
    area = Area.model_validate(case.area) if case.area else None
    target = transfer_target(directory, case.holder, area, request.to_station)
    if target is not None:
        return transfer(case, target[0], directory, f"{target[1]}: {request.reason}", request.at)
    why = f"{request.station} asked to transfer ({request.reason}) and no covering peer is known"
    return climb(case, directory, Trigger(EscalationTrigger.TRANSFER_REQUEST, ref, why), request.at)


def sla_breached(case: CaseFile, directory: StationDirectory, breach: SlaClockPayload, at: datetime) -> Outcome:
    """Climb once per (case, metric, level); a breach of a level or holder the case has left is stale."""
    if case.state is State.CLOSED:
        return Outcome(case, note="breach after the case closed")
    if breach.level is not case.level or (breach.station is not None and breach.station != case.holder):
        return Outcome(case, note=f"stale breach: the case is at {case.level} ({case.holder}) now")
    why = f"SLA {breach.metric} breached at {breach.level} ({breach.elapsed_seconds}s of {breach.target_seconds}s)"
    cause = Trigger(EscalationTrigger.SLA_BREACH, f"{breach.metric}:{breach.level}", why)
    return climb(case, directory, cause, at)
