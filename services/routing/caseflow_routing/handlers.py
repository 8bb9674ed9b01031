"""Events in → domain → events out. One handler per event type routing needs; it ignores the rest."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from caseflow_contracts import Event, deterministic_id
from caseflow_contracts.cases import CaseMerged, CaseOpened, CaseReopened, EscalationTrigger
from caseflow_contracts.sla import SlaBreached
from caseflow_contracts.stations import (
    EscalationRequested,
    ResolutionResult,
    StationAcknowledged,
    StationCalledBack,
    StationProgressNoted,
    StationRejected,
    StationResolutionProposed,
    StationResolved,
    StationTransferRequested,
    StationUpdatePayload,
)
from caseflow_kit import Context, Refusal

from .decision import RoutingRequest, decide, load_keys
from .deps import RoutingDeps
from .domain import (
    CaseFile,
    Outcome,
    Report,
    Trigger,
    check_holder,
    climb,
    customer_contacted,
    open_case,
    sla_breached,
    station_action,
    transfer_requested,
)
from .store import Counters, load_case, read_counters, save_case
from .workflow import Action

E = TypeVar("E", bound=Event)
Ctx = Context[RoutingDeps]
Handler = Callable[[E, Ctx], Awaitable[None]]


async def _commit(ctx: Ctx, outcome: Outcome, read: dict[str, Any] | None, counters: Counters | None = None) -> None:
    await save_case(ctx.uow, outcome.case, read, counters)
    for index, (model, payload) in enumerate(outcome.emits):
        event_id = deterministic_id("routing", ctx.event.event_id, index)
        ctx.uow.emit(ctx.new(model, payload, key=outcome.case.case_id, event_id=event_id))


async def _case(ctx: Ctx, case_id: str) -> tuple[CaseFile, dict[str, Any]]:
    found = await load_case(ctx.uow, case_id)
    if found is None:
        raise Refusal("unknown_case", f"routing has no case {case_id}")
    return found


# -- cases.lifecycle ------------------------------------------------------------------------------


async def on_case_opened(event: CaseOpened, ctx: Ctx) -> None:
    p = event.payload
    directory = ctx.deps.directory.current
    request = RoutingRequest(
        kind=p.kind,
        priority=p.priority,
        language=p.language,
        cross_border=p.cross_border,
        area=p.area,
        hint=p.station_hint.station,
        at=ctx.now,
    )
    # No look-up of the case first: intake gives case.opened one event id per case, so the kit's
    # de-duplication catches every replay; a second case.opened under another id fails the insert
    # (duplicate key) and is dead-lettered with that reason. One store round trip less per case.
    counters = await read_counters(ctx.uow, load_keys(request, directory))
    await _commit(ctx, open_case(p, decide(request, directory, counters.loads()), ctx.now), None, counters)


async def on_case_merged(event: CaseMerged, ctx: Ctx) -> None:
    p = event.payload
    case, read = await _case(ctx, p.case_id)
    case.priority = p.priority
    outcome = customer_contacted(case, ctx.deps.directory.current, p.source_event_id, ctx.now, repeat=p.repeat_contact)
    await _commit(ctx, outcome, read)


async def on_case_reopened(event: CaseReopened, ctx: Ctx) -> None:
    p = event.payload
    case, read = await _case(ctx, p.case_id)
    case.priority = p.priority
    case.reopen_count = max(case.reopen_count, p.reopen_count)
    why = f"case reopened (reopen {p.reopen_count})"
    cause = Trigger(EscalationTrigger.REOPENED, f"reopen-{p.reopen_count}", why)
    outcome = climb(case, ctx.deps.directory.current, cause, ctx.now)
    await _commit(ctx, outcome, read)


# -- stations.updates -------------------------------------------------------------------------------


async def _station(ctx: Ctx, update: StationUpdatePayload, action: Action, report: Report | None = None) -> None:
    case, read = await _case(ctx, update.case_id)
    outcome = station_action(case, action, update, ctx.deps.directory.current, report)
    await _commit(ctx, outcome, read)


async def on_acknowledged(event: StationAcknowledged, ctx: Ctx) -> None:
    await _station(ctx, event.payload, Action.ACKNOWLEDGE)


async def on_called_back(event: StationCalledBack, ctx: Ctx) -> None:
    await _station(ctx, event.payload, Action.CALL_BACK, Report(outcome=event.payload.outcome))


async def on_progress_noted(event: StationProgressNoted, ctx: Ctx) -> None:
    await _station(
        ctx, event.payload, Action.AWAIT_CUSTOMER if event.payload.awaiting_customer else Action.NOTE_PROGRESS
    )


async def on_resolution_proposed(event: StationResolutionProposed, ctx: Ctx) -> None:
    await _station(ctx, event.payload, Action.PROPOSE_RESOLUTION, Report(solution=event.payload.solution))


async def on_resolved(event: StationResolved, ctx: Ctx) -> None:
    p = event.payload
    action = Action.RESOLVE_PENDING if p.result is ResolutionResult.PENDING else Action.RESOLVE
    report = Report(result=p.result, reason=p.reason, solution=p.solution, satisfaction=p.satisfaction)
    await _station(ctx, p, action, report)


async def on_transfer_requested(event: StationTransferRequested, ctx: Ctx) -> None:
    p = event.payload
    case, read = await _case(ctx, p.case_id)
    outcome = transfer_requested(case, ctx.deps.directory.current, p, event.event_id)
    await _commit(ctx, outcome, read)


async def on_rejected(event: StationRejected, ctx: Ctx) -> None:
    p = event.payload
    case, read = await _case(ctx, p.case_id)
    directory = ctx.deps.directory.current
    check_holder(case, p.station, directory)
    why = f"{p.station} rejected the case: {p.reason}"
    cause = Trigger(EscalationTrigger.STATION_REJECTION, event.event_id, why)
    await _commit(ctx, climb(case, directory, cause, ctx.now), read)


async def on_escalation_requested(event: EscalationRequested, ctx: Ctx) -> None:
    p = event.payload
    case, read = await _case(ctx, p.case_id)
    directory = ctx.deps.directory.current
    check_holder(case, p.station, directory, supervisors=True)
    why = f"{p.station} asked to escalate: {p.reason}"
    cause = Trigger(EscalationTrigger.EXPLICIT_REQUEST, event.event_id, why)
    await _commit(ctx, climb(case, directory, cause, ctx.now), read)


# -- sla.breaches -----------------------------------------------------------------------------------


async def on_sla_breached(event: SlaBreached, ctx: Ctx) -> None:
    p = event.payload
    case, read = await _case(ctx, p.case_id)
    await _commit(ctx, sla_breached(case, ctx.deps.directory.current, p, ctx.now), read)


LIFECYCLE_HANDLERS: dict[str, Any] = {
    "case.opened": on_case_opened,
    "case.merged": on_case_merged,
    "case.reopened": on_case_reopened,
}
STATION_HANDLERS: dict[str, Any] = {
    "station.acknowledged": on_acknowledged,
    "station.called_back": on_called_back,
    "station.progress_noted": on_progress_noted,
    "station.resolution_proposed": on_resolution_proposed,
    "station.resolved": on_resolved,
    "station.transfer_requested": on_transfer_requested,
    "station.rejected": on_rejected,
    "station.escalation_requested": on_escalation_requested,
}
SLA_HANDLERS: dict[str, Any] = {"sla.breached": on_sla_breached}
