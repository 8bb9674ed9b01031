"""The outbox relay: publishes committed events in commit order, then forgets them.

Two paths. The fast one: every commit hands the relay the outbox records it wrote
(`enqueue`), and the relay's task publishes them while the consumer goes on with the
next batch; the events are already safe in the store, so nothing waits for the broker
but the relay. The slow one, `sweep`, reads what is still in the store: rows a crashed
process committed but never published, or rows of another replica sharing the store
that it did not manage to publish. A row is swept only once it has been seen pending on
two sweeps in a row, so a live replica's own rows are left to it, and only the holder
of the sweep lease sweeps. Delivery stays at-least-once: a crash between publishing and
forgetting republishes, and consumers recognise the event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

from . import logs
from .lease import RelayLease
from .metrics import KitMetrics
from .store import OutboxMessage, OutboxRecord, Store

Publish = Callable[[Sequence[OutboxMessage]], Awaitable[None]]
log = logging.getLogger("caseflow.outbox")
BUSY_SWEEP_S = 5.0


class OutboxRelay:
    def __init__(
        self,
        store: Store,
        publish: Publish,
        metrics: KitMetrics,
        *,
        lease: RelayLease | None = None,
        batch: int = 1000,
        max_queued: int = 20_000,
    ) -> None:
        self._store = store
        self._publish = publish
        self._metrics = metrics
        self._lease = lease
        self._batch = batch
        self._max_queued = max_queued
        self._lock = asyncio.Lock()
        self._queue: deque[OutboxRecord] = deque()
        self._queued_ids: set[str] = set()
        self._seen_pending: set[str] = set()
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()

    def enqueue(self, records: Sequence[OutboxRecord]) -> None:
        """Records a commit just wrote: publish them soon, in this order."""
        if not records:
            return
        self._queue.extend(records)
        self._queued_ids.update(r.id for r in records)
        self._metrics.outbox_backlog.set(len(self._queue))
        if len(self._queue) >= self._max_queued:
            self._room.clear()
        self._wake.set()

    async def room(self) -> None:
        """Wait while the broker lags far behind the commits (backpressure on the consumer)."""
        await self._room.wait()

    async def flush(self) -> int:
        """Publish everything enqueued so far; return how many."""
        sent = 0
        async with self._lock:
            while self._queue:
                chunk = [self._queue[i] for i in range(min(self._batch, len(self._queue)))]
                await self._send(chunk)
                for _ in chunk:
                    self._queue.popleft()
                self._queued_ids.difference_update(r.id for r in chunk)
                sent += len(chunk)
            self._metrics.outbox_backlog.set(0)
            self._room.set()
        return sent

    async def sweep(self) -> int:
        """Publish rows left in the store that no live relay is publishing (see the module docstring)."""
        if self._lease is not None and not await self._lease.held():
            self._seen_pending.clear()
            return 0
        sent = 0
        async with self._lock:
            pending = [r for r in await self._store.outbox_pending(self._batch) if r.id not in self._queued_ids]
            stale = [r for r in pending if r.id in self._seen_pending]
            self._seen_pending = {r.id for r in pending} - {r.id for r in stale}
            if stale:
                log.info("publishing events left in the store", extra=logs.log_fields(count=len(stale)))
                await self._send(stale)
                sent = len(stale)
        return sent

    async def release(self) -> None:
        """Stopping: let another replica take over the sweep at once."""
        if self._lease is not None:
            await self._lease.release()

    async def _send(self, records: Sequence[OutboxRecord]) -> None:
        await self._publish([r.message for r in records])
        await self._store.outbox_done([r.id for r in records])
        for r in records:
            self._metrics.published.labels(r.message.topic).inc()

    async def run(self, interval_s: float) -> None:
        """Background task: publish as soon as commits arrive; sweep the store every `interval_s`."""
        loop = asyncio.get_running_loop()
        next_sweep = loop.time()
        delay = 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, min(next_sweep - loop.time(), 10.0)) + delay):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
                if loop.time() >= next_sweep:
                    await self.sweep()
                    # While commits keep coming, nearly every pending row is this relay's own: sweep rarely.
                    next_sweep = loop.time() + (interval_s if not self._queue else max(interval_s, BUSY_SWEEP_S))
                delay = 0.0
            except Exception:
                log.exception("outbox relay failed; retrying")
                delay = min(delay * 2 or 0.1, 10.0)
