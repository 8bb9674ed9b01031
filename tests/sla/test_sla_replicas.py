"""Two replicas on one SQLite file, without the broker: timers race, compare-and-set lets exactly one fire."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from caseflow_contracts import parse_event
from caseflow_kit import Runtime
from caseflow_kit.store.mongo import MongoStore
from caseflow_sla.app import SPEC
from caseflow_sla.handlers import SlaDeps
from caseflow_sla.settings import SlaSettings
from caseflow_sla.timers import fire_due

from .conftest import T0, H, Lifecycle, ManualTime, SlaHarness, new_case_id


@pytest.fixture
async def twin(sla: SlaHarness) -> AsyncIterator[Runtime[SlaSettings, SlaDeps]]:
    """A second replica on the same store (its own connection to the SQLite file; the same MongoDB database)."""
    shared = sla.runtime.store if isinstance(sla.runtime.store, MongoStore) else None
    runtime: Runtime[SlaSettings, SlaDeps] = Runtime(SPEC, sla.runtime.settings, shared)
    runtime.ownership.own_everything(1)
    await runtime.start_dependencies()
    runtime.deps.now = sla.time

    async def no_publish() -> int:
        return 0

    runtime.relay.flush = no_publish  # type: ignore[method-assign]
    yield runtime
    if shared is None:
        await runtime.store.close()


async def test_racing_replicas_fire_each_timer_once(
    sla: SlaHarness, twin: Runtime[SlaSettings, SlaDeps], lifecycle: Lifecycle
) -> None:
    cases = [new_case_id() for _ in range(120)]
    await sla.feed(*(lifecycle.escalated(c, T0) for c in cases), batch=True)
    sla.time.advance(3 * 24 * H)
    rounds = 0
    # small batches so that both replicas pick the same timers again and again
    while any(await asyncio.gather(*(fire_due(r, limit=40) for r in (sla.runtime, twin, sla.runtime, twin)))):
        rounds += 1
        assert rounds < 100
    records = await sla.runtime.store.outbox_pending(100_000)
    events = [parse_event(r.message.value) for r in records]
    keys = Counter((e.payload.case_id, e.payload.metric, e.type) for e in events)  # type: ignore[attr-defined]
    assert set(keys.values()) == {1}
    assert len(events) == 3 * len(cases)  # callback, resolution and customer-update breaches
    assert await fire_due(twin) == 0


def test_time_is_manual() -> None:
    time = ManualTime()
    assert time() == T0
    assert time.advance(5) == T0 + 5
