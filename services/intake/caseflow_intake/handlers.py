"""Event in → domain → records saved and events out. No decision is taken here (see `domain`)."""

from __future__ import annotations

from datetime import datetime

from caseflow_contracts.cases import CaseClosed, CaseContactAfterClosure, CaseResolved
from caseflow_contracts.upstream import CustomerContacted, ParcelExceptionReported, SatisfactionAnswered
from caseflow_kit import Context

from . import events, store
from .deps import IntakeDeps
from .domain import answers, closure
from .domain.case import Change, draft_case, join, open_case
from .domain.inputs import Incoming, from_contact, from_exception
from .domain.reference import Action

Ctx = Context[IntakeDeps]


async def on_parcel_exception(event: ParcelExceptionReported, ctx: Ctx) -> None:
    await take_in(from_exception(event.payload, ctx.deps.rules.current, arrived=ctx.arrived), ctx)


async def on_customer_contact(event: CustomerContacted, ctx: Ctx) -> None:
    await take_in(from_contact(event.payload, ctx.deps.rules.current, arrived=ctx.arrived), ctx)


async def take_in(item: Incoming, ctx: Ctx) -> None:
    """A new case, a merge into an open one, or a reopening; a source taken in before changes nothing."""
    rules, privacy, uow = ctx.deps.rules.current, ctx.deps.privacy, ctx.uow
    ref = await store.load_reference(uow, item.ref)
    decision = ref.decide(item, rules)
    if decision.action is Action.DUPLICATE:
        return
    if decision.action is Action.OPEN:
        draft = draft_case(item, rules=rules, privacy=privacy, now=ctx.now, linked=decision.linked_case_id)
        claims = await store.claims_of(uow, draft)
        change = open_case(draft, ref, claims, source_key=item.source_key, rules=rules, now=ctx.now)
    else:
        case = closure.known(await store.load_case(uow, decision.case_id), decision.case_id)
        change = join(case, item, ref, decision, rules=rules, privacy=privacy, now=ctx.now)
    apply(ctx, change)


async def on_satisfaction_answered(event: SatisfactionAnswered, ctx: Ctx) -> None:
    answer = event.payload
    case = await store.load_case(ctx.uow, answer.case_id)
    apply(ctx, answers.record_answer(case, answer, privacy=ctx.deps.privacy, now=ctx.now, arrived=ctx.arrived))


async def on_case_resolved(event: CaseResolved, ctx: Ctx) -> None:
    p = event.payload
    if closure.ends_case(p.result):
        await close(p.case_id, p.at, p.station, ctx)


async def on_case_closed(event: CaseClosed, ctx: Ctx) -> None:
    await close(event.payload.case_id, event.payload.closed_at, None, ctx)


async def close(case_id: str, at: datetime, station: str | None, ctx: Ctx) -> None:
    """routing ended the case: intake's copy of its state follows."""
    case = await store.load_case(ctx.uow, case_id)
    if case is not None:  # not a case intake opened: nothing of intake's to change
        apply(ctx, closure.close(case, await store.load_reference(ctx.uow, case.ref), at, station))


async def on_contact_after_closure(event: CaseContactAfterClosure, ctx: Ctx) -> None:
    """routing found a contact intake merged on a case it had closed: reopen, follow up, or rejoin."""
    notice, uow, rules, privacy = event.payload, ctx.uow, ctx.deps.rules.current, ctx.deps.privacy
    case = closure.known(await store.load_case(uow, notice.case_id), notice.case_id)
    kept = await store.load_followup(uow, notice.case_id, notice.source_event_id)
    followup, draft = closure.recall(kept, notice, rules=rules, privacy=privacy, now=ctx.now)
    claims = await store.claims_of(uow, draft)
    ref = await store.load_reference(uow, case.ref)
    change = closure.after_closure(
        case, ref, notice, followup=followup, draft=draft, claims=claims, cause=event.event_id, rules=rules, now=ctx.now
    )
    apply(ctx, change)


def apply(ctx: Ctx, change: Change) -> None:
    store.save(ctx.uow, change)
    events.emit_all(ctx, change.emits)
    ctx.deps.metrics.count(change.reopening)
