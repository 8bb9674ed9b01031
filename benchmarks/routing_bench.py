"""Routing throughput and decision latency with a directory of 5,000 stations.

    .venv/bin/python benchmarks/routing_bench.py [-n 20000] [--stations 5000] [--no-broker]

Prints, each next to a baseline measured in the same run (the machine is shared, so
compare ratios between runs, not absolute figures):

1. one routing decision (`decide`, the pure function): p50 / p99 / max, next to a naive
   decision that scans the whole directory for coverage instead of using the index;
2. cases routed per second through the handler path on the real SQLite store
   (parse, de-duplicate, load counts, decide, commit case + outbox event), next to the
   kit's minimal handler (insert one document + one outbox event) on the same path;
3. unless --no-broker: cases routed per second end to end through Tansu
   (case.opened in → case.escalated out), next to the same minimal kit service.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from kit_bench import SPEC as KIT_MINIMAL  # the baseline: the kit's own benchmark service, run beside routing
from kit_bench import events as kit_events

from caseflow_contracts.cases import (
    CaseOpened,
    CaseOpenedPayload,
    StationHint,
)
from caseflow_contracts.common import Area, CaseKind, Channel, LadderLevel, MaskedContact, Priority, SealedContact
from caseflow_contracts.topics import CASES_LIFECYCLE, STATIONS_UPDATES
from caseflow_dev.rig import FakeRecord
from caseflow_kit import KitSettings, Runtime
from caseflow_kit.consumer import GuardedConsumer
from caseflow_routing.app import SPEC as ROUTING
from caseflow_routing.domain.decision import Decision, RoutingRequest, decide, load_keys
from caseflow_routing.domain.directory import StationDirectory
from caseflow_routing.rules import Directory
from caseflow_routing.settings import RoutingSettings

NOW = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
KINDS = [CaseKind.DELAY, CaseKind.DAMAGE, CaseKind.LOSS, CaseKind.INQUIRY, CaseKind.COMPLAINT]


# -- a directory of N stations -------------------------------------------------------------------


def make_directory(n: int, rng: random.Random) -> dict[str, Any]:
    centres, hubs = 8, max(10, n // 50)
    stations: list[dict[str, Any]] = [
        {"code": "HQ-CS", "name": "总部", "kind": "hq", "languages": ["zh-CN", "en", "ja", "ko", "ru"]}
    ]
    stations += [
        {
            "code": f"RC-{c:02d}",
            "name": f"区域中心{c}",
            "kind": "regional_centre",
            "parent": "HQ-CS",
            "languages": ["zh-CN", "en"],
            "skills": ["cross_border"],
        }
        for c in range(centres)
    ]
    stations += [
        {"code": f"HUB-{h:03d}", "name": f"分拨中心{h}", "kind": "hub", "parent": f"RC-{h % centres:02d}"}
        for h in range(hubs)
    ]
    for s in range(n - len(stations)):
        english = rng.random() < 0.1
        stations.append(
            {
                "code": f"ST-{s:05d}",
                "name": f"网点{s}",
                "parent": f"HUB-{s % hubs:03d}",
                "coverage": [{"province": f"省{s % 31}", "city": f"市{s % 300}", "district": f"区{s}"}],
                "capacity": 500,
                "languages": ["zh-CN", "en"] if english else ["zh-CN"],
                "skills": ["cross_border"] if english else [],
                "active": rng.random() > 0.02,
            }
        )
    day = {
        "time_zone": "Asia/Shanghai",
        "week": {d: ["08:00-20:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
    }
    calendars = {"calendars": {"station-day": day}, "assignments": {"ST-*": "station-day"}}
    return {"version": f"bench-{n}", "first_level": {"arbitration": "hq"}, "calendars": calendars, "stations": stations}


def area_of(index: int) -> Area:
    return Area(province=f"省{index % 31}", city=f"市{index % 300}", district=f"区{index}")


def random_request(rng: random.Random, stations: int) -> tuple[str | None, Area | None, str, bool, CaseKind, Priority]:
    s = rng.randrange(stations)
    roll = rng.random()
    kind, priority = rng.choice(KINDS), Priority.URGENT if rng.random() < 0.05 else Priority.NORMAL
    if roll < 0.70:  # the named station covers the address
        return f"ST-{s:05d}", area_of(s), "zh-CN", False, kind, priority
    if roll < 0.80:  # no station named: coverage
        return None, area_of(s), "zh-CN", False, kind, priority
    if roll < 0.90:  # out of area (超区)
        return f"ST-{rng.randrange(stations):05d}", area_of(s), "zh-CN", False, kind, priority
    if roll < 0.95:  # cross-border
        return f"ST-{s:05d}", area_of(s), "en", True, kind, priority
    return None, Area(province="境外", city="未知"), "zh-CN", False, kind, priority


# -- 1. the decision ---------------------------------------------------------------------------------


def naive_decide(request: RoutingRequest, directory: StationDirectory, loads: dict[str, int]) -> Decision:
    """Baseline: the same rules, but coverage found by scanning every station (no index)."""
    area = request.area
    covering = []
    if area is not None:
        for station in directory.rules.stations:
            for c in station.coverage:
                if (c.province, c.city) == (area.province, area.city) and c.district in (None, area.district):
                    covering.append(station.code)
    start = request.hint if request.hint in directory else (covering[0] if covering else directory.hq)
    for code in directory.chain(start):
        station = directory.by_code[code]
        if station.active and loads.get(code, 0) < (station.capacity or 10**9):
            return Decision(code, station.kind, "naive")
    return Decision(directory.hq, LadderLevel.HQ, "naive")


def percentiles(samples: Sequence[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.99) - 1], ordered[-1]


def time_each(fn: Callable[[RoutingRequest], object], requests: Sequence[RoutingRequest]) -> list[float]:
    timings = []
    clock = time.perf_counter_ns
    for request in requests:
        started = clock()
        fn(request)
        timings.append((clock() - started) / 1000)
    return timings


def bench_decision(directory: StationDirectory, n: int, rng: random.Random, stations: int) -> None:
    requests = []
    for _ in range(n):
        hint, area, language, cross_border, kind, priority = random_request(rng, stations)
        requests.append(RoutingRequest(kind, priority, language, cross_border, area, hint, NOW))
    loads = {f"ST-{s:05d}": rng.randrange(0, 520) for s in range(stations)}

    def ours(r: RoutingRequest) -> object:
        keys = load_keys(r, directory)
        return decide(r, directory, {k: loads.get(k, 0) for k in keys})

    time_each(ours, requests[:1000])  # warm up
    fast = percentiles(time_each(ours, requests))
    slow = percentiles(time_each(lambda r: naive_decide(r, directory, loads), requests[: max(200, n // 20)]))
    print(
        f"decision (indexed)     p50 {fast[0]:8.1f} µs   p99 {fast[1]:8.1f} µs   max {fast[2]:8.1f} µs   ({n} decisions)"
    )
    print(f"baseline (full scan)   p50 {slow[0]:8.1f} µs   p99 {slow[1]:8.1f} µs   max {slow[2]:8.1f} µs")
    print(f"ratio p99 scan/index   {slow[1] / fast[1]:8.1f}")


# -- 2. the handler path on the real store --------------------------------------------------------------


def opened_events(n: int, rng: random.Random, stations: int) -> list[bytes]:
    out = []
    for i in range(n):
        hint, area, language, cross_border, kind, priority = random_request(rng, stations)
        cid = f"CF-B{i:09d}"
        payload = CaseOpenedPayload(
            case_id=cid,
            kind=kind,
            priority=priority,
            channel=Channel.PHONE,
            language=language,
            cross_border=cross_border,
            area=area,
            station_hint=StationHint(station=hint, reason="destination station"),
            customer=SealedContact(masked=MaskedContact(name="王*"), sealed="x" * 64, key_id="k1"),
            customer_ref=f"cust-{i}",
            opened_at=NOW,
            rules_version="bench",
        )
        out.append(CaseOpened.create(payload, key=cid, producer="intake").to_bytes())
    return out


async def handler_path(runtime: Runtime[Any, Any], values: list[bytes], batch: int) -> float:
    """The kit's consumer path (parse, de-duplicate, handle, one SQLite transaction per batch with the outbox);
    the outbox is written but not published (no broker in this part)."""
    runtime.ownership.own_everything(1)  # no broker here: this process holds the one slot
    await runtime.start_dependencies()

    async def no_publish() -> int:
        return 0

    runtime.relay.flush = no_publish  # type: ignore[method-assign]
    consumer: GuardedConsumer = runtime.consumers[0]
    # The record key must be the event's key (the catalog's key), as a producer sets it.
    records = [FakeRecord(consumer.topic, 0, i, json.loads(v)["key"].encode(), v) for i, v in enumerate(values)]
    try:
        started = time.perf_counter()
        for first in range(0, len(records), batch):
            await consumer.handle_batch(records[first : first + batch])
        elapsed = time.perf_counter() - started
        handled = runtime.registry.get_sample_value(
            "caseflow_events_handled_total",
            {"topic": consumer.subscription.topic.name, "event_type": consumer_type(values[0]), "outcome": "handled"},
        )
        assert handled == len(records), f"{handled} of {len(records)} handled"
        return len(records) / elapsed
    finally:
        await runtime.close()


def kit_values(n: int) -> list[bytes]:
    """The kit benchmark's events, as the values of records (this benchmark keys each by the event it reads)."""
    return [value for _, value in kit_events(n)]


