"""The outbox relay: publishes committed events in order, then forgets them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from .metrics import KitMetrics
from .store import OutboxMessage, Store

Publish = Callable[[Sequence[OutboxMessage]], Awaitable[None]]
log = logging.getLogger("caseflow.outbox")


class OutboxRelay:
    def __init__(self, store: Store, publish: Publish, metrics: KitMetrics, *, batch: int = 1000) -> None:
        self._store = store
        self._publish = publish
        self._metrics = metrics
        self._batch = batch
        self._lock = asyncio.Lock()

    async def flush(self) -> int:
        """Publish everything pending; return how many. A crash mid-way republishes (consumers de-duplicate)."""
        sent = 0
        async with self._lock:
            while records := await self._store.outbox_pending(self._batch):
                await self._publish([r.message for r in records])
                await self._store.outbox_done([r.id for r in records])
                for r in records:
                    self._metrics.published.labels(r.message.topic).inc()
                sent += len(records)
                if len(records) < self._batch:
                    break
            self._metrics.outbox_backlog.set(await self._store.outbox_backlog())
        return sent

    async def run(self, interval_s: float) -> None:
        """Background loop: catches what a crashed predecessor left, and what commits outside handlers add."""
        delay = interval_s
        while True:
            await asyncio.sleep(delay)
            try:
                await self.flush()
                delay = interval_s
            except Exception:
                log.exception("outbox relay failed; retrying")
                delay = min(delay * 2, 10.0)
