"""Throughput of the shared runtime alone: N events through a minimal service, next to the raw broker.

    .venv/bin/python benchmarks/kit_bench.py [-n 20000]

Starts its own Tansu. Prints events/s for (a) the raw broker (produce, then consume with no processing)
and (b) the kit path (parse, de-duplicate, handle, commit to SQLite with an outbox event, publish),
and their ratio: the machine is shared, so only the ratio is comparable between runs.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from caseflow_contracts.cases import CaseAcknowledged, CaseStationActionPayload
from caseflow_contracts.common import LadderLevel
from caseflow_contracts.stations import StationAcknowledged, StationUpdatePayload
from caseflow_contracts.topics import CASES_LIFECYCLE, STATIONS_UPDATES
from caseflow_dev.broker import EmbeddedBroker
from caseflow_dev.harness import run_in_process
from caseflow_dev.testing import KafkaTestKit
from caseflow_kit import Context, KitSettings, Runtime, ServiceSpec, Subscription
from caseflow_kit.store import Collection


async def on_ack(event: StationAcknowledged, ctx: Context[None]) -> None:
    p = event.payload
    ctx.uow.add("acks", {"_id": p.case_id, "station": p.station})
    payload = CaseStationActionPayload(case_id=p.case_id, station=p.station, level=LadderLevel.STATION, at=p.at)
    ctx.uow.emit(ctx.new(CaseAcknowledged, payload, key=p.case_id))


async def no_deps(runtime: Runtime[KitSettings, None]) -> None:
    return None


SPEC: ServiceSpec[KitSettings, None] = ServiceSpec(
    name="bench",
    http_port=0,
    settings_type=KitSettings,
    collections=[Collection("acks")],
    subscriptions=[Subscription(STATIONS_UPDATES, {"station.acknowledged": on_ack})],
    build_deps=no_deps,
)


def events(n: int) -> list[tuple[bytes, bytes]]:
    """Each record as (key, value): keyed by the event's own key (the case id), as a producer of the catalog's
    topics keys them; the consumer dead-letters a record whose key is not its event's."""
    now = datetime.now(UTC)
    records = []
    for i in range(n):
        case_id = f"CF-{i:08d}"
        payload = StationUpdatePayload(case_id=case_id, station="SH-PD-01", at=now)
        records.append(
            (case_id.encode(), StationAcknowledged.create(payload, key=case_id, producer="bench").to_bytes())
        )
    return records


async def produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    futures = [await producer.send(topic, value, key=key) for key, value in records]
    await asyncio.gather(*futures)
    await producer.stop()


async def raw_round_trip(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> float:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"raw-{time.time()}",
        auto_offset_reset="earliest",
        fetch_max_wait_ms=50,
    )
    await consumer.start()
    while not consumer.assignment():  # the group joined before the clock starts
        await consumer.getmany(timeout_ms=100)
    started = time.perf_counter()
    await produce(bootstrap, topic, records)
    seen = 0
    while seen < len(records):
        batch = await consumer.getmany(timeout_ms=200, max_records=1000)
        seen += sum(len(b) for b in batch.values())
    elapsed = time.perf_counter() - started
    await consumer.stop()
    return len(records) / elapsed


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker:
        kit = KafkaTestKit(broker.bootstrap, Path(tmp))
        await kit.create_topics()
        records = events(n)
        raw = await raw_round_trip(broker.bootstrap, kit.prefix + "raw", records)
        async with run_in_process(SPEC, kit.settings(KitSettings, log_level="WARNING")) as service:
            await service.assigned()
            started = time.perf_counter()
            await produce(broker.bootstrap, kit.topic(STATIONS_UPDATES), records)
            out = await kit.collect(CASES_LIFECYCLE, n, timeout_s=600)
            elapsed = time.perf_counter() - started
        assert len(out) == n, f"only {len(out)} of {n} came out"
        through = n / elapsed
        print(f"events                 {n}")
        print(f"raw broker round trip  {raw:10.0f} events/s   (produce + consume, no processing)")
        print(
            f"kit path               {through:10.0f} events/s   (parse, dedupe, handle, SQLite commit + outbox, publish)"
        )
        print(f"ratio kit / raw        {through / raw:10.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=20000)
    asyncio.run(main(parser.parse_args().n))