def consumer_type(value: bytes) -> str:
    return str(json.loads(value)["type"])


async def bench_handler_path(
    directory_path: Path, tmp: Path, n: int, rng: random.Random, stations: int, *, rounds: int = 3
) -> None:
    """Routing and the minimal service in alternating rounds (the machine is shared: best round of each)."""
    routed, baseline = [], []
    batch = RoutingSettings().batch_max_records
    for r in range(rounds):
        opened = opened_events(n, rng, stations)
        settings = RoutingSettings(data_dir=tmp / f"routing-{r}", directory_path=directory_path, log_level="WARNING")
        routed.append(await handler_path(Runtime(ROUTING, settings), opened, batch))
        minimal = Runtime(KIT_MINIMAL, KitSettings(data_dir=tmp / f"minimal-{r}"))
        baseline.append(await handler_path(minimal, kit_values(n), batch))
    best, base = max(routed), max(baseline)
    print(
        f"handler path, SQLite   {best:10.0f} cases/s   (parse, dedupe, counters, decide, commit + outbox;"
        f" batches of {batch}; best of {rounds}: {', '.join(f'{x:.0f}' for x in routed)})"
    )
    print(
        f"baseline kit minimal   {base:10.0f} events/s  (insert one doc + outbox; {', '.join(f'{x:.0f}' for x in baseline)})"
    )
    print(f"ratio routing/minimal  {best / base:10.2f}")


