"""notify on the shared rig (caseflow_dev.rig): its real runtime, consumer, SQLite store and worker, a
ManualClock the tests advance instead of sleeping, and the shared SMTP / HTTP receivers."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from caseflow_contracts import Event
from caseflow_dev.rig import ServiceUnderTest, service_under_test
from caseflow_dev.sinks import HttpSink, SmtpSink
from caseflow_kit.clock import ManualClock
from caseflow_kit.store import OutboxMessage, Query
from caseflow_notify import store
from caseflow_notify.app import SPEC
from caseflow_notify.deps import Deps
from caseflow_notify.domain import Delivery
from caseflow_notify.settings import NotifySettings
from caseflow_notify.worker import DeliveryWorker

from .support import NOW, notify_overrides, sms_gateway, webhook_receiver, write_policy

Sut = ServiceUnderTest[NotifySettings, Deps]


@dataclass
class Rig:
    tmp: Path
    web: HttpSink
    sms: HttpSink
    smtp: SmtpSink
    clock: ManualClock
    settings: NotifySettings
    sut: Sut
    stack: contextlib.AsyncExitStack

    @property
    def worker(self) -> DeliveryWorker:
        worker = self.sut.deps.worker
        assert worker is not None
        return worker

    async def handle(self, *events: Event) -> None:
        """Through the real consumer, as records from the broker."""
        outcomes = await self.sut.deliver(*events)
        assert set(outcomes) <= {"handled", "duplicate"}, outcomes

    async def deliveries(self, cid: str) -> list[Delivery]:
        return await store.of_case(self.sut.runtime.store, cid)

    async def all_deliveries(self) -> list[Delivery]:
        return [store.delivery_from_doc(d) for d in await self.sut.runtime.store.find(store.DELIVERIES, Query())]

    async def by_channel(self, cid: str) -> dict[str, Delivery]:
        return {d.any_channel.value: d for d in await self.deliveries(cid)}

    async def events(self, event_type: str) -> list[Event]:
        return await self.sut.events(event_type)

    async def dead_letters(self) -> list[OutboxMessage]:
        return await self.sut.dead_letters()

    async def count(self, state: str) -> int:
        return await self.sut.runtime.store.count(store.DELIVERIES, Query(where={"state": state}))

    async def drain(self, rounds: int = 40, *, wait_up_to_s: float = 3600) -> None:
        """Run worker rounds until nothing is left to do, moving the clock to the next due time (retries
        after their backoff) as long as that is within `wait_up_to_s` of the start."""
        limit = self.clock.time() + wait_up_to_s
        for _ in range(rounds):
            await self.worker.run_once()
            if await self.count("sending"):
                continue
            due = await self.sut.runtime.store.find(
                store.DELIVERIES, Query(range_field="due_at", lt=1e18, order_by="due_at", limit=1)
            )
            if not due:
                return
            next_due = float(due[0]["due_at"])
            if next_due > limit:
                return
            if next_due > self.clock.time():  # the clock keeps microseconds: step just past the due time
                self.clock.advance(next_due - self.clock.time() + 1e-6)

    async def restart(self) -> None:
        """A new process on the same data and clock: new runtime, new worker, same SQLite file."""
        await self.stack.aclose()
        self.stack = contextlib.AsyncExitStack()
        self.sut = await self.stack.enter_async_context(service_under_test(SPEC, self.settings, clock=self.clock))


@contextlib.asynccontextmanager
async def notify_rig(tmp: Path, **policy_changes: Any) -> AsyncIterator[Rig]:
    clock = ManualClock(NOW)
    with SmtpSink() as smtp:
        async with webhook_receiver(now=clock.time) as web, sms_gateway() as sms:
            overrides = notify_overrides(write_policy(tmp, **policy_changes), web, sms, smtp)
            settings = NotifySettings.model_validate({**overrides, "data_dir": tmp, "log_format": "console"})
            stack = contextlib.AsyncExitStack()
            sut = await stack.enter_async_context(service_under_test(SPEC, settings, clock=clock))
            rig = Rig(tmp, web, sms, smtp, clock, settings, sut, stack)
            try:
                yield rig
            finally:
                await rig.stack.aclose()
