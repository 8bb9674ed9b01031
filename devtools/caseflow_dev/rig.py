"""One rig for a service under test without the broker: its real runtime, consumer, store and relay.

Records go straight into the kit's guarded consumer (parse, de-duplicate, handle, commit, dead-letter)
and what the relay publishes is kept instead of sent. The clock is a ManualClock that tests advance
instead of sleeping. Tests that cross a service boundary use the real broker (caseflow_dev.testing).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from caseflow_contracts import Event, Topic, parse_event, topic_for
from caseflow_kit import Runtime, ServiceSpec
from caseflow_kit.clock import ManualClock
from caseflow_kit.consumer import GuardedConsumer
from caseflow_kit.publisher import Published
from caseflow_kit.settings import KitSettings
from caseflow_kit.store import OutboxMessage, Store
from caseflow_kit.uow import event_headers

S = TypeVar("S", bound=KitSettings)
D = TypeVar("D")
#: A fixed start: a test never depends on the day it runs.
EPOCH = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


@dataclass
class FakeRecord:
    """A consumed Kafka record, as aiokafka hands it to the consumer."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]] = field(default_factory=list)
    timestamp: int = -1  # when the broker accepted it, ms; -1: unknown (the handler's clock is used)


class BrokerStandIn:
    """Takes what the relay publishes, in order, as the broker would acknowledge it.

    `lose_acks`: the next N publishes reach the broker but their acknowledgement is lost (the relay died
    between publishing and forgetting): the relay fails and publishes the same rows again later.
    """

    def __init__(self) -> None:
        self.published: list[OutboxMessage] = []
        self.lose_acks = 0

    async def publish(self, messages: Sequence[OutboxMessage]) -> Published:
        self.published.extend(messages)
        if self.lose_acks > 0:
            self.lose_acks -= 1
            return Published(unsent=list(range(len(messages))), error=ConnectionError("acknowledgement lost"))
        return Published(sent=list(range(len(messages))))


class ServiceUnderTest(Generic[S, D]):
    def __init__(self, runtime: Runtime[S, D], broker: BrokerStandIn, clock: ManualClock) -> None:
        self.runtime = runtime
        self.broker = broker
        self.clock = clock
        self._offsets = itertools.count()
        self._seen = 0

    @property
    def deps(self) -> D:
        return self.runtime.deps

    def consumer(self, topic: Topic) -> GuardedConsumer:
        [found] = [c for c in self.runtime.consumers if c.subscription.topic.name == topic.name]
        return found

    def record(self, event: Event, *, partition: int = 0) -> FakeRecord:
        """The event as a consumed record. The broker accepts it when it happened: the clock moves on to
        its time (never back), so a story told with event times is also handled at those times."""
        if event.occurred_at > self.clock.now():
            self.clock.set(event.occurred_at)
        headers = [(k, v.encode()) for k, v in event_headers(event).items()]
        name = self.runtime.topic_name(topic_for(type(event)))
        accepted = int(self.clock.time() * 1000)
        return FakeRecord(name, partition, next(self._offsets), event.key.encode(), event.to_bytes(), headers, accepted)

    def raw_record(
        self, topic: Topic, value: bytes, *, key: bytes | None = b"k", headers: Sequence[tuple[str, bytes]] = ()
    ) -> FakeRecord:
        return FakeRecord(self.runtime.topic_name(topic), 0, next(self._offsets), key, value, list(headers))

    def outcomes(self) -> Counter[str]:
        """What the kit counted so far, by outcome (handled, duplicate, ignored, dead_lettered)."""
        counts: Counter[str] = Counter()
        for metric in self.runtime.metrics.handled.collect():
            for sample in metric.samples:
                if sample.name.endswith("_total"):
                    counts[sample.labels["outcome"]] += int(sample.value)
        return counts

    async def deliver_records(self, topic: Topic, records: Sequence[FakeRecord]) -> list[str]:
        """One batch through the consumer; returns the outcomes it added, sorted."""
        before = self.outcomes()
        await self.consumer(topic).handle_batch(records)
        return sorted((self.outcomes() - before).elements())

    async def deliver(self, *events: Event, batch: bool = False) -> list[str]:
        """Events through the consumer: one batch each, or all in one batch (they must share a topic)."""
        if not events:
            return []
        if batch:
            return await self.deliver_records(topic_for(type(events[0])), [self.record(e) for e in events])
        outcomes: list[str] = []
        for event in events:
            outcomes += await self.deliver_records(topic_for(type(event)), [self.record(event)])
        return outcomes

    async def deliver_raw(
        self, topic: Topic, value: bytes, *, key: bytes | None = b"k", headers: Sequence[tuple[str, bytes]] = ()
    ) -> str:
        [outcome] = await self.deliver_records(topic, [self.raw_record(topic, value, key=key, headers=headers)])
        return outcome

    async def published(self) -> list[OutboxMessage]:
        """Everything published so far (the relay is flushed first, as its task does after each commit)."""
        await self.runtime.relay.flush()
        return list(self.broker.published)

    async def emitted(self) -> list[tuple[str, Any]]:
        """What was published since the last call: (topic, event), or (topic, message) for dead letters."""
        everything = await self.published()
        fresh = everything[self._seen :]
        self._seen = len(everything)
        return [(m.topic, m if m.topic.endswith(".dlq") else parse_event(m.value)) for m in fresh]

    async def events(self, event_type: str | None = None) -> list[Event]:
        """Every event published so far (dead letters left out), optionally of one type."""
        found = [parse_event(m.value) for m in await self.published() if not m.topic.endswith(".dlq")]
        return [e for e in found if event_type is None or e.type == event_type]

    async def dead_letters(self) -> list[OutboxMessage]:
        return [m for m in await self.published() if m.topic.endswith(".dlq")]


@asynccontextmanager
async def service_under_test(
    spec: ServiceSpec[S, D],
    settings: S,
    *,
    store: Store | None = None,
    clock: ManualClock | None = None,
) -> AsyncIterator[ServiceUnderTest[S, D]]:
    """The service alone: it holds every slot (one), publishes to a stand-in, reads a manual clock."""
    broker = BrokerStandIn()
    clock = clock or ManualClock(EPOCH)
    runtime = Runtime(spec, settings, store, clock=clock, publish=broker.publish)
    runtime.ownership.own_everything(1)
    await runtime.start_dependencies()
    try:
        yield ServiceUnderTest(runtime, broker, clock)
    finally:
        await runtime.close()
