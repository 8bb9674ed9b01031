"""sla benchmark: N armed clocks in the store, clocks coming due at R per second, lag to the published breach.

Runs the real service (`python -m caseflow_sla`, SQLite store) against the
embedded broker (Tansu). Before it starts, the store is filled with N armed
clocks: `--due` of them come due at `--rate` per second once the service is up,
the rest lie days ahead. A consumer reads sla.breaches and measures, per
breach, the lag from its deadline (payload.deadline_at) to its arrival.
Resident memory is the service process's VmRSS / VmHWM.

    .venv/bin/python benchmarks/sla_bench.py                     # 1,000,000 clocks, 5,000/s for 20 s
    .venv/bin/python benchmarks/sla_bench.py --clocks 100000 --seconds 10   # a quick run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from caseflow_dev.broker import EmbeddedBroker
from caseflow_dev.harness import ServiceProcess, cpu_seconds
from caseflow_kit.ownership import slot_count, slot_of_key
from caseflow_kit.store import Insert
from caseflow_kit.store.sqlite import SqliteStore
from caseflow_kit.topics import ensure_topics
from caseflow_ops.tokens import LocalIssuer
from caseflow_sla.app import SPEC
from caseflow_sla.domain import WALL, Clock
from caseflow_sla.store import clock_doc

BATCH = 20_000
#: sla's slots on the catalog's partition counts: a clock is fired by the replica holding its case's slot.
SLOTS = slot_count(s.topic.partitions for s in SPEC.subscriptions)


def make_clock(i: int, deadline: float) -> dict[str, Any]:
    """A running 2-hour callback clock whose warning already fired and whose deadline is `deadline`."""
    clock = Clock(
        case_id=f"CF-BENCH{i:010d}",
        metric="callback",
        level="station",
        kind="delay",
        priority="normal",
        channel="phone",
        station=f"ST-{i % 500:04d}",
        target_s=7200,
        warning_s=5760,
        calendar=None,
        policy_version="bench",
        started_at=deadline - 7200,
        warned=True,
    )
    clock.start(WALL, deadline - 7200)
    return clock_doc(clock, slot_of_key(clock.case_id, SLOTS))


async def fill(path: Path, first: int, count: int, deadline: Callable[[int], float]) -> float:
    """Insert clocks `first` .. `first + count - 1`; clock i is due at `deadline(i)`."""
    store = SqliteStore(path)
    await store.open(SPEC.collections)
    started = time.perf_counter()
    for start in range(first, first + count, BATCH):
        writes = [
            Insert("sla_clocks", make_clock(i, deadline(i))) for i in range(start, min(first + count, start + BATCH))
        ]
        await store.commit(writes)
    await store.close()
    return time.perf_counter() - started


def rss(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) * 1024
    return fields


async def measure(bootstrap: str, topic: str, expected: int, timeout_s: float) -> list[float]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=10)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        while partitions is None:
            await consumer.topics()
            partitions = consumer.partitions_for_topic(topic)
        assigned = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        lags: list[float] = []
        seen: set[str] = set()
        deadline = time.monotonic() + timeout_s
        while len(seen) < expected and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=100, max_records=5000)
            now = time.time()
            for records in batch.values():
                for record in records:
                    event = json.loads(record.value or b"{}")
                    if event["event_id"] in seen:
                        continue
                    seen.add(event["event_id"])
                    lags.append(now - datetime.fromisoformat(event["payload"]["deadline_at"]).timestamp())
        return lags
    finally:
        await consumer.stop()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clocks", type=int, default=1_000_000, help="armed clocks in the store")
    parser.add_argument("--rate", type=float, default=5000, help="clocks coming due per second")
    parser.add_argument("--seconds", type=float, default=20, help="how long clocks come due")
    parser.add_argument(
        "--lead", type=float, default=5, help="seconds from arming the due clocks to the first deadline"
    )
    args = parser.parse_args()
    due = min(args.clocks, int(args.rate * args.seconds))

    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker(log_file=Path(tmp) / "tansu.log") as broker:
        data = Path(tmp)
        prefix = f"bench{uuid.uuid4().hex[:6]}."
        await ensure_topics(broker.bootstrap, prefix)  # the production partition counts
        far = time.time() + 5 * 86400
        fill_s = await fill(data / "sla.db", due, args.clocks - due, lambda i: far + i)
        print(f"filled {args.clocks - due:,} clocks due in five days in {fill_s:.1f}s")
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
            "CASEFLOW_TOPIC_PREFIX": prefix,
            "CASEFLOW_DATA_DIR": str(data),
            "CASEFLOW_LOG_FORMAT": "json",
            "CASEFLOW_LOG_LEVEL": "WARNING",
            "CASEFLOW_GROUP_ID": f"{prefix}sla",
            **LocalIssuer.ensure(data).env(),  # the service refuses to start without a token issuer
        }
        service = ServiceProcess("sla", env, log_file=data / "sla.log").start()
        assert service.process is not None
        try:
            await service.ready(timeout_s=120)
            # The clocks that come due are armed now, so that their schedule does not depend on start-up time.
            first_deadline = time.time() + args.lead + due / 10_000
            fill_s = await fill(data / "sla.db", 0, due, lambda i: first_deadline + i / args.rate)
            size = sum(p.stat().st_size for p in (data / "sla.db", data / "sla.db-wal") if p.exists())
            ahead = first_deadline - time.time()
            idle = rss(service.process.pid)
            print(
                f"armed {due:,} clocks due at {args.rate:,.0f}/s in {fill_s:.1f}s: {args.clocks:,} clocks in the store"
                f" ({size / 2**20:.0f} MiB on disk); first deadline in {ahead:.1f}s; RSS {idle['VmRSS'] / 2**20:.0f} MiB"
            )
            timeout = first_deadline - time.time() + args.seconds + 60
            samples: list[dict[str, int]] = []

            async def sample() -> None:
                while True:
                    samples.append(rss(service.process.pid))  # type: ignore[union-attr]
                    await asyncio.sleep(0.5)

            sampler = asyncio.create_task(sample())
            cpu_before, load_before = cpu_seconds(service.process.pid), os.getloadavg()[0]
            lags = await measure(broker.bootstrap, prefix + "sla.breaches", due, timeout)
            cpu = cpu_seconds(service.process.pid) - cpu_before
            load = (load_before + os.getloadavg()[0]) / 2
            sampler.cancel()
            peak_rss = max(s["VmRSS"] for s in samples)
            hwm = rss(service.process.pid)["VmHWM"]
        finally:
            service.terminate()

    report(args, due, lags, {"peak_rss": peak_rss, "hwm": hwm, "cpu": cpu, "load": load})


def report(args: argparse.Namespace, due: int, lags: list[float], figures: dict[str, float]) -> None:
    print(f"breaches published: {len(lags):,} of {due:,} due at {args.rate:,.0f}/s among {args.clocks:,} armed clocks")
    if lags:
        print(
            f"lag deadline → published breach: p50 {pct(lags, 0.5) * 1000:.0f} ms, p99 {pct(lags, 0.99) * 1000:.0f} ms,"
            f" max {max(lags) * 1000:.0f} ms, mean {statistics.fmean(lags) * 1000:.0f} ms"
        )
        per = figures["cpu"] / len(lags)
        print(
            f"service CPU per published breach: {per * 1e6:.0f} µs (≈ {1 / per:,.0f} breaches/s on one free core);"
            f" machine load average during the run {figures['load']:.1f} on {os.cpu_count()} CPUs"
        )
    print(
        f"service resident memory: peak RSS {figures['peak_rss'] / 2**20:.0f} MiB,"
        f" high-water mark {figures['hwm'] / 2**20:.0f} MiB"
    )
    ok = len(lags) == due and lags and pct(lags, 0.99) < 1.0 and figures["hwm"] < 2**30
    print("targets (p99 < 1 s, memory < 1 GiB, every breach published):", "met" if ok else "NOT met")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    asyncio.run(main())
