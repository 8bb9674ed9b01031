"""Event in -> notify's copy of the case updated and pending deliveries recorded. Handlers never send:
the delivery worker does, after the commit."""

from __future__ import annotations

from caseflow_contracts import Event, topic_for
from caseflow_contracts.cases import CaseOpened, CaseResolved
from caseflow_contracts.notify import NotifyChannel
from caseflow_contracts.sla import SlaBreachWithdrawn
from caseflow_kit import Context
from caseflow_kit.logs import scrub

from . import store
from .deps import Deps
from .domain import CUSTOMER, NotifyCase, Trigger, deliveries_for, messages, notification_id


async def tell(event: Event, ctx: Context[Deps], case: NotifyCase | None) -> NotifyCase | None:
    """Record the deliveries the policy asks for (once per key); returns the case, noting those that lapse."""
    deps, uow = ctx.deps, ctx.uow
    topic = topic_for(type(event))
    told = deliveries_for(
        deps.policy,
        Trigger(event.event_id, event.type, topic.name, event.correlation_id),
        messages.says(event, deps.policy, scrub),
        case,
        payload=event.payload.model_dump(mode="json"),
        webhook_targets=deps.webhook_names,
        slot=uow.owner_slot(event.key),  # the case id: every topic notify reads is keyed by it
        now=ctx.now.timestamp(),
    )
    new = [d for d in told.deliveries if await store.delivery(uow, d.id) is None]
    for delivery in new:
        store.add_delivery(uow, delivery)
    if any(d.due_at is not None for d in new):
        await store.add_trigger(uow, event, topic, ctx.record)
        if deps.worker is not None:
            deps.worker.wake()
    lapsing = [d.id for d in new if d.id in told.while_open]
    return case.noticed(lapsing) if case is not None and lapsing else case


async def lapse(ctx: Context[Deps], ids: tuple[str, ...], reason: str) -> None:
    """Pending deliveries no longer worth sending become skipped (sent ones stay sent)."""
    for nid in ids:
        found = await store.delivery(ctx.uow, nid)
        lapsed = found.lapsed(reason, ctx.now.timestamp()) if found is not None else None
        if lapsed is not None:
            store.save_delivery(ctx.uow, lapsed)


def save(ctx: Context[Deps], before: NotifyCase | None, after: NotifyCase | None) -> None:
    if after is not None and after != before:
        store.save_case(ctx.uow, after)


async def on_step(event: Event, ctx: Context[Deps]) -> None:
    """A step the customer (or the platform) is told about."""
    case = await store.case(ctx.uow, event.key)
    save(ctx, case, await tell(event, ctx, case))


async def on_case_opened(event: CaseOpened, ctx: Context[Deps]) -> None:
    known = await store.case(ctx.uow, event.key)
    save(ctx, known, await tell(event, ctx, known or NotifyCase.opened(event.payload)))


async def on_case_resolved(event: CaseResolved, ctx: Context[Deps]) -> None:
    case = await store.case(ctx.uow, event.key)
    after = await tell(event, ctx, case)
    if after is not None:
        after, lapsed = after.resolved(event.payload.result)
        await lapse(ctx, lapsed, "case resolved before it was sent")
    save(ctx, case, after)


async def on_case_closed(event: Event, ctx: Context[Deps]) -> None:
    case = await store.case(ctx.uow, event.key)
    if case is not None:
        after, lapsed = case.closed()
        await lapse(ctx, lapsed, "case closed before it was sent")
        save(ctx, case, after)


async def on_case_reopened(event: Event, ctx: Context[Deps]) -> None:
    case = await store.case(ctx.uow, event.key)
    save(ctx, case, case.reopened() if case is not None else None)


async def on_breach_withdrawn(event: SlaBreachWithdrawn, ctx: Context[Deps]) -> None:
    """The breach was disproved: an apology not yet sent for it is not sent."""
    p = event.payload
    ids = tuple(notification_id(p.case_id, p.breach_event_id, k) for k in (CUSTOMER, *NotifyChannel))
    await lapse(ctx, ids, "breach withdrawn")