# -- 3. through the broker ------------------------------------------------------------------------------


async def bench_broker(directory_path: Path, tmp: Path, n: int, rng: random.Random, stations: int) -> None:
    from aiokafka import AIOKafkaProducer

    from caseflow_dev.broker import EmbeddedBroker
    from caseflow_dev.harness import run_in_process
    from caseflow_dev.testing import KafkaTestKit

    async def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
        await producer.start()
        futures = [await producer.send(topic, v, key=json.loads(v)["key"].encode()) for v in values]
        await asyncio.gather(*futures)
        await producer.stop()

    async def run(spec: Any, settings: Any, source: str, values: list[bytes], kit: KafkaTestKit) -> tuple[float, int]:
        """Time from the first record produced until the service has handled (and published for) all of them."""
        event_type = consumer_type(values[0])
        async with run_in_process(spec, settings) as service:
            await service.assigned()
            registry = service.runtime.registry
            labels = {"topic": source.removeprefix(kit.prefix), "event_type": event_type, "outcome": "handled"}
            started = time.perf_counter()
            await produce(kit.bootstrap, source, values)
            for _ in range(60_000):  # at most ten minutes
                if (registry.get_sample_value("caseflow_events_handled_total", labels) or 0) >= len(values):
                    break
                await asyncio.sleep(0.01)
            elapsed = time.perf_counter() - started
            expected = len(values) * (2 if spec is ROUTING else 1)  # routing's output shares its input topic
            out = await kit.collect(CASES_LIFECYCLE, expected, timeout_s=120)
        return len(values) / elapsed, len(out)

    with EmbeddedBroker() as broker:
        kit = KafkaTestKit(broker.bootstrap, tmp / "broker-routing")
        await kit.create_topics()
        settings = kit.settings(RoutingSettings, directory_path=directory_path, log_level="WARNING")
        routed, seen = await run(ROUTING, settings, kit.topic(CASES_LIFECYCLE), opened_events(n, rng, stations), kit)
        assert seen == 2 * n, f"only {seen - n} of {n} cases came out"
        base_kit = KafkaTestKit(broker.bootstrap, tmp / "broker-minimal")
        await base_kit.create_topics()
        baseline, seen = await run(
            KIT_MINIMAL,
            base_kit.settings(KitSettings, log_level="WARNING"),
            base_kit.topic(STATIONS_UPDATES),
            kit_values(n),
            base_kit,
        )
        assert seen == n
        await kit.close()
        await base_kit.close()
    print(f"through Tansu          {routed:10.0f} cases/s   (case.opened produced → handled, case.escalated published)")
    print(f"baseline kit minimal   {baseline:10.0f} events/s")
    print(f"ratio routing/minimal  {routed / baseline:10.2f}")


async def main(n: int, stations: int, broker: bool) -> None:
    rng = random.Random(20261124)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        path = tmp / "stations.yaml"
        path.write_text(yaml.safe_dump(make_directory(stations, rng), allow_unicode=True), encoding="utf-8")
        started = time.perf_counter()
        directory = Directory(path)
        print(
            f"directory              {len(directory.index)} stations, loaded and indexed in {time.perf_counter() - started:.2f} s"
        )
        stations_only = stations - 1 - 8 - max(10, stations // 50)
        bench_decision(directory.index, n, rng, stations_only)
        await bench_handler_path(path, tmp, n, rng, stations_only)
        if broker:
            await bench_broker(path, tmp, n, rng, stations_only)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=20000, help="cases")
    parser.add_argument("--stations", type=int, default=5000)
    parser.add_argument("--no-broker", action="store_true", help="skip the end-to-end run through Tansu")
    args = parser.parse_args()
    asyncio.run(main(args.n, args.stations, not args.no_broker))
