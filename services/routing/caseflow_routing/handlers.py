"""Events in -> domain -> events out: load the case, let the domain decide, save it and emit what it caused.

Station text is scrubbed of phone, ID and e-mail patterns here, at the edge, before the domain sees it: it
travels to every consumer of cases.lifecycle.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from caseflow_contracts import Event
from caseflow_contracts.cases import CaseOpened
from caseflow_contracts.common import Contract
from caseflow_kit import Context
from caseflow_kit.errors import RecordedRefusal
from caseflow_kit.logs import scrub

from .deps import RoutingDeps
from .domain import ladder, stations
from .domain.case import CaseFile, Facts, Outcome
from .domain.decision import RoutingRequest, decide, load_keys
from .events import events_of
from .store import Counters, Loaded, load_case, read_counters, save_case

P = TypeVar("P", bound=Contract)
Ctx = Context[RoutingDeps]
Handler = Callable[[Any, Ctx], Awaitable[None]]
#: Free text of stations.updates payloads (the case record's evaluation included).
TEXT = ("note", "result", "solution", "reason")


async def _commit(ctx: Ctx, outcome: Outcome, read: Loaded | None, counters: Counters | None = None) -> None:
    await save_case(ctx.uow, outcome.case, read, counters)
    for event in events_of(outcome, ctx):
        ctx.uow.emit(event)
    ctx.deps.metrics.count(outcome.tags)
    if outcome.refusal is not None:  # saved and told; the input itself goes back to its sender
        raise RecordedRefusal(outcome.refusal.code, outcome.refusal.message)


def _facts(ctx: Ctx) -> Facts:
    deps = ctx.deps
    return Facts(deps.directory.index, deps.hq_rules.current, ctx.event.event_id, ctx.arrived, ctx.now)


def _scrubbed(payload: P) -> P:
    # `type is str`: a resolution's `result` is an enum (a str too), a callback's is what the customer was told.
    changes: dict[str, Any] = {k: scrub(v) for k in TEXT if type(v := getattr(payload, k, None)) is str}
    record = getattr(payload, "record", None)
    if record is not None and record.evaluation:
        changes["record"] = record.model_copy(update={"evaluation": scrub(record.evaluation)})
    return payload.model_copy(update=changes) if changes else payload


def on(decide_for: Callable[[CaseFile, P, Facts], Outcome]) -> Handler:
    """A handler for an input about an existing case: load it, decide, save and emit."""

    async def handle(event: Event, ctx: Ctx) -> None:
        read = await load_case(ctx.uow, event.key)  # every topic routing reads is keyed by case id
        payload = cast(P, event.payload)
        await _commit(ctx, decide_for(read.case, _scrubbed(payload), _facts(ctx)), read)

    return handle


async def on_case_opened(event: CaseOpened, ctx: Ctx) -> None:
    directory = ctx.deps.directory.index
    request = RoutingRequest.of(event.payload, ctx.now)
    # No look-up of the case first: intake gives case.opened one event id per case, so the kit's
    # de-duplication catches every replay; a second case.opened under another id fails the insert
    # (duplicate key) and is dead-lettered with that reason. One store round trip less per case.
    counters = await read_counters(ctx.uow, load_keys(request, directory))
    decision = decide(request, directory, counters.loads())
    await _commit(ctx, ladder.open_case(event.payload, decision, ctx.now), None, counters)


LIFECYCLE_HANDLERS: dict[str, Handler] = {
    "case.opened": on_case_opened,
    "case.merged": on(ladder.merged),
    "case.reopened": on(ladder.reopened),
}
STATION_HANDLERS: dict[str, Handler] = {
    "station.acknowledged": on(stations.acknowledged),
    "station.called_back": on(stations.called_back),
    "station.progress_noted": on(stations.progress_noted),
    "station.resolution_proposed": on(stations.resolution_proposed),
    "station.resolved": on(stations.resolved),
    "station.transfer_requested": on(stations.transfer_requested),
    "station.rejected": on(stations.rejected),
    "station.escalation_requested": on(stations.escalation_requested),
    "station.hq_ruled": on(stations.hq_ruled),
}
SLA_HANDLERS: dict[str, Handler] = {
    "sla.breached": on(ladder.sla_breached),
    "sla.breach_withdrawn": on(ladder.breach_withdrawn),
}
