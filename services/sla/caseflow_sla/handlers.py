"""Inputs in → the case's aggregate → its clocks and facts saved, its events out. No decision is taken here.

Event time decides (the payloads' times), never arrival time: the rule for late and out-of-order events
is in the README. The same handler shape serves every input: load the case, apply the input to it, save
what changed, emit what it decided, wake the timers if a clock was armed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from caseflow_contracts import Event
from caseflow_contracts.notify import NotifyChannel
from caseflow_kit import Context

from .deps import SlaDeps
from .domain import CaseClocks, Cause
from .events import emit
from .store import load_case, save_case

Ctx = Context[SlaDeps]
Apply = Callable[[CaseClocks, Any], None]
Handler = Callable[[Event, Ctx], Awaitable[None]]


async def apply_to_case(ctx: Ctx, case_id: str, apply: Apply, payload: Any) -> None:
    deps, now = ctx.deps, ctx.now.timestamp()
    stored = await load_case(ctx.uow, case_id)
    cause = Cause(ctx.event.event_id, ctx.event.correlation_id, now)
    case = CaseClocks(stored.facts, stored.clocks, deps.book, deps.prices, cause)
    case.catch_up(ctx.event.occurred_at.timestamp())
    apply(case, payload)
    armed = any(clock.due_at is not None for clock in save_case(ctx.uow, stored, case))
    entries = [*case.charges, *case.reversals]
    emit(ctx.uow, case.signals, entries, producer=ctx.producer, cause=ctx.event, at=now)
    deps.metrics.count(case.signals, entries, now)
    if armed:
        deps.wake.set()


def handler(apply: Apply) -> Handler:
    async def handle(event: Event, ctx: Ctx) -> None:
        payload: Any = event.payload
        await apply_to_case(ctx, payload.case_id, apply, payload)

    return handle


LIFECYCLE: dict[str, Handler] = {
    "case.opened": handler(CaseClocks.opened),
    "case.merged": handler(CaseClocks.merged),
    "case.reopened": handler(CaseClocks.reopened),
    "case.escalated": handler(CaseClocks.escalated),
    "case.transferred": handler(CaseClocks.transferred),
    "case.callback_logged": handler(CaseClocks.callback_logged),
    "case.progress_noted": handler(CaseClocks.progress_noted),
    "case.awaiting_customer": handler(CaseClocks.awaiting_customer),
    "case.customer_responded": handler(CaseClocks.customer_responded),
    "case.resolved": handler(CaseClocks.resolved),
    "case.closed": handler(CaseClocks.closed),
    "case.note_refused": handler(CaseClocks.note_refused),
    "case.hq_ruled": handler(CaseClocks.hq_ruled),
    "case.satisfaction_recorded": handler(CaseClocks.satisfaction_recorded),
}
DELIVERIES: dict[str, Handler] = {"notification.sent": handler(CaseClocks.notification_sent)}
#: Only an e-mail to the customer acknowledges something (CaseClocks.notification_sent): the SMS and webhooks, most
#: of the topic, are passed over by their headers, never parsed.
DELIVERIES_ONLY = {"notification.sent": {"channel": frozenset({NotifyChannel.EMAIL.value})}}
CLAIMS: dict[str, Handler] = {
    "payout.issued": handler(CaseClocks.payout_issued),
    "chargeback.issued": handler(CaseClocks.chargeback),
    "chargeback.reversed": handler(CaseClocks.chargeback),
}
