"""Events in -> the claim, or claims' copy of the case -> stored, events out. No decisions here (commands:
`commands.py`)."""

from __future__ import annotations

from collections.abc import Callable

from caseflow_contracts.cases import CaseMerged, CaseOpened, CaseResolved
from caseflow_contracts.stations import ArbitrationDeclared
from caseflow_kit import Context

from . import store
from .deps import ClaimsDeps
from .domain import CaseCopy, Claim, ClaimRequest, DeclarationRecord, Effect, OpenedCase, ask, request_on_opening

Ctx = Context[ClaimsDeps]


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
    store.keep(ctx.uow, claim, version, effects, now=ctx.now, cause=event)


async def on_case_merged(event: CaseMerged, ctx: Ctx) -> None:
    p = event.payload
    if p.claimant is None:
        return  # a contact that asks for no compensation
    found, version = await store.load(ctx.uow, p.case_id)
    claim, effects = ask(found, p.case_id, ClaimRequest(p.claimant, "case_merged"), ctx.deps.rules, ctx.now)
    if effects:
        store.keep(ctx.uow, claim, version, effects, now=ctx.now, cause=event)


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
        store.keep(ctx.uow, found, version, to_claim(found), now=ctx.now, cause=event)
        return
    case = found or CaseCopy(case_id=event.payload.case_id)
    if to_copy(case):
        store.save(ctx.uow, case, version)
