"""intake with a real SQLite store and no broker: records go straight into the guarded consumer."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from caseflow_contracts import Event, Topic, parse_event, topic_for
from caseflow_intake.app import SPEC
from caseflow_intake.settings import IntakeSettings
from caseflow_kit import Runtime
from caseflow_kit.consumer import GuardedConsumer
from caseflow_kit.outbox import OutboxRelay
from caseflow_kit.store import OutboxMessage
from caseflow_kit.store.sqlite import SqliteStore
from caseflow_kit.uow import event_headers

from .factories import TEST_KEY, TEST_PSEUDONYM_KEY

_offsets = itertools.count()


@dataclass
class FakeRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]] = field(default_factory=list)


class IntakeUnderTest:
    def __init__(self, runtime: Runtime[IntakeSettings, Any]) -> None:
        self.runtime = runtime
        self.consumers = {c.subscription.topic.name: c for c in runtime.consumers}
        self.published: list[OutboxMessage] = []
        self.seen = 0

        async def publish(messages: Sequence[OutboxMessage]) -> None:
            self.published.extend(messages)

        runtime.relay = OutboxRelay(runtime.store, publish, runtime.metrics)

    def consumer(self, topic: Topic) -> GuardedConsumer:
        return self.consumers[topic.name]

    def _outcomes(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for metric in self.runtime.registry.collect():
            for sample in metric.samples:
                if sample.name == "caseflow_events_handled_total":
                    counts[sample.labels["outcome"]] += int(sample.value)
        return counts

    @staticmethod
    def record(event: Event) -> FakeRecord:
        topic = topic_for(type(event))
        headers = [(k, v.encode()) for k, v in event_headers(event).items()]
        return FakeRecord(topic.name, 0, next(_offsets), event.key.encode(), event.to_bytes(), headers)

    async def deliver(self, event: Event) -> str:
        """One event in a batch of its own; returns its outcome (handled, duplicate, dead_lettered, ignored)."""
        [outcome] = await self.deliver_batch(topic_for(type(event)), [self.record(event)])
        return outcome

    async def deliver_batch(self, topic: Topic, records: Sequence[FakeRecord]) -> list[str]:
        before = self._outcomes()
        await self.consumer(topic).handle_batch(records)
        grew = self._outcomes() - before
        return sorted(grew.elements())

    async def deliver_raw(self, topic: Topic, value: bytes, *, key: bytes | None = b"k") -> str:
        [outcome] = await self.deliver_batch(topic, [FakeRecord(topic.name, 0, next(_offsets), key, value)])
        return outcome

    async def emitted(self) -> list[tuple[str, Any]]:
        """Everything published since the last call: (topic, event), or (topic, message) for dead letters."""
        await self.runtime.relay.flush()  # what the runtime's relay task does right after each commit
        fresh = self.published[self.seen :]
        self.seen = len(self.published)
        return [(m.topic, m if m.topic.endswith(".dlq") else parse_event(m.value)) for m in fresh]

    async def case(self, case_id: str) -> dict[str, Any] | None:
        return await self.runtime.store.get("cases", case_id)


def settings(tmp_path: Path, **overrides: Any) -> IntakeSettings:
    values: dict[str, Any] = {
        "pii_key": TEST_KEY,
        "pseudonym_key": TEST_PSEUDONYM_KEY,
        "data_dir": tmp_path,
        "retry_backoff_ms": 1,
        "log_format": "console",
    }
    values.update(overrides)
    return IntakeSettings.model_validate(values)


@asynccontextmanager
async def intake(tmp_path: Path, **overrides: Any) -> AsyncIterator[IntakeUnderTest]:
    runtime = Runtime(SPEC, settings(tmp_path, **overrides), SqliteStore(tmp_path / "intake.db"))
    await runtime.start_dependencies()
    try:
        yield IntakeUnderTest(runtime)
    finally:
        await runtime.close()
