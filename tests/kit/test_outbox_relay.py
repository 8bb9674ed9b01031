"""The outbox relay on a real SQLite store: one publisher per slot, commit order, leftovers, parking."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from caseflow_kit.metrics import KitMetrics
from caseflow_kit.outbox import PARKED, PARKED_COLLECTION, OutboxRelay
from caseflow_kit.ownership import Ownership
from caseflow_kit.publisher import Published
from caseflow_kit.store import OutboxMessage, Query
from caseflow_kit.store.sqlite import SqliteStore


def message(n: int, slot: int = 0, size: int = 0) -> OutboxMessage:
    return OutboxMessage("t", f"k{n}", str(n).encode() + b"x" * size, {"x-event-id": str(n)}, slot=slot)


class Broker:
    """Accepts what it is given, in order; `down` refuses everything for now, `too_large` for good."""

    def __init__(self) -> None:
        self.values: list[bytes] = []
        self.down = False
        self.too_large = 1 << 30
        self.published = asyncio.Event()

    async def publish(self, messages: Sequence[OutboxMessage]) -> Published:
        result = Published()
        for i, m in enumerate(messages):
            if self.down:
                result.unsent = list(range(i, len(messages)))
                result.error = ConnectionError("broker down")
                break
            if len(m.value) > self.too_large:
                result.refused[i] = "oversized"
                continue
            self.values.append(m.value)
            result.sent.append(i)
        self.published.set()
        return result


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "relay.db")
    await s.open([PARKED_COLLECTION])
    yield s
    await s.close()


def relay_on(store: SqliteStore, broker: Broker, owned: set[int], **kw: int) -> tuple[OutboxRelay, KitMetrics]:
    ownership = Ownership()
    ownership.configure(4)
    ownership.owned = frozenset(owned)
    metrics = KitMetrics(CollectorRegistry())
    return OutboxRelay(store, broker.publish, metrics, ownership, **kw), metrics  # type: ignore[arg-type]


async def test_commits_are_published_in_order_and_forgotten(store: SqliteStore) -> None:
    broker = Broker()
    relay, _ = relay_on(store, broker, {0}, batch=3)
    for n in range(0, 10, 2):
        relay.committed(await store.commit([message(n), message(n + 1)]))
    assert await relay.flush() == 10
    assert broker.values == [str(n).encode() for n in range(10)]
    assert await store.outbox_pending(100) == []


async def test_only_the_slots_held_are_published_the_others_stay_for_their_holder(store: SqliteStore) -> None:
    broker, other = Broker(), Broker()
    mine, _ = relay_on(store, broker, {0, 2})
    theirs, _ = relay_on(store, other, {1, 3})
    await store.commit([message(n, slot=n % 4) for n in range(8)])
    assert await mine.flush() == 4
    assert broker.values == [b"0", b"2", b"4", b"6"]
    assert [r.message.slot for r in await store.outbox_pending(100)] == [1, 3, 1, 3]
    assert await theirs.flush() == 4
    assert other.values == [b"1", b"3", b"5", b"7"]


async def test_taking_over_a_slot_publishes_its_leftovers_first(store: SqliteStore) -> None:
    await store.commit([message(1, slot=2), message(2, slot=2)])  # committed by a process killed before publishing
    broker = Broker()
    relay, _ = relay_on(store, broker, set())
    assert await relay.flush() == 0  # not ours yet
    relay._ownership.owned = frozenset({2})
    await relay.take_over(frozenset({2}))
    assert broker.values == [b"1", b"2"]


async def test_taking_over_waits_for_the_broker_rather_than_consume_ahead(store: SqliteStore) -> None:
    await store.commit([message(1, slot=1)])
    broker = Broker()
    broker.down = True
    relay, _ = relay_on(store, broker, {1})
    taking = asyncio.create_task(relay.take_over(frozenset({1}), retry_s=0.01))
    for _ in range(500):
        if broker.published.is_set():
            break
        await asyncio.sleep(0.01)
    assert not taking.done()
    broker.down = False
    await asyncio.wait_for(taking, 5)
    assert broker.values == [b"1"]


async def test_a_failed_publish_keeps_what_was_not_sent_for_the_next_flush(store: SqliteStore) -> None:
    broker = Broker()
    relay, _ = relay_on(store, broker, {0})
    relay.committed(await store.commit([message(1)]))
    broker.down = True
    with pytest.raises(ConnectionError):
        await relay.flush()
    broker.down = False
    assert await relay.flush() == 1
    assert broker.values == [b"1"]


async def test_a_record_refused_for_good_is_parked_and_never_blocks_the_rest(store: SqliteStore) -> None:
    broker = Broker()
    broker.too_large = 100
    relay, metrics = relay_on(store, broker, {0})
    relay.committed(await store.commit([message(1), message(2, size=500), message(3)]))
    assert await relay.flush() == 3
    assert broker.values == [b"1", b"3"]
    assert await store.outbox_pending(10) == []
    [parked] = await store.find(PARKED, Query())
    assert (parked["topic"], parked["key"], parked["reason"]) == ("t", "k2", "oversized")
    assert metrics.parked.labels("t", "oversized")._value.get() == 1


async def test_handing_over_with_the_broker_down_leaves_the_rows_for_the_next_holder(store: SqliteStore) -> None:
    broker = Broker()
    broker.down = True
    relay, _ = relay_on(store, broker, {0})
    relay.committed(await store.commit([message(1)]))
    await relay.hand_over(frozenset({0}), timeout_s=0.2)
    assert len(await store.outbox_pending(10, frozenset({0}))) == 1


async def test_the_background_task_publishes_right_after_a_commit(store: SqliteStore) -> None:
    broker = Broker()
    relay, _ = relay_on(store, broker, {0})
    task = asyncio.create_task(relay.run(interval_s=60))
    try:
        relay.committed(await store.commit([message(7)]))
        await asyncio.wait_for(broker.published.wait(), 5)
        assert broker.values == [b"7"]
    finally:
        task.cancel()


async def test_backpressure_when_the_broker_lags(store: SqliteStore) -> None:
    broker = Broker()
    relay, _ = relay_on(store, broker, {0}, max_backlog=2)
    relay.committed(await store.commit([message(1), message(2)]))
    waiting = asyncio.create_task(relay.room())
    await asyncio.sleep(0)
    assert not waiting.done()
    await relay.flush()
    await asyncio.wait_for(waiting, 1)
