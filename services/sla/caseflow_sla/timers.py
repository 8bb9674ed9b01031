"""The timer loop: fire due clocks from the store, once, by the replica that holds the case's slot.

Timers are the clocks' `timer` index (slot, due time). Each replica fires the clocks of the slots it
holds (caseflow_kit.ownership), so a case's breaches leave in order with the rest of its events. One
batch is one command of the kit's runner: found, fired and committed with its events in one unit of
work; when another writer (a handler, or a replica that held the slot a moment ago) changed one of the
clocks first, the runner runs the batch again from a fresh look at what is due, where that clock is
decided already.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from caseflow_kit import Runtime
from caseflow_kit.logs import log_fields
from caseflow_kit.uow import UnitOfWork

from . import domain
from .deps import SlaDeps
from .domain import Emitted, QaEntry
from .events import emit
from .settings import SlaSettings
from .store import clock_of, due_clocks, next_due, put_entries, save_clock

log = logging.getLogger("caseflow.sla.timers")

#: A timer due within this many seconds counts as due (no spinning on float equality).
EPSILON = 0.001


@dataclass
class Fired:
    looked: int
    signals: list[Emitted] = field(default_factory=list)
    charges: list[QaEntry] = field(default_factory=list)


def fire_clocks(uow: UnitOfWork, docs: list[dict[str, Any]], deps: SlaDeps, now: float, *, producer: str) -> Fired:
    """Fire these due clocks at `now` into `uow`: their decisions and charges saved and emitted (the live timer
    loop and the what-if replay share this, so a replay fires clocks exactly as the service does)."""
    fired = Fired(len(docs))
    book, prices = deps.book, deps.prices
    for doc in docs:
        clock = clock_of(doc)
        at = max(now, clock.due_at or now)
        decisions, charges = domain.fire(clock, book.working_time(clock.calendar), prices, at)
        save_clock(uow, clock, int(doc["_v"]))
        signals = [Emitted(clock, decision, at) for decision in decisions]
        emit(uow, signals, charges, producer=producer, cause=None, at=at)
        put_entries(uow, charges)
        fired.signals += signals
        fired.charges += charges
    return fired


async def fire_due(runtime: Runtime[SlaSettings, SlaDeps], *, limit: int | None = None) -> int:
    """Fire one batch of due timers; return how many clocks were looked at."""
    deps = runtime.deps
    now = runtime.clock.time()
    batch = limit or runtime.settings.timer_batch

    async def work(uow: UnitOfWork) -> Fired:
        docs = await due_clocks(runtime.store, now + EPSILON, batch, runtime.ownership.owned)
        return fire_clocks(uow, docs, deps, now, producer=runtime.service)

    fired = await runtime.commands.run(work)
    deps.metrics.count(fired.signals, fired.charges, now)
    if fired.signals:
        await runtime.relay.flush()
    return fired.looked


async def run_timers(runtime: Runtime[SlaSettings, SlaDeps]) -> None:
    """Background task: fire what is due, then sleep until the next timer (or a wake-up), at most timer_poll_ms."""
    deps, clock = runtime.deps, runtime.clock
    longest = runtime.settings.timer_poll_ms / 1000
    while True:
        deps.wake.clear()
        try:
            looked = await fire_due(runtime)
            if looked >= runtime.settings.timer_batch:
                await asyncio.sleep(0)
                continue
            upcoming = await next_due(runtime.store, clock.time(), runtime.ownership.owned)
        except Exception as exc:  # noqa: BLE001 - a store hiccup must not end the timer loop
            log.warning("timer loop failed; retrying", extra=log_fields(error=type(exc).__name__))
            await asyncio.sleep(longest)
            continue
        delay = longest if upcoming is None else min(longest, max(0.0, upcoming - clock.time()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(deps.wake.wait(), timeout=delay)
