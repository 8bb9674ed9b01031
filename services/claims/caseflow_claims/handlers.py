"""Events and commands in -> the claim, or claims' copy of the case -> stored, events out. No decisions here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from caseflow_contracts import Event
from caseflow_contracts.cases import CaseMerged, CaseOpened, CaseResolved
from caseflow_contracts.common import Actor
from caseflow_contracts.stations import ArbitrationDeclared
from caseflow_kit import Context, Runtime
from caseflow_kit.uow import UnitOfWork

from . import store
from .deps import ClaimsDeps
from .domain import CaseCopy, Claim, ClaimRequest, DeclarationRecord, Effect, OpenedCase, ask, request_on_opening
from .events import to_events
from .settings import ClaimsSettings

Rt = Runtime[ClaimsSettings, ClaimsDeps]
Ctx = Context[ClaimsDeps]
Change = Callable[[Claim, datetime], list[Effect]]


def _keep(
    uow: UnitOfWork,
    claim: Claim,
    version: int | None,
    effects: list[Effect],
    *,
    now: datetime,
    cause: Event | None = None,
    actor: Actor | None = None,
) -> None:
    """Store the claim with what its effects add, and emit their events (same commit: the outbox)."""
    store.save(uow, claim, version, effects)
    for event in to_events(claim, effects, now=now, cause=cause, actor=actor):
        uow.emit(event)


async def on_case_opened(event: CaseOpened, ctx: Ctx) -> None:
    p = event.payload
    found, version = await store.load(ctx.uow, p.case_id)
    case = found or CaseCopy(case_id=p.case_id)
    if isinstance(case, Claim) or not case.open_with(OpenedCase.of(p)):
        return  # the same case opened again (a re-sent event)
    request = request_on_opening(case, p.claimant, ctx.deps.rules)
    if request is None:
        store.save(ctx.uow, case, version)  # nobody asks (yet): claims keeps its copy of the case
        return
    claim, effects = Claim.open(case, request, ctx.deps.rules, ctx.now)
    _keep(ctx.uow, claim, version, effects, now=ctx.now, cause=event)


async def on_case_merged(event: CaseMerged, ctx: Ctx) -> None:
    p = event.payload
    if p.claimant is None:
        return  # a contact that asks for no compensation
    found, version = await store.load(ctx.uow, p.case_id)
    claim, effects = ask(found, p.case_id, ClaimRequest(p.claimant, "case_merged"), ctx.deps.rules, ctx.now)
    if effects:
        _keep(ctx.uow, claim, version, effects, now=ctx.now, cause=event)


async def on_case_resolved(event: CaseResolved, ctx: Ctx) -> None:
    at, rules = event.payload.at, ctx.deps.rules
    await _tell(ctx, event, lambda claim: claim.case_resolved(at, rules, ctx.now), lambda case: case.resolve(at))


async def on_arbitration_declared(event: ArbitrationDeclared, ctx: Ctx) -> None:
    said, rules = DeclarationRecord.of(event), ctx.deps.rules
    await _tell(ctx, event, lambda claim: claim.declare(said, rules, ctx.now), lambda case: case.park(said))


async def _tell(
    ctx: Ctx,
    event: CaseResolved | ArbitrationDeclared,
    to_claim: Callable[[Claim], list[Effect]],
    to_copy: Callable[[CaseCopy], bool],
) -> None:
    """A fact from another service: to the claim if there is one, else kept in claims' copy of the case."""
    found, version = await store.load(ctx.uow, event.payload.case_id)
    if isinstance(found, Claim):
        _keep(ctx.uow, found, version, to_claim(found), now=ctx.now, cause=event)
        return
    case = found or CaseCopy(case_id=event.payload.case_id)
    if to_copy(case):
        store.save(ctx.uow, case, version)


async def open_claim(runtime: Rt, case_id: str, request: ClaimRequest) -> tuple[Claim, bool]:
    """A person asks through the API for a claimant (True: the claim opened now, False: this very request
    opened it before); through the kit's command runner, re-run on a write clash."""

    async def work(uow: UnitOfWork) -> tuple[Claim, bool]:
        found, version = await store.load(uow, case_id)
        now = runtime.clock.now()
        claim, effects = ask(found, case_id, request, runtime.deps.rules, now)
        if effects:
            _keep(uow, claim, version, effects, now=now, actor=request.stamp.actor if request.stamp else None)
        return claim, bool(effects)

    return await runtime.commands.run(work)


async def command(runtime: Rt, claim_id: str, actor: Actor, change: Change) -> Claim:
    """A person's command on a claim; every event it causes carries them as its actor."""

    async def work(uow: UnitOfWork) -> Claim:
        claim, version = await store.load_claim(uow, claim_id)
        now = runtime.clock.now()
        effects = change(claim, now)
        if effects:
            _keep(uow, claim, version, effects, now=now, actor=actor)
        return claim

    return await runtime.commands.run(work)
