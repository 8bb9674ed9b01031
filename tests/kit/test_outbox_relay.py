"""The outbox relay on a real SQLite store: commit order, the sweep of leftovers, the sweep lease."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from caseflow_kit.lease import LEASE_COLLECTION, RelayLease
from caseflow_kit.metrics import KitMetrics
from caseflow_kit.outbox import OutboxRelay
from caseflow_kit.store import OutboxMessage
from caseflow_kit.store.sqlite import SqliteStore


def message(n: int) -> OutboxMessage:
    return OutboxMessage("t", f"k{n}", str(n).encode(), {"x-event-id": str(n)})


class Broker:
    def __init__(self) -> None:
        self.values: list[bytes] = []
        self.fail = False
        self.published = asyncio.Event()

    async def publish(self, messages: Sequence[OutboxMessage]) -> None:
        if self.fail:
            raise ConnectionError("broker down")
        self.values += [m.value for m in messages]
        self.published.set()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "relay.db")
    await s.open([LEASE_COLLECTION])
    yield s
    await s.close()


def relay_on(store: SqliteStore, broker: Broker, **kw: object) -> OutboxRelay:
    return OutboxRelay(store, broker.publish, KitMetrics(CollectorRegistry()), **kw)  # type: ignore[arg-type]


async def test_commits_are_published_in_order_and_forgotten(store: SqliteStore) -> None:
    broker = Broker()
    relay = relay_on(store, broker, batch=3)
    for n in range(0, 10, 2):
        relay.enqueue(await store.commit([message(n), message(n + 1)]))
    assert await relay.flush() == 10
    assert broker.values == [str(n).encode() for n in range(10)]
    assert await store.outbox_pending(100) == []


async def test_a_failed_publish_keeps_the_events_for_the_next_flush(store: SqliteStore) -> None:
    broker = Broker()
    relay = relay_on(store, broker)
    relay.enqueue(await store.commit([message(1)]))
    broker.fail = True
    with pytest.raises(ConnectionError):
        await relay.flush()
    broker.fail = False
    assert await relay.flush() == 1
    assert broker.values == [b"1"]


async def test_the_sweep_publishes_leftovers_only_once_seen_twice(store: SqliteStore) -> None:
    await store.commit([message(1), message(2)])  # a crashed process committed, never published
    broker = Broker()
    relay = relay_on(store, broker)
    mine = await store.commit([message(3)])
    relay.enqueue(mine)  # this relay's own, in its queue: never swept
    assert await relay.sweep() == 0  # first sighting: perhaps a live replica is publishing them
    assert await relay.sweep() == 2
    assert broker.values == [b"1", b"2"]
    assert await relay.flush() == 1
    assert await relay.sweep() == 0
    assert broker.values == [b"1", b"2", b"3"]


async def test_a_row_published_between_sweeps_is_not_published_again(store: SqliteStore) -> None:
    other = Broker()
    elsewhere = relay_on(store, other)  # another replica on the same store
    broker = Broker()
    relay = relay_on(store, broker)
    elsewhere.enqueue(await store.commit([message(1)]))
    assert await relay.sweep() == 0
    await elsewhere.flush()
    assert await relay.sweep() == 0
    assert broker.values == []
    assert other.values == [b"1"]


async def test_only_the_lease_holder_sweeps(store: SqliteStore) -> None:
    await store.commit([message(1)])
    a_broker, b_broker = Broker(), Broker()
    a = relay_on(store, a_broker, lease=RelayLease(store, ttl_s=30))
    b = relay_on(store, b_broker, lease=RelayLease(store, ttl_s=30))
    for _ in range(3):
        await a.sweep()
        await b.sweep()
    assert a_broker.values == [b"1"]
    assert b_broker.values == []


async def test_the_background_task_publishes_right_after_a_commit(store: SqliteStore) -> None:
    broker = Broker()
    relay = relay_on(store, broker)
    task = asyncio.create_task(relay.run(interval_s=60))
    try:
        await asyncio.sleep(0.05)
        relay.enqueue(await store.commit([message(7)]))
        await asyncio.wait_for(broker.published.wait(), 2)
        assert broker.values == [b"7"]
    finally:
        task.cancel()


async def test_backpressure_when_the_broker_lags(store: SqliteStore) -> None:
    broker = Broker()
    relay = relay_on(store, broker, max_queued=2)
    relay.enqueue(await store.commit([message(1), message(2)]))
    waiting = asyncio.create_task(relay.room())
    await asyncio.sleep(0.01)
    assert not waiting.done()
    await relay.flush()
    await asyncio.wait_for(waiting, 1)


async def test_one_relay_lease_at_a_time(store: SqliteStore) -> None:
    a, b = RelayLease(store, ttl_s=30), RelayLease(store, ttl_s=30)
    assert await a.held()
    assert not await b.held()
    assert await a.held()  # renewing is free while fresh
    await a.release()
    assert await b.held()
    assert not await a.held()


async def test_an_expired_lease_passes_to_another_replica(store: SqliteStore) -> None:
    a, b = RelayLease(store, ttl_s=0.05), RelayLease(store, ttl_s=0.05)
    assert await a.held()
    await asyncio.sleep(0.1)  # a replica that went silent
    assert await b.held()
    assert not await a.held()
