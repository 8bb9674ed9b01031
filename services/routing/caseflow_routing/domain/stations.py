"""What stations, their supervisors and HQ's desk report (topic stations.updates), applied to a case.

- The holder's actions stay accepted whatever oversight was added (never `not_holder` while it holds the
  case); one that reached the suite after the deadline of a breach sla published is accepted and recorded
  late. Every action is stamped with when it reached the suite, the station's own `at` kept as its claim.
- A supervisor may follow the case up: call the customer, note progress, ask for one more level.
- A callback or note that crossed the close (sent before its unit learnt of the resolution) is recorded on
  the closed case and changes nothing; the holder's other work on a closed case is refused (`case_closed`).
  So is a supervisor's callback or note that crossed the withdrawal of the escalation that added it.
- Text that would travel (notes, results, solutions, reasons) with a forbidden word is refused: the case
  records it, `case.note_refused` tells the QA scorecard, the update goes back to the station.
- A rejection or a transfer request needs a reason code from HQ's list; it waits for HQ's ruling unless
  HQ's rules decide it (out of area with a covering station known). Only HQ reassigns a case; a
  rejection HQ overturns is shirking (推诿) and adds a level of oversight.
"""

from __future__ import annotations

from typing import Final

from caseflow_contracts.cases import (
    CaseAcknowledged,
    CaseAwaitingCustomer,
    CaseCallbackLogged,
    CaseCallbackLoggedPayload,
    CaseClosed,
    CaseClosedPayload,
    CaseCustomerResponded,
    CaseHqRuled,
    CaseHqRuledPayload,
    CaseNoteRefused,
    CaseNoteRefusedPayload,
    CaseProgressNoted,
    CaseResolutionProposed,
    CaseResolved,
    CaseResolvedPayload,
    CaseStationActionPayload,
    EscalationTrigger,
)
from caseflow_contracts.common import LadderLevel
from caseflow_contracts.errors import Refusal
from caseflow_contracts.stations import (
    CallbackOutcome,
    CallbackPayload,
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

from .case import CaseFile, Detail, Emit, Facts, Outcome, Request, RequestKind, Trigger
from .decision import covering_peer, transfer_target
from .ladder import add_oversight, escalate, reassign
from .workflow import Action, State, step

#: What a supervising unit may do on a case it watches over (the rest is the holder's).
SUPERVISOR_ACTIONS: Final = frozenset({Action.CALL_BACK, Action.NOTE_PROGRESS})
#: Text fields that travel to other services and customers, in the order they are checked.
TEXT_FIELDS: Final = ("note", "result", "solution", "reason")
#: The clock each action stops, whose breach makes the action late: (by the holder, by a supervisor).
CLOCK_OF: Final = {
    Action.CALL_BACK: ("callback", "escalation_follow_up"),
    Action.NOTE_PROGRESS: (None, "escalation_follow_up"),
    Action.RESOLVE: ("resolution", None),
    Action.RESOLVE_PENDING: ("resolution", None),
}


# -- the holder's (and supervisors') work on the case --------------------------------------------------------


def acknowledged(case: CaseFile, update: StationUpdatePayload, facts: Facts) -> Outcome:
    return _act(case, Action.ACKNOWLEDGE, update, facts)


def called_back(case: CaseFile, update: CallbackPayload, facts: Facts) -> Outcome:
    return _act(case, Action.CALL_BACK, update, facts)


def progress_noted(case: CaseFile, update: ProgressPayload, facts: Facts) -> Outcome:
    return _act(case, Action.AWAIT_CUSTOMER if update.awaiting_customer else Action.NOTE_PROGRESS, update, facts)


def resolution_proposed(case: CaseFile, update: ResolutionProposedPayload, facts: Facts) -> Outcome:
    return _act(case, Action.PROPOSE_RESOLUTION, update, facts)


def resolved(case: CaseFile, update: ResolvedPayload, facts: Facts) -> Outcome:
    if update.result is ResolutionResult.UNRESOLVED and not update.reason.strip():
        raise Refusal("missing_reason", "an unresolved result needs a reason")
    pending = update.result is ResolutionResult.PENDING
    return _act(case, Action.RESOLVE_PENDING if pending else Action.RESOLVE, update, facts)


def _act(case: CaseFile, action: Action, update: StationUpdatePayload, facts: Facts) -> Outcome:
    if _crossed_its_withdrawal(case, update.station, action):
        return _ignored(case, action, update, facts, WITHDRAWN_OVERSIGHT)
    by_holder = _may_act(case, update.station, action)
    moved = step(case.state, action)
    _refuse_if(moved.outcome == "refuse", case, moved.reason)
    if moved.outcome == "stay":  # the holder repeating itself, or anyone's follow-up after the close
        return _ignored(case, action, update, facts, moved.reason)
    refused = _forbidden_text(case, update, facts)
    if refused is not None:
        return refused
    case = case.copy()
    before = case.state
    level = case.holder_level if by_holder else facts.directory.level(update.station)
    base = CaseStationActionPayload(
        case_id=case.case_id,
        station=update.station,
        level=level,
        agent_id=update.agent_id,
        at=facts.received_at,
        note=update.solution if isinstance(update, ResolutionProposedPayload) else update.note,
    )
    emits: list[Emit] = []
    if by_holder:
        case.state = moved.state
        if before is State.AWAITING_CUSTOMER and case.state not in (State.AWAITING_CUSTOMER, State.CLOSED):
            emits.append((CaseCustomerResponded, base))
        if case.state is State.CLOSED:
            case.closed_at = facts.received_at
    emits += _events_of(action, case, base, update, before)
    late = _late_for(case, action, by_holder, level, facts)
    details: dict[str, Detail] = {"late": True, "breach": late} if late else {}
    case.record(
        facts.received_at,
        action.value,
        station=update.station,
        agent=update.agent_id,
        state=case.state.value,
        claimed_at=update.at.isoformat(),
        **details,
    )
    return Outcome(case, emits, tags=["late_station_action"] if late else [])


def _ignored(case: CaseFile, action: Action, update: StationUpdatePayload, facts: Facts, reason: str) -> Outcome:
    """Recorded on the case, nothing changed, nothing emitted: stale knowledge, not bad input."""
    case = case.copy()
    case.record(facts.received_at, f"ignored_{action}", station=update.station, reason=reason)
    return Outcome(case, note=reason)


WITHDRAWN_OVERSIGHT: Final = "the escalation that added this supervisor was withdrawn (sla disproved the breach)"


def _crossed_its_withdrawal(case: CaseFile, unit: str, action: Action) -> bool:
    """A follow-up by a supervisor whose escalation sla's withdrawn breach undid, sent before it learnt of that.

    The supervisor acted in good faith on a case it saw escalated (its copy lags, like a follow-up that crossed
    the close): stale knowledge, not bad input, so it is recorded, not dead-lettered as `not_holder`."""
    return (
        action in SUPERVISOR_ACTIONS
        and unit != case.holder
        and not case.supervises(unit)
        and any(e.action == "escalation_withdrawn" and e.details.get("supervisor") == unit for e in case.history)
    )


def _may_act(case: CaseFile, unit: str, action: Action) -> bool:
    """True for the holder, False for a supervisor doing what supervisors may; anyone else is refused."""
    if unit == case.holder:
        return True
    if action in SUPERVISOR_ACTIONS and case.supervises(unit):
        return False
    watching = f", supervised by {case.supervisor}" if case.supervisor else ""
    raise Refusal("not_holder", f"{unit} may not {action} {case.case_id}: {case.holder} holds it{watching}")


def _refuse_if(refused: bool, case: CaseFile, reason: str) -> None:
    if refused:
        raise Refusal("case_closed" if case.state is State.CLOSED else "invalid_transition", reason)


def _events_of(
    action: Action, case: CaseFile, base: CaseStationActionPayload, update: StationUpdatePayload, before: State
) -> list[Emit]:
    if action is Action.ACKNOWLEDGE:
        return [(CaseAcknowledged, base)]
    if isinstance(update, CallbackPayload):
        told = update.outcome is CallbackOutcome.REACHED and bool(update.result.strip())
        logged = CaseCallbackLoggedPayload(
            **base.model_dump(), outcome=update.outcome, result=update.result, counts_as_response=told
        )
        return [(CaseCallbackLogged, logged)]
    if action is Action.AWAIT_CUSTOMER:
        waiting = [(CaseAwaitingCustomer, base)] if before is not State.AWAITING_CUSTOMER else []
        return [(CaseProgressNoted, base), *waiting]
    if action is Action.NOTE_PROGRESS:
        return [(CaseProgressNoted, base)]
    if action is Action.PROPOSE_RESOLUTION:
        return [(CaseResolutionProposed, base)]
    assert isinstance(update, ResolvedPayload)  # noqa: S101 - the only payload of the remaining actions
    done = CaseResolvedPayload(
        **base.model_dump(),
        result=update.result,
        reason=update.reason,
        solution=update.solution,
        satisfaction=update.satisfaction,
        kind=case.kind,
        opened_at=case.opened_at,
        record=update.record,
    )
    if case.state is not State.CLOSED:
        return [(CaseResolved, done)]
    why = "resolved" if update.result is ResolutionResult.RESOLVED else "closed unresolved"
    return [(CaseResolved, done), (CaseClosed, CaseClosedPayload(case_id=case.case_id, closed_at=base.at, reason=why))]


def _late_for(case: CaseFile, action: Action, by_holder: bool, level: LadderLevel, facts: Facts) -> str | None:
    """The breach (metric:level) whose deadline this action missed, judged on when it reached the suite."""
    metric = CLOCK_OF.get(action, (None, None))[0 if by_holder else 1]
    for breach in case.breaches:
        missed = breach.metric == metric and not breach.withdrawn and breach.deadline_at < facts.received_at
        if missed and (by_holder or breach.level is level):
            return breach.ref
    return None


def _forbidden_text(case: CaseFile, update: StationUpdatePayload, facts: Facts) -> Outcome | None:
    """None when the update's text may travel; else the refusal, recorded on the case and for the scorecard."""
    for name in TEXT_FIELDS:
        text = getattr(update, name, "")
        words = facts.policy.forbidden_in(text) if isinstance(text, str) and text else []
        if words:
            refused = case.copy()
            refused.record(
                facts.received_at, "note_refused", station=update.station, field=name, words=", ".join(words)
            )
            event = CaseNoteRefusedPayload(
                case_id=case.case_id,
                station=update.station,
                agent_id=update.agent_id,
                field=name,  # type: ignore[arg-type]  # one of TEXT_FIELDS, the contract's literal
                words=words[:20],
                refused_event_id=facts.event_id,
                at=facts.received_at,
            )
            why = Refusal("forbidden_words", f"the {name} holds forbidden words ({', '.join(words)}): reword it")
            return Outcome(refused, [(CaseNoteRefused, event)], refusal=why, tags=["note_refused"])
    return None


# -- asking for a level more, rejecting, transferring; HQ's rulings ------------------------------------------


def escalation_requested(case: CaseFile, request: EscalationRequestedPayload, facts: Facts) -> Outcome:
    """The holder or any unit above it on its chain asks for one more level of oversight."""
    directory = facts.directory
    if request.station != case.holder and (
        case.holder not in directory or request.station not in directory.chain(case.holder)
    ):
        raise Refusal("not_holder", f"{request.station} is not on the chain of {case.holder}, which holds the case")
    _refuse_if(case.state is State.CLOSED, case, "an escalation request on a closed case")
    refused = _forbidden_text(case, request, facts)
    if refused is not None:
        return refused
    why = f"{request.station} asked to escalate: {request.reason}"
    return escalate(case, directory, Trigger(EscalationTrigger.EXPLICIT_REQUEST, facts.event_id, why), facts.now)


def rejected(case: CaseFile, rejection: RejectedPayload, facts: Facts) -> Outcome:
    return _asked(case, rejection, "rejection", None, facts)


def transfer_requested(case: CaseFile, request: TransferRequestedPayload, facts: Facts) -> Outcome:
    return _asked(case, request, "transfer", request.to_station, facts)


def _asked(
    case: CaseFile,
    ask: RejectedPayload | TransferRequestedPayload,
    kind: RequestKind,
    to_station: str | None,
    facts: Facts,
) -> Outcome:
    if ask.station != case.holder:
        raise Refusal("not_holder", f"{ask.station} does not hold {case.case_id}: only its holder may ask")
    _refuse_if(step(case.state, Action.REQUEST).outcome == "refuse", case, f"a {kind} on a closed case")
    reasons = facts.policy.reasons_for(kind)
    if ask.reason_code not in reasons:
        code = "missing_reason_code" if ask.reason_code is None else "unknown_reason_code"
        raise Refusal(code, f"a {kind} needs a reason code from HQ's list: {', '.join(sorted(reasons))}")
    refused = _forbidden_text(case, ask, facts)
    if refused is not None:
        return refused
    case = case.copy()
    if case.pending is not None:
        case.record(facts.received_at, f"ignored_{kind}", station=ask.station, reason="a request waits for HQ")
        return Outcome(case, note=f"a {case.pending.kind} already waits for HQ's ruling")
    request = Request(kind, ask.station, ask.reason_code, ask.reason, facts.event_id, facts.received_at, to_station)
    case.pending = request
    case.record(facts.received_at, kind, station=ask.station, reason_code=ask.reason_code, reason=ask.reason)
    rule = facts.policy.auto_rule(kind, request.reason_code)
    # By rule only when the directory agrees: the holder does not cover the area and a peer does.
    area, directory = case.area, facts.directory
    elsewhere = area is not None and not directory.covers(case.holder, area)
    target = covering_peer(directory, case.holder, area, to_station) if rule and elsewhere else None
    if rule is None or target is None:
        return Outcome(case, note=f"the {kind} waits for HQ's ruling")
    ruling = HqRuling.TRANSFER_APPROVED if kind == "transfer" else HqRuling.REJECTION_UPHELD
    why = f"{reasons[request.reason_code]} ({request.reason_code}), by HQ's rule: {target} covers the delivery area"
    return _rule(case, ruling, facts, target=target, decided_by=rule.decided_by, reason=why)


#: The request each ruling answers (None: HQ may reassign a case of its own accord).
ANSWERS: Final[dict[HqRuling, RequestKind | None]] = {
    HqRuling.REJECTION_UPHELD: "rejection",
    HqRuling.REJECTION_OVERTURNED: "rejection",
    HqRuling.TRANSFER_APPROVED: None,
    HqRuling.TRANSFER_DENIED: "transfer",
}
REASSIGNS: Final = frozenset({HqRuling.REJECTION_UPHELD, HqRuling.TRANSFER_APPROVED})


def hq_ruled(case: CaseFile, ruling: HqRulingPayload, facts: Facts) -> Outcome:
    """HQ's desk rules on the holder's request: reassign, keep, or overturn a rejection (shirking)."""
    directory = facts.directory
    if ruling.station not in directory or directory.level(ruling.station) is not LadderLevel.HQ:
        raise Refusal("not_hq", f"{ruling.station} is not HQ's desk: only HQ rules on requests")
    if ruling.about_station != case.holder:
        raise Refusal("stale_ruling", f"{ruling.about_station} does not hold {case.case_id} ({case.holder} does)")
    _refuse_if(case.state is State.CLOSED, case, "a ruling on a closed case")
    wanted = ANSWERS[ruling.ruling]
    if wanted is not None and (case.pending is None or case.pending.kind != wanted):
        raise Refusal("no_pending_request", f"{case.holder} has no {wanted} waiting for a ruling")
    refused = _forbidden_text(case, ruling, facts)
    if refused is not None:
        return refused
    target = None
    if ruling.ruling in REASSIGNS:
        target = _target_of(case, ruling, facts)
    decided_by = f"{ruling.station}:{ruling.agent_id}" if ruling.agent_id else ruling.station
    return _rule(case.copy(), ruling.ruling, facts, target=target, decided_by=decided_by, reason=ruling.reason)


def _target_of(case: CaseFile, ruling: HqRulingPayload, facts: Facts) -> str:
    directory = facts.directory
    if ruling.to_station is not None:
        if ruling.to_station not in directory or not directory.by_code[ruling.to_station].active:
            raise Refusal("unknown_station", f"{ruling.to_station} is not an active unit of the directory")
        return ruling.to_station
    wished = case.pending.to_station if case.pending else None
    found = transfer_target(directory, case.holder, case.area, wished)
    if found is None:
        raise Refusal("missing_target", "no covering station is known: the ruling must name to_station")
    return found[0]


def _rule(
    case: CaseFile, ruling: HqRuling, facts: Facts, *, target: str | None, decided_by: str, reason: str
) -> Outcome:
    """Apply a ruling to a case this operation already copied."""
    request, holder = case.pending, case.holder
    case.pending = None
    case.record(facts.received_at, "hq_ruled", ruling=ruling.value, decided_by=decided_by, to_station=target)
    emits: list[Emit] = [
        (
            CaseHqRuled,
            CaseHqRuledPayload(
                case_id=case.case_id,
                station=holder,
                ruling=ruling,
                to_station=target,
                decided_by=decided_by,
                reason=reason[:4000],
                at=facts.received_at,
            ),
        )
    ]
    if target is not None:
        emits.append(
            reassign(
                case, facts.directory, target, reason=f"HQ: {ruling} ({reason})", decided_by=decided_by, now=facts.now
            )
        )
    elif ruling is HqRuling.REJECTION_OVERTURNED and request is not None:
        why = f"HQ overturned {holder}'s rejection ({request.reason_code}): shirking (推诿)"
        cause = Trigger(EscalationTrigger.STATION_REJECTION, request.event_id, why)
        key = case.trigger_key(cause.kind, cause.ref)
        case.triggers.append(key)
        emits += add_oversight(case, facts.directory, cause, key, facts.now).emits
    return Outcome(case, emits, tags=[f"hq_{ruling}"])
