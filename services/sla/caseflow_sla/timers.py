"""The timer loop: fire due clocks from the store, once, by the replica that holds the case's slot.

Timers are the clocks' `due_at` field (indexed). Each replica fires the clocks of the
slots it holds (caseflow_kit.ownership), so a case's breaches leave in order with the
rest of its events; firing is a compare-and-set on the clock's version inside one unit
of work with the outgoing events, so a handler racing the timer never makes it publish
twice, and a replica that takes over slots fires at once whatever came due meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from caseflow_kit import Runtime
from caseflow_kit.logs import log_fields
from caseflow_kit.store import ConflictError, Doc

from . import domain
from .domain import Clock
from .events import sla_event
from .handlers import SlaDeps
from .settings import SlaSettings
from .store import CLOCKS, clock_doc, due_clocks, next_due

log = logging.getLogger("caseflow.sla.timers")


#: A timer due within this many seconds counts as due (no spinning on float equality).
EPSILON = 0.001


def _fire_into(uow: Any, deps: SlaDeps, doc: Doc, now: float) -> int:
    clock = Clock.from_doc(doc)
    now = max(now, float(doc.get("due_at") or now))
    book = deps.book
    decisions = domain.fire(clock, book.calendar(clock.calendar), now)
    uow.update(CLOCKS, clock_doc(uow, clock, int(doc["_v"])))
    for decision in decisions:
        uow.emit(sla_event(clock, decision, at=now, producer=deps.producer, cause=None))
    return len(decisions)


async def fire_due(runtime: Runtime[SlaSettings, SlaDeps], *, limit: int | None = None) -> int:
    """Fire one batch of due timers; return how many clocks were looked at."""
    deps = runtime.deps
    deps.policies()
    now = deps.now()
    held = runtime.ownership.owned
    docs = await due_clocks(runtime.store, now + EPSILON, limit or runtime.settings.timer_batch, held)
    if not docs:
        return 0
    uow = runtime.unit_of_work()
    emitted = sum(_fire_into(uow, deps, doc, now) for doc in docs)
    try:
        await uow.commit()
    except ConflictError:
        # Another replica (or a handler) changed some of them: one at a time, re-reading each.
        emitted = 0
        for doc in docs:
            fresh = await runtime.store.get(CLOCKS, doc["_id"])
            if fresh is None or fresh.get("due_at") is None or float(fresh["due_at"]) >= now + EPSILON:
                continue
            single = runtime.unit_of_work()
            count = _fire_into(single, deps, fresh, now)
            with contextlib.suppress(ConflictError):
                await single.commit()
                emitted += count
    if emitted:
        await runtime.relay.flush()
    return len(docs)


async def run_timers(runtime: Runtime[SlaSettings, SlaDeps]) -> None:
    """Background task: fire what is due, then sleep until the next timer (or a wake-up), at most timer_poll_ms."""
    deps = runtime.deps
    longest = runtime.settings.timer_poll_ms / 1000
    while True:
        deps.wake.clear()
        try:
            looked = await fire_due(runtime)
            if looked >= runtime.settings.timer_batch:
                await asyncio.sleep(0)
                continue
            upcoming = await next_due(runtime.store, deps.now(), runtime.ownership.owned)
        except Exception as exc:  # noqa: BLE001 - a store hiccup must not end the timer loop
            log.warning("timer loop failed; retrying", extra=log_fields(error=type(exc).__name__))
            await asyncio.sleep(longest)
            continue
        delay = longest if upcoming is None else min(longest, max(0.0, upcoming - deps.now()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(deps.wake.wait(), timeout=delay)
