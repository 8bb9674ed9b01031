"""Two replicas on one store, without the broker: their timers race, and each clock fires once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from caseflow_contracts import parse_event
from caseflow_dev.rig import BrokerStandIn
from caseflow_kit import Runtime
from caseflow_kit.outbox import COMMIT_SEQ_HEADER
from caseflow_kit.store.mongo import MongoStore
from caseflow_sla.app import SPEC
from caseflow_sla.deps import SlaDeps
from caseflow_sla.settings import SlaSettings
from caseflow_sla.timers import fire_due

from .conftest import T0, H, Lifecycle, Sla, new_case_id


@pytest.fixture
def twin_broker() -> BrokerStandIn:
    return BrokerStandIn()


@pytest.fixture
async def twin(sla: Sla, twin_broker: BrokerStandIn) -> AsyncIterator[Runtime[SlaSettings, SlaDeps]]:
    """A second replica on the same store (its own connection to the SQLite file; the same MongoDB database),
    reading the same clock."""
    shared = sla.runtime.store if isinstance(sla.runtime.store, MongoStore) else None
    runtime: Runtime[SlaSettings, SlaDeps] = Runtime(
        SPEC, sla.runtime.settings, shared, clock=sla.clock, publish=twin_broker.publish
    )
    runtime.ownership.own_everything(1)
    await runtime.start_dependencies()
    yield runtime
    if shared is None:
        await runtime.store.close()


async def test_racing_replicas_fire_each_timer_once(
    sla: Sla, twin: Runtime[SlaSettings, SlaDeps], twin_broker: BrokerStandIn, lifecycle: Lifecycle
) -> None:
    cases = [new_case_id() for _ in range(120)]
    await sla.feed(*(lifecycle.escalated(c, T0) for c in cases), batch=True)
    sla.clock.advance(3 * 24 * H)
    rounds = 0
    # small batches so that both replicas pick the same timers again and again
    while any(await asyncio.gather(*(fire_due(r, limit=40) for r in (sla.runtime, twin, sla.runtime, twin)))):
        rounds += 1
        assert rounds < 100
    for runtime in (sla.runtime, twin):
        await runtime.relay.flush()
    assert await sla.runtime.store.outbox_pending(100_000) == []
    # Both replicas hold every slot here, so both relays may publish one committed row (in production a
    # slot has one owner): what each clock fired is what was committed, one row per commit sequence.
    committed = {m.headers[COMMIT_SEQ_HEADER]: m for m in (*sla.rig.broker.published, *twin_broker.published)}
    events = [parse_event(m.value) for m in committed.values()]
    events = [e for e in events if e.type != "case.escalated"]
    keys = Counter(
        (e.type, e.key, getattr(e.payload, "metric", None), getattr(e.payload, "duty", None)) for e in events
    )
    assert set(keys.values()) == {1}, [k for k, n in keys.items() if n > 1][:5]
    # callback, resolution and customer-update breaches, and the points of the first two
    assert Counter(e.type for e in events) == {"sla.breached": 3 * len(cases), "qa.points_charged": 2 * len(cases)}
    assert await fire_due(twin) == 0
