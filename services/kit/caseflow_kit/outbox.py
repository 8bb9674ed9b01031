"""The outbox relay: publishes committed events of the slots this process holds, in commit order.

Each commit wakes the relay; it reads its slots' pending rows from the store in commit order,
publishes them, and forgets them once the broker acknowledged them. Rows of slots held by another
replica (an HTTP command served here, say) are left to that replica, whose relay finds them on its
next read. When the consumer is given slots it publishes their leftovers before it consumes them
(`take_over`); when slots are taken away it publishes what it can of theirs first (`hand_over`).
See caseflow_kit.ownership for why this keeps every case's events in commit order.

A record the broker refuses for good (too large, corrupt) is parked in the store with its reason
(collection `_parked`), counted, and never blocks the rows behind it. Anything else (no broker, no
leader) leaves the rows where they are, to be published again in the same order.
Delivery is at-least-once: a crash between publishing and forgetting republishes; event ids are
stable, so consumers recognise the copy.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence

from . import logs
from .clock import Clock, SystemClock
from .metrics import KitMetrics
from .ownership import Ownership
from .publisher import Published
from .store import Collection, OutboxMessage, OutboxRecord, Put, Store

Publish = Callable[[Sequence[OutboxMessage]], Awaitable[Published]]
log = logging.getLogger("caseflow.outbox")
PARKED = "_parked"
COMMIT_SEQ_HEADER = "x-commit-seq"
PARKED_COLLECTION = Collection(PARKED, indexes=("topic",))


def _with_commit_seq(row: OutboxRecord) -> OutboxMessage:
    """The message as published, with its place in the service's commit order (the outbox row id): per key,
    a consumer can check that what it receives from one service never goes back in that order. Padded so
    that it sorts as text whatever the store's ids look like."""
    seq = row.id.zfill(20) if row.id.isdigit() else row.id
    return dataclasses.replace(row.message, headers={**row.message.headers, COMMIT_SEQ_HEADER: seq})


class OutboxRelay:
    def __init__(
        self,
        store: Store,
        publish: Publish,
        metrics: KitMetrics,
        ownership: Ownership,
        *,
        clock: Clock | None = None,
        batch: int = 1000,
        max_backlog: int = 20_000,
    ) -> None:
        self._store = store
        self._publish = publish
        self._metrics = metrics
        self._ownership = ownership
        self._clock = clock or SystemClock()
        self._batch = batch
        self._max_backlog = max_backlog
        self._lock = asyncio.Lock()
        self._backlog = 0  # rows this process committed for its own slots and has not published yet
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()

    def committed(self, records: Sequence[OutboxRecord]) -> None:
        """A commit just wrote these rows: publish soon."""
        owned = self._ownership.owned
        self._backlog += sum(1 for r in records if r.message.slot in owned)
        if self._backlog >= self._max_backlog:
            self._room.clear()
        self._wake.set()

    async def room(self) -> None:
        """Wait while the broker lags far behind the commits (backpressure on the consumer)."""
        await self._room.wait()

    async def flush(self, slots: frozenset[int] | None = None) -> int:
        """Publish every pending row of these slots (default: all held); return how many left the outbox."""
        async with self._lock:
            return await self._drain(self._ownership.owned if slots is None else slots)

    async def take_over(self, slots: frozenset[int], *, retry_s: float = 0.5) -> None:
        """Slots just given to us: publish what their previous holder left before anything new is consumed."""
        while True:
            try:
                left = await self.flush(slots)
            except Exception as exc:  # noqa: BLE001 - keep trying: consuming before this is done breaks order
                log.warning("cannot publish a slot's leftovers yet", extra=logs.log_fields(error=type(exc).__name__))
                await asyncio.sleep(retry_s)
                continue
            if left:
                log.info("published events left by the slots' last holder", extra=logs.log_fields(count=left))
            return

    async def hand_over(self, slots: frozenset[int], timeout_s: float) -> None:
        """Slots being taken away: publish what we can of theirs; the next holder publishes the rest."""
        try:
            async with asyncio.timeout(timeout_s):
                await self.flush(slots)
        except Exception as exc:  # noqa: BLE001 - whatever is left stays in the store for the next holder
            log.warning("slots handed over with events unpublished", extra=logs.log_fields(error=type(exc).__name__))

    async def _drain(self, slots: frozenset[int]) -> int:
        total = 0
        while slots:
            rows = await self._store.outbox_pending(self._batch, slots)
            if not rows:
                break
            result = await self._publish([_with_commit_seq(r) for r in rows])
            await self._park([(rows[i], reason) for i, reason in sorted(result.refused.items())])
            done = [rows[i].id for i in result.sent] + [rows[i].id for i in result.refused]
            await self._store.outbox_done(done)
            for i in result.sent:
                self._metrics.published.labels(rows[i].message.topic).inc()
            total += len(done)
            self._published(len(done))
            if result.error is not None:
                raise result.error
            if len(rows) < self._batch:
                break
        return total

    def _published(self, count: int) -> None:
        self._backlog = max(0, self._backlog - count)
        if self._backlog < self._max_backlog:
            self._room.set()

    async def _park(self, refused: list[tuple[OutboxRecord, str]]) -> None:
        if not refused:
            return
        at = self._clock.now().isoformat()
        await self._store.commit(
            [
                Put(
                    PARKED,
                    {
                        "_id": f"{row.message.topic}|{row.id}",
                        "topic": row.message.topic,
                        "key": row.message.key,
                        "value": base64.b64encode(row.message.value).decode(),
                        "headers": dict(row.message.headers),
                        "slot": row.message.slot,
                        "reason": reason,
                        "at": at,
                    },
                )
                for row, reason in refused
            ]
        )
        for row, reason in refused:
            self._metrics.parked.labels(row.message.topic, reason).inc()
            log.error(
                "the broker refused an event for good; parked in the store",
                extra=logs.log_fields(topic=row.message.topic, reason=reason, bytes=len(row.message.value)),
            )

    async def run(self, interval_s: float) -> None:
        """Background task: publish as commits arrive, and every `interval_s` look for rows others left us."""
        delay = 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval_s + delay):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
                delay = 0.0
            except Exception:
                log.exception("outbox relay failed; retrying")
                delay = min(delay * 2 or 0.1, 10.0)
