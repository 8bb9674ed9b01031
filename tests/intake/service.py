"""intake with a real SQLite store and no broker: records go straight into the guarded consumer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from caseflow_contracts import Event, Topic
from caseflow_dev.rig import FakeRecord, ServiceUnderTest, service_under_test
from caseflow_intake import store
from caseflow_intake.app import SPEC
from caseflow_intake.domain.case import IntakeCase
from caseflow_intake.settings import IntakeSettings
from caseflow_kit.clock import ManualClock
from caseflow_kit.consumer import GuardedConsumer
from caseflow_kit.store.sqlite import SqliteStore

from .factories import NOW, TEST_KEY, TEST_PSEUDONYM_KEY


class IntakeUnderTest:
    """intake on the shared rig, with the shapes intake's tests read (one outcome per delivered event)."""

    def __init__(self, rig: ServiceUnderTest[IntakeSettings, Any]) -> None:
        self.rig = rig
        self.runtime = rig.runtime

    def consumer(self, topic: Topic) -> GuardedConsumer:
        return self.rig.consumer(topic)

    def record(self, event: Event) -> FakeRecord:
        return self.rig.record(event)

    async def deliver(self, event: Event) -> str:
        """One event in a batch of its own; returns its outcome (handled, duplicate, dead_lettered, ignored)."""
        [outcome] = await self.rig.deliver(event)
        return outcome

    async def deliver_batch(self, topic: Topic, records: Sequence[FakeRecord]) -> list[str]:
        return await self.rig.deliver_records(topic, records)

    async def deliver_raw(self, topic: Topic, value: bytes, *, key: bytes | None = b"k") -> str:
        return await self.rig.deliver_raw(topic, value, key=key)

    async def emitted(self) -> list[tuple[str, Any]]:
        return await self.rig.emitted()

    async def case(self, case_id: str) -> IntakeCase:
        """intake's record of a case, as stored (committed)."""
        found = await store.load_case(self.runtime.unit_of_work(), case_id)
        assert found is not None, f"intake stored no case {case_id}"
        return found


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
    store = SqliteStore(tmp_path / "intake.db")
    clock = ManualClock(NOW)
    async with service_under_test(SPEC, settings(tmp_path, **overrides), store=store, clock=clock) as rig:
        yield IntakeUnderTest(rig)
