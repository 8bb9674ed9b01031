"""intake throughput and latency through the embedded broker (Tansu) and the embedded store (SQLite).

    .venv/bin/python benchmarks/intake_bench.py [-n 10000] [--warmup 200]

Starts Tansu and intake (as its own process, as in production), then
1. measures the raw broker round trip: N messages published and consumed back, no service between;
2. publishes N synthetic upstream events (a realistic mix of parcel exceptions and customer
   contacts, Chinese names and addresses, some repeats on the same waybill) and reads
   cases.lifecycle until every one has produced its case event.
Prints throughput and p50 / p99 latency from upstream publish to the case event (case.opened,
and separately for merges), next to the raw round trip measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from caseflow_contracts import Event, topic_for
from caseflow_contracts.common import Area, Channel, Money
from caseflow_contracts.topics import CASES_LIFECYCLE
from caseflow_contracts.upstream import (
    Address,
    ContactCategory,
    Customer,
    CustomerContacted,
    CustomerContactPayload,
    ExceptionKind,
    ParcelExceptionPayload,
    ParcelExceptionReported,
    SaleStage,
)
from caseflow_dev.broker import EmbeddedBroker
from caseflow_dev.harness import ServiceProcess, cpu_meter, fresh_keys
from caseflow_dev.simulator import GIVEN, SURNAMES
from caseflow_kit.runtime import tune_gc
from caseflow_kit.topics import ensure_topics
from caseflow_kit.uow import event_headers
from caseflow_ops.tokens import LocalIssuer

PLACES = [
    ("北京市", "北京市", "朝阳区", "建国路{n}号SOHO现代城{b}座{r}室"),
    ("上海市", "上海市", "浦东新区", "世纪大道{n}号{b}栋{r}室"),
    ("广东省", "深圳市", "南山区", "科技园南区{n}号{b}栋{r}"),
    ("浙江省", "杭州市", "西湖区", "文三路{n}号{b}幢{r}室"),
    ("四川省", "成都市", "武侯区", "人民南路{n}号{b}单元{r}"),
    ("湖北省", "武汉市", "洪山区", "珞喻路{n}号{b}栋{r}室"),
]
STATIONS = ["BJ-CY-07", "SH-PD-01", "SZ-NS-03", "HZ-XH-02", "CD-WH-05", "WH-HS-04", "HUB-NJ", "HUB-ZZ"]
EXCEPTION_MIX = [
    (ExceptionKind.DELAY, 40),
    (ExceptionKind.DAMAGE, 15),
    (ExceptionKind.SHORTAGE, 6),
    (ExceptionKind.LOSS, 8),
    (ExceptionKind.OUT_OF_AREA, 8),
    (ExceptionKind.MISROUTE, 5),
    (ExceptionKind.RETURN, 8),
    (ExceptionKind.PROBLEM_PARCEL, 10),
]
PROBLEM_CODES = ["地址不详", "查无此人", "联系不上收件人", "客户拒收", "面单破损", "超区件"]
CONTACT_TEXTS = {
    ContactCategory.INQUIRY: ["请问我的快递到哪里了？", "物流三天没更新了，帮我查一下", "什么时候能派送？"],
    ContactCategory.COMPLAINT: ["快递延误太久了，非常不满意", "外箱破损，里面东西碎了", "快递员不送上楼"],
    ContactCategory.CLAIM_REQUEST: ["包裹丢失了，要求赔偿", "收到的商品少了一件", "东西摔坏了要理赔"],
    ContactCategory.SUGGESTION: ["建议增加晚间派送时段"],
    ContactCategory.REGULATOR_APPEAL: ["七天了还没处理，我已向12305申诉"],
}


def person(rng: random.Random) -> Customer:
    name = rng.choice(SURNAMES[:-4] + "欧司") + rng.choice(GIVEN)
    province, city, district, street = rng.choice(PLACES)
    address = Address(
        area=Area(province=province, city=city, district=district),
        street=street.format(n=rng.randint(1, 999), b=rng.choice("ABCDE"), r=rng.randint(101, 2808)),
    )
    return Customer(
        customer_id=f"U{rng.randint(1, 5000):07d}",
        name=name,
        phone=f"1{rng.choice('3578')}{rng.randint(0, 999_999_999):09d}",
        email=f"user{rng.randint(1, 99999)}@example.com" if rng.random() < 0.3 else None,
        address=address,
        vip=rng.random() < 0.05,
    )


def workload(n: int, rng: random.Random, repeat_share: float = 0.25) -> list[Event]:
    """About 60 % parcel exceptions, 40 % contacts; `repeat_share` of the contacts are about a waybill already seen."""
    events: list[Event] = []
    waybills: list[str] = []
    start = datetime.now(UTC) - timedelta(hours=1)
    kinds, weights = zip(*EXCEPTION_MIX, strict=True)
    for i in range(n):
        at = start + timedelta(milliseconds=i)
        who = person(rng)
        if rng.random() < 0.6 or not waybills:
            wb = f"BE{rng.randint(10**11, 10**12 - 1)}"
            waybills.append(wb)
            kind = rng.choices(kinds, weights)[0]
            value = rng.choice([5000, 20000, 99000, 350000])
            payload = ParcelExceptionPayload(
                source_system="tms",
                source_event_id=f"EX{i:08d}{uuid.uuid4().hex[:6]}",
                waybill_no=wb,
                exception_kind=kind,
                problem_code=rng.choice(PROBLEM_CODES) if kind is ExceptionKind.PROBLEM_PARCEL else None,
                origin_station=rng.choice(STATIONS),
                current_station=rng.choice(STATIONS),
                destination_station=rng.choice(STATIONS),
                scanned_at=at,
                declared_value=Money(amount_minor=value),
                insured=value > 100000,
                freight=Money(amount_minor=rng.choice([800, 1200, 2300])),
                order_amount=Money(amount_minor=rng.choice([9900, 59900, 650000])) if rng.random() < 0.5 else None,
                platform="天猫" if rng.random() < 0.4 else None,
                customer=who,
                shipping_address=who.address,
                billing_address=who.address if rng.random() < 0.9 else person(rng).address,
                cross_border=rng.random() < 0.05,
                description=f"{kind.value} 扫描异常，收件人{who.name}",
            )
            events.append(ParcelExceptionReported.create(payload, key=wb, producer="tms"))
        else:
            wb = rng.choice(waybills) if rng.random() < repeat_share else f"BE{rng.randint(10**11, 10**12 - 1)}"
            category = rng.choices(list(CONTACT_TEXTS), [45, 30, 15, 5, 5])[0]
            stage = (
                rng.choice(list(SaleStage))
                if rng.random() < 0.15 and category is not ContactCategory.REGULATOR_APPEAL
                else None
            )
            text = rng.choice(CONTACT_TEXTS[category]) + f" 我是{who.name}，电话{who.phone}"
            payload = CustomerContactPayload(
                source_system="callcentre",
                source_id=f"CT{i:08d}{uuid.uuid4().hex[:6]}",
                channel=rng.choice(list(Channel)[:7]),
                category=category,
                sale_stage=stage,
                customer=who,
                waybill_no=wb,
                text=text,
                received_at=at,
            )
            events.append(CustomerContacted.create(payload, key=wb, producer="callcentre"))
    return events


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def raw_round_trip(bootstrap: str, topic: str, payloads: list[bytes]) -> tuple[float, list[float]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 12, 1)])
    await admin.close()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"{topic}-g", auto_offset_reset="earliest", fetch_max_wait_ms=50
    )
    await consumer.start()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    sent: dict[int, float] = {}
    latencies: list[float] = []
    try:
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=100)
        start = time.perf_counter()

        async def produce() -> None:
            for i, value in enumerate(payloads):
                sent[i] = time.perf_counter()
                await producer.send(topic, value, key=str(i).encode(), headers=[("i", str(i).encode())])
            await producer.flush()

        task = asyncio.create_task(produce())
        while len(latencies) < len(payloads):
            batch = await consumer.getmany(timeout_ms=200)
            now = time.perf_counter()
            for records in batch.values():
                latencies += [now - sent[int(dict(r.headers)["i"])] for r in records]
        await task
        return time.perf_counter() - start, latencies
    finally:
        await producer.stop()
        await consumer.stop()


async def through_intake(
    bootstrap: str,
    prefix: str,
    events: list[Event],
    warmup: list[Event],
    *,
    rate: float | None = None,
    cpu_of: dict[str, int | None] | None = None,
) -> dict[str, object]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    consumer = AIOKafkaConsumer(
        prefix + CASES_LIFECYCLE.name,
        bootstrap_servers=bootstrap,
        # A group of its own per run: joining the group the flood's consumer just left waited out its session
        # (about 13 s on Tansu) before the paced run could start.
        group_id=f"{prefix}bench-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="latest",
        fetch_max_wait_ms=50,
    )
    await consumer.start()
    try:
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=100)

        # Encoded before the clock starts, and case events recognised by their headers, not parsed:
        # the measuring client must not take the CPU the service under test needs.
        def encoded(batch: list[Event]) -> list[tuple[str, str, bytes, bytes, list[tuple[str, bytes]]]]:
            return [
                (
                    e.event_id,
                    prefix + topic_for(type(e)).name,
                    e.key.encode(),
                    e.to_bytes(),
                    [(k, v.encode()) for k, v in event_headers(e).items()],
                )
                for e in batch
            ]

        async def publish(batch: list[Event], sent: dict[str, float], paced: float | None = None) -> None:
            messages = encoded(batch)
            began = time.perf_counter()
            for i, (event_id, topic, key, value, headers) in enumerate(messages):
                if paced and (ahead := began + i / paced - time.perf_counter()) > 0:
                    await asyncio.sleep(ahead)
                sent[event_id] = time.perf_counter()
                await producer.send(topic, value, key=key, headers=headers)
            await producer.flush()

        async def drain(batch: list[Event], sent: dict[str, float], deadline_s: float) -> dict[str, list[float]]:
            wanted = {e.event_id for e in batch}
            latencies: dict[str, list[float]] = {}
            deadline = time.perf_counter() + deadline_s
            while wanted and time.perf_counter() < deadline:
                got = await consumer.getmany(timeout_ms=200)
                now = time.perf_counter()
                for records in got.values():
                    for r in records:
                        headers = dict(r.headers)
                        cause = headers.get("x-causation-id", b"").decode()
                        if cause in wanted:
                            wanted.discard(cause)
                            latencies.setdefault(headers["x-event-type"].decode(), []).append(now - sent[cause])
            if wanted:
                print(f"!! {len(wanted)} upstream events produced no case event in time")
            return latencies

        sent: dict[str, float] = {}
        await publish(warmup, sent)
        await drain(warmup, sent, 120)
        cpu_spent = cpu_meter(cpu_of or {})
        start = time.perf_counter()
        task = asyncio.create_task(publish(events, sent, rate))
        latencies = await drain(events, sent, 600)
        elapsed = time.perf_counter() - start
        cpu = cpu_spent()
        await task
        count = sum(len(v) for v in latencies.values())
        return {"elapsed": elapsed, "latencies": latencies, "count": count, "cpu": cpu}
    finally:
        await producer.stop()
        await consumer.stop()


def row(label: str, rate: float, latencies: list[float]) -> str:
    return f"{label:40}{rate:>10.0f}{pct(latencies, 0.5):>10.1f}{pct(latencies, 0.99):>10.1f}"


def report(title: str, result: dict[str, object]) -> None:
    lat: dict[str, list[float]] = result["latencies"]  # type: ignore[assignment]
    elapsed: float = result["elapsed"]  # type: ignore[assignment]
    every = [x for v in lat.values() for x in v]
    print(row(title, result["count"] / elapsed, every))  # type: ignore[operator]
    for kind, values in sorted(lat.items()):
        print(f"{'    ' + kind + ' (count)':40}{len(values):>10}{pct(values, 0.5):>10.1f}{pct(values, 0.99):>10.1f}")


async def main(
    *, n: int, warmup_n: int, seed: int, repeat_share: float, paced_n: int, rate: float, replicas: int
) -> None:
    rng = random.Random(seed)
    print(f"generating {n} + {paced_n} + {warmup_n} upstream events…")
    warmup, events = workload(warmup_n, rng, repeat_share), workload(n, rng, repeat_share)
    paced = workload(paced_n, rng, repeat_share)
    tune_gc(50_000)  # the client shares the two cores with intake: its collector need not rescan the workload
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker(log_file=Path(tmp) / "tansu.log") as broker:
        prefix = f"b{uuid.uuid4().hex[:6]}."
        await ensure_topics(broker.bootstrap, prefix)
        raw_s, raw_lat = await raw_round_trip(broker.bootstrap, prefix + "bench.raw", [e.to_bytes() for e in events])
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
            "CASEFLOW_TOPIC_PREFIX": prefix,
            "CASEFLOW_DATA_DIR": tmp,
            **fresh_keys(),
            **LocalIssuer.ensure(Path(tmp)).env(),  # intake refuses to serve without a token issuer
            "CASEFLOW_LOG_LEVEL": "WARNING",
            **({"CASEFLOW_BATCH_MAX_RECORDS": os.environ["BENCH_BATCH"]} if os.environ.get("BENCH_BATCH") else {}),
        }
        services = [
            ServiceProcess("intake", env, log_file=Path(tmp) / f"intake-{i}.log").start() for i in range(replicas)
        ]
        try:
            for service in services:
                await service.ready(90)
            pids = {f"intake-{i}": s.process.pid if s.process else None for i, s in enumerate(services)}
            pids |= {"tansu": broker.pid, "bench client": os.getpid()}
            flood = await through_intake(broker.bootstrap, prefix, events, warmup, cpu_of=pids)
            steady = await through_intake(broker.bootstrap, prefix, paced, [], rate=rate) if paced_n else None
        finally:
            for service in services:
                service.terminate()
    exceptions = sum(isinstance(e, ParcelExceptionReported) for e in events)
    print(
        f"\n{n} upstream events ({exceptions} exceptions, {n - exceptions} contacts), {os.cpu_count()} cores, "
        f"{replicas} intake process(es) on one SQLite file"
    )
    print(f"{'':40}{'events/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    print(row("raw broker round trip (flood)", n / raw_s, raw_lat))
    report("intake, flood: upstream -> case event", flood)
    flood_rate = flood["count"] / flood["elapsed"]  # type: ignore[operator]
    print(f"ratio intake / raw broker, same run: {flood_rate / (n / raw_s):.3f}")
    cpu: dict[str, float] = flood["cpu"]  # type: ignore[assignment]
    print("CPU per upstream event during the flood: " + ", ".join(f"{k} {v / n * 1e6:.0f} µs" for k, v in cpu.items()))
    if steady is not None:
        report(f"intake, paced at {rate:.0f}/s ({paced_n} events)", steady)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=10_000, help="upstream events to push")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument(
        "--repeat-share", type=float, default=0.25, help="share of contacts about a waybill already seen"
    )
    parser.add_argument("--paced", type=int, default=2000, help="events for the latency run below saturation (0: skip)")
    parser.add_argument("--rate", type=float, default=200, help="events/s of the paced run")
    parser.add_argument(
        "--replicas",
        type=int,
        default=2,
        help="intake processes in one consumer group (one per core: the target figure)",
    )
    args = parser.parse_args()
    asyncio.run(
        main(
            n=args.n,
            warmup_n=args.warmup,
            seed=args.seed,
            repeat_share=args.repeat_share,
            replicas=args.replicas,
            paced_n=args.paced,
            rate=args.rate,
        )
    )
