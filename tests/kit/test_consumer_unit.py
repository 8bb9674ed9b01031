"""The guarded consumer without a broker: batches, duplicates, dead letters and write clashes, on real SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from caseflow_contracts.stations import StationAcknowledged, StationUpdatePayload
from caseflow_contracts.topics import STATIONS_UPDATES
from caseflow_kit import Context, KitSettings, Rejected, Runtime, ServiceSpec, Subscription
from caseflow_kit.outbox import OutboxRelay
from caseflow_kit.store import Collection, OutboxMessage, Replace


@dataclass
class FakeRecord:
    value: bytes
    offset: int
    topic: str = "stations.updates"
    partition: int = 0
    key: bytes | None = b"k"
    headers: Sequence[tuple[str, bytes]] = field(default_factory=list)


CLASHES: list[int] = []


async def count_acks(event: StationAcknowledged, ctx: Context[None]) -> None:
    doc = await ctx.uow.get("counters", "acks")
    if event.payload.station == "REJECT":
        raise Rejected("not_holder", "no")
    if event.payload.station == "CLASH" and CLASHES:
        CLASHES.pop()
        # Another replica bumps the same counter between our read and our commit.
        assert doc is not None
        store = ctx.uow._store
        current = await store.get("counters", "acks")
        assert current is not None
        await store.commit([Replace("counters", {**current, "n": current["n"] + 100}, current["_v"])])
    if doc is None:
        ctx.uow.add("counters", {"_id": "acks", "n": 1})
    else:
        ctx.uow.update("counters", {**doc, "n": doc["n"] + 1})


async def no_deps(runtime: Runtime[KitSettings, None]) -> None:
    return None


SPEC: ServiceSpec[KitSettings, None] = ServiceSpec(
    name="unit",
    http_port=0,
    settings_type=KitSettings,
    collections=[Collection("counters")],
    subscriptions=[Subscription(STATIONS_UPDATES, {"station.acknowledged": count_acks})],
    build_deps=no_deps,
)


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[tuple[Runtime[KitSettings, None], list[OutboxMessage]]]:
    rt = Runtime(SPEC, KitSettings(data_dir=tmp_path, retry_backoff_ms=0))
    published: list[OutboxMessage] = []

    async def publish(messages: Sequence[OutboxMessage]) -> None:
        published.extend(messages)

    rt.relay = OutboxRelay(rt.store, publish, rt.metrics)
    await rt.start_dependencies()
    yield rt, published
    await rt.store.close()


def ack(station: str = "SH-01", event_id: str | None = None) -> bytes:
    payload = StationUpdatePayload(case_id="CF-000001", station=station, at=datetime.now(UTC))
    return StationAcknowledged.create(payload, key="CF-000001", producer="t", event_id=event_id).to_bytes()


async def counter(rt: Runtime[KitSettings, None]) -> int:
    doc = await rt.store.get("counters", "acks")
    return int(doc["n"]) if doc else 0


async def test_one_batch_sees_its_own_writes_and_skips_duplicates(
    runtime: tuple[Runtime[KitSettings, None], list[OutboxMessage]],
) -> None:
    rt, _ = runtime
    same = ack(event_id="dup-1")
    await rt.consumers[0].handle_batch(
        [FakeRecord(ack(), 0), FakeRecord(same, 1), FakeRecord(same, 2), FakeRecord(ack(), 3)]
    )
    assert await counter(rt) == 3
    await rt.consumers[0].handle_batch([FakeRecord(same, 4)])
    assert await counter(rt) == 3


async def test_bad_and_rejected_records_are_dead_lettered_without_spoiling_the_batch(
    runtime: tuple[Runtime[KitSettings, None], list[OutboxMessage]],
) -> None:
    rt, published = runtime
    await rt.consumers[0].handle_batch(
        [FakeRecord(ack(), 0), FakeRecord(b"{oops", 1), FakeRecord(ack("REJECT"), 2), FakeRecord(ack(), 3)]
    )
    assert await counter(rt) == 2
    await rt.relay.flush()  # the runtime's relay task does this as soon as the batch commits
    reasons = [m.headers["x-dlq-reason"] for m in published]
    assert reasons == ["malformed_json", "not_holder"]
    assert all(m.topic == "stations.updates.dlq" for m in published)
    # The same offsets redelivered (a crash before the offset commit) are not dead-lettered twice.
    await rt.consumers[0].handle_batch([FakeRecord(b"{oops", 1)])
    await rt.relay.flush()
    assert len(published) == 2


async def test_a_write_clash_with_another_replica_replays_the_batch_record_by_record(
    runtime: tuple[Runtime[KitSettings, None], list[OutboxMessage]],
) -> None:
    rt, _ = runtime
    await rt.consumers[0].handle_batch([FakeRecord(ack(), 0)])
    CLASHES.append(1)
    await rt.consumers[0].handle_batch([FakeRecord(ack(), 1), FakeRecord(ack("CLASH"), 2), FakeRecord(ack(), 3)])
    # 1 before, +100 from the other replica, +3 from this batch, replayed on top of the other replica's write.
    assert await counter(rt) == 104
    handled = rt.registry.get_sample_value(
        "caseflow_events_handled_total",
        {"topic": "stations.updates", "event_type": "station.acknowledged", "outcome": "handled"},
    )
    assert handled == 4
