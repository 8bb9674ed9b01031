"""intake with a real SQLite store and no broker: records go straight into the guarded consumer."""

from __future__ import annotations

import itertools
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
from caseflow_kit.store.sqlite import SqliteStore
from caseflow_kit.uow import event_headers

from .factories import TEST_KEY

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
        self.seen = 0

    def consumer(self, topic: Topic) -> GuardedConsumer:
        return self.consumers[topic.name]

    async def deliver(self, event: Event) -> str:
        topic = topic_for(type(event))
        headers = [(k, v.encode()) for k, v in event_headers(event).items()]
        return await self.deliver_raw(topic, event.to_bytes(), key=event.key.encode(), headers=headers)

    async def deliver_raw(
        self, topic: Topic, value: bytes, *, key: bytes | None = b"k", headers: Sequence[tuple[str, bytes]] = ()
    ) -> str:
        record = FakeRecord(topic.name, 0, next(_offsets), key, value, list(headers))
        return await self.consumer(topic).handle_record(record)

    async def emitted(self) -> list[tuple[str, Any]]:
        """Everything committed to the outbox since the last call: (topic, event or raw bytes)."""
        records = await self.runtime.store.outbox_pending(100_000)
        fresh = records[self.seen :]
        self.seen = len(records)
        out: list[tuple[str, Any]] = []
        for r in fresh:
            if r.message.topic.endswith(".dlq"):
                out.append((r.message.topic, r.message))
            else:
                out.append((r.message.topic, parse_event(r.message.value)))
        return out

    async def case(self, case_id: str) -> dict[str, Any] | None:
        return await self.runtime.store.get("cases", case_id)


def settings(tmp_path: Path, **overrides: Any) -> IntakeSettings:
    values: dict[str, Any] = {"pii_key": TEST_KEY, "data_dir": tmp_path, "retry_backoff_ms": 1, "log_format": "console"}
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
