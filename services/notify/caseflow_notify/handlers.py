"""Event in -> notify's copy of the case updated and pending deliveries recorded. Handlers never send:
the delivery worker does, after the commit."""

from __future__ import annotations

from caseflow_contracts import Event, Topic
from caseflow_contracts.cases import (
    CaseClosed,
    CaseEscalated,
    CaseOpened,
    CaseProgressNoted,
    CaseReopened,
    CaseResolved,
    CaseTransferred,
)
from caseflow_contracts.claims import ClaimDecided, PayoutIssued
from caseflow_contracts.notify import NotifyChannel
from caseflow_contracts.sla import SlaBreached, SlaBreachWithdrawn
from caseflow_contracts.topics import CASES_LIFECYCLE, CLAIMS_EVENTS, SLA_BREACHES
from caseflow_kit import Context
from caseflow_kit.consumer import Handler
from caseflow_kit.logs import scrub

from . import store
from .deps import Deps
from .domain import CUSTOMER, NotifyCase, Says, Trigger, deliveries_for, messages, notification_id


async def tell(
    event: Event, ctx: Context[Deps], topic: Topic, says: Says, case: NotifyCase | None
) -> NotifyCase | None:
    """Record the deliveries the policy asks for (once per key); returns the case, noting the ones that lapse."""
    deps, uow, case_id = ctx.deps, ctx.uow, str(event.payload.case_id)  # type: ignore[attr-defined]
    trigger = Trigger(event.event_id, event.type, topic.name, event.correlation_id)
    payload = event.payload.model_dump(mode="json")
    slot, now = uow.owner_slot(case_id), ctx.now.timestamp()
    told = deliveries_for(
        deps.policy, trigger, says, case, payload=payload, webhook_targets=deps.webhook_names, slot=slot, now=now
    )
    new = [d for d in told.deliveries if await store.delivery(uow, d.id) is None]
    for delivery in new:
        store.add_delivery(uow, delivery)
    if any(d.due_at is not None for d in new):
        await store.add_trigger(uow, event, topic)
        if deps.worker is not None:
            deps.worker.wake()
    lapsing = [d.id for d in new if d.id in told.while_open]
    return case.noticed(lapsing) if case is not None and lapsing else case


async def lapse(ctx: Context[Deps], ids: tuple[str, ...], reason: str) -> None:
    """Pending deliveries that are no longer worth sending become skipped (sent ones stay sent)."""
    for nid in ids:
        found = await store.delivery(ctx.uow, nid)
        lapsed = found.lapsed(reason, ctx.now.timestamp()) if found is not None else None
        if lapsed is not None:
            store.save_delivery(ctx.uow, lapsed)


async def save(ctx: Context[Deps], before: NotifyCase | None, after: NotifyCase | None) -> None:
    if after is not None and after != before:
        store.save_case(ctx.uow, after)


async def on_case_opened(event: CaseOpened, ctx: Context[Deps]) -> None:
    known = await store.case(ctx.uow, event.payload.case_id)
    case = known or NotifyCase.opened(event.payload)
    after = await tell(event, ctx, CASES_LIFECYCLE, messages.opened(event.payload, ctx.deps.policy), case)
    await save(ctx, known, after)


async def on_case_event(event: Event, ctx: Context[Deps], says: Says, topic: Topic = CASES_LIFECYCLE) -> None:
    case = await store.case(ctx.uow, event.payload.case_id)  # type: ignore[attr-defined]
    await save(ctx, case, await tell(event, ctx, topic, says, case))


async def on_case_escalated(event: CaseEscalated, ctx: Context[Deps]) -> None:
    await on_case_event(event, ctx, messages.escalated(event.payload, ctx.deps.policy))


async def on_case_transferred(event: CaseTransferred, ctx: Context[Deps]) -> None:
    await on_case_event(event, ctx, messages.transferred(event.payload, ctx.deps.policy))


async def on_progress_noted(event: CaseProgressNoted, ctx: Context[Deps]) -> None:
    await on_case_event(event, ctx, messages.progress(event.payload, scrub))


async def on_case_resolved(event: CaseResolved, ctx: Context[Deps]) -> None:
    case = await store.case(ctx.uow, event.payload.case_id)
    after = await tell(
        event, ctx, CASES_LIFECYCLE, messages.resolved(event.payload, event.event_id, ctx.deps.policy, scrub), case
    )
    if after is not None:
        after, lapsed = after.resolved(event.payload.result)
        await lapse(ctx, lapsed, "case resolved before it was sent")
    await save(ctx, case, after)


async def on_case_closed(event: CaseClosed, ctx: Context[Deps]) -> None:
    case = await store.case(ctx.uow, event.payload.case_id)
    if case is not None:
        after, lapsed = case.closed()
        await lapse(ctx, lapsed, "case closed before it was sent")
        await save(ctx, case, after)


async def on_case_reopened(event: CaseReopened, ctx: Context[Deps]) -> None:
    case = await store.case(ctx.uow, event.payload.case_id)
    await save(ctx, case, case.reopened() if case is not None else None)


async def on_sla_breached(event: SlaBreached, ctx: Context[Deps]) -> None:
    await on_case_event(event, ctx, messages.breached(event.payload), SLA_BREACHES)


async def on_breach_withdrawn(event: SlaBreachWithdrawn, ctx: Context[Deps]) -> None:
    """The breach was disproved: an apology not yet sent for it is not sent."""
    p = event.payload
    keys = (CUSTOMER, *NotifyChannel)
    await lapse(ctx, tuple(notification_id(p.case_id, p.breach_event_id, k) for k in keys), "breach withdrawn")


async def on_claim_decided(event: ClaimDecided, ctx: Context[Deps]) -> None:
    await on_case_event(event, ctx, messages.claim_decided(event.payload), CLAIMS_EVENTS)


async def on_payout_issued(event: PayoutIssued, ctx: Context[Deps]) -> None:
    await on_case_event(event, ctx, messages.payout_issued(event.payload), CLAIMS_EVENTS)


LIFECYCLE_HANDLERS: dict[str, Handler] = {
    "case.opened": on_case_opened,
    "case.escalated": on_case_escalated,
    "case.transferred": on_case_transferred,
    "case.progress_noted": on_progress_noted,
    "case.resolved": on_case_resolved,
    "case.closed": on_case_closed,
    "case.reopened": on_case_reopened,
}
SLA_HANDLERS: dict[str, Handler] = {"sla.breached": on_sla_breached, "sla.breach_withdrawn": on_breach_withdrawn}
CLAIMS_HANDLERS: dict[str, Handler] = {"claim.decided": on_claim_decided, "payout.issued": on_payout_issued}
