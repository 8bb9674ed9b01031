"""notify delivery throughput and latency to a local webhook receiver, next to a same-run baseline.

    .venv/bin/python benchmarks/notify_bench.py [-n 20000] [--rate 2000] [--seconds 5]

Starts a webhook receiver as its own process (raw asyncio HTTP/1.1, keep-alive; it checks
each HMAC signature and timestamp and de-duplicates on the delivery id, as a merchant would), then:

1. baseline: the same HTTP client POSTs N signed webhooks straight at it (no store, no worker);
2. drain: N pending deliveries in the real SQLite store, the real worker claims, renders,
   signs, sends and records each one (state sent + notification.sent in the outbox);
   prints notifications/s and p50/p99 from claim to the durable "sent" record;
3. paced: deliveries are recorded at --rate per second for --seconds while the worker runs;
   prints p50/p99 from "pending committed" to "sent committed".
The machine is shared: compare the worker to the baseline of the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import multiprocessing
import os
import secrets
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from caseflow_contracts.cases import CaseOpened, CaseOpenedPayload, StationHint
from caseflow_contracts.common import CaseKind, Channel, MaskedContact, Priority, SealedContact
from caseflow_contracts.notify import NotifyChannel
from caseflow_dev.broker import free_port
from caseflow_kit import Runtime
from caseflow_kit.privacy import Sealer
from caseflow_kit.store import Query
from caseflow_notify.app import SPEC
from caseflow_notify.channels import Message, WebhookSender
from caseflow_notify.delivery import DeliveryWorker, Deps
from caseflow_notify.domain import notification_id
from caseflow_notify.settings import NotifySettings
from caseflow_notify.store import CASES, DELIVERIES, case_doc, delivery_doc
from caseflow_notify.templates import Rendered

#: A throwaway key for the local receiver, made afresh for each run.
SECRET = secrets.token_hex(16)
KEY = bytes(range(32))
CASES_N = 500


# -- the receiver (its own process) -----------------------------------------------------------------


def receiver_main(port: int, ready: Any, counter: Any, secret: str) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen: set[str] = set()
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                headers = {}
                for line in head.decode("latin-1").split("\r\n")[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                ts = headers.get("x-caseflow-timestamp", "0")
                good = hmac.compare_digest(
                    "v1=" + hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest(),
                    headers.get("x-caseflow-signature", ""),
                )
                fresh = abs(time.time() - int(ts)) < 300
                delivery = headers.get("x-caseflow-delivery", "")
                status = b"200 OK" if good and fresh else b"401 Unauthorized"
                if good and fresh and delivery not in seen:
                    seen.add(delivery)
                    with counter.get_lock():
                        counter.value += 1
                writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
        ready.set()
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# -- helpers ------------------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def contact(sealer: Sealer) -> SealedContact:
    return SealedContact(
        masked=MaskedContact(name="王*", phone="138****5678"),
        sealed=sealer.seal({"name": "王小明", "phone": "13812345678"}),
        key_id="k1",
    )


@dataclass
class Result:
    rate: float
    latencies: list[float]
    cpu_us: float  # CPU time of this process (all threads) per item: steadier than wall time on a shared machine

    def line(self, label: str, unit: str, note: str) -> str:
        return (
            f"{label:34}: {self.rate:7.0f} {unit:8} p50 {pct(self.latencies, 0.5):7.1f} ms"
            f"  p99 {pct(self.latencies, 0.99):7.1f} ms  cpu {self.cpu_us:5.0f} us/item"
            f" (~{1e6 / self.cpu_us:5.0f}/s per free core)  {note}"
        )


async def baseline(url: str, n: int) -> Result:
    """The worker's own webhook adapter (sign + POST, same connection pool) with no store and no worker."""
    sender = WebhookSender({"shop-bench": [SECRET.encode()]}, timeout_s=5)
    rendered = Rendered("case_acknowledged", "zh-CN", "subject", "【百世快递】您的服务单已受理", "body")
    latencies: list[float] = []
    sem = asyncio.Semaphore(sender.concurrency)  # as the worker: never more sends than pooled connections

    async def one(i: int) -> None:
        async with sem:
            data = {"case_id": "CF-BASELINE1"}
            message = Message(f"b-{i}", "CF-BASELINE1", "case.opened", url, rendered, data, target="shop-bench")
            started = time.perf_counter()
            await sender.send(message)
            latencies.append(time.perf_counter() - started)

    cpu, started = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    await sender.close()
    return Result(n / elapsed, latencies, cpu / n * 1e6)


async def open_runtime(tmp: Path, url: str, concurrency: int) -> Runtime[NotifySettings, Deps]:
    settings = NotifySettings.model_validate(
        {
            "data_dir": tmp,
            "pii_key": base64.b64encode(KEY).decode(),
            "webhook_targets": {"shop-bench": url},
            "webhook_secrets": {"shop-bench": SECRET},
            "worker_max_in_flight": concurrency,
        }
    )
    runtime = Runtime(SPEC, settings)
    runtime.ownership.own_everything(1)
    await runtime.start_dependencies()
    return runtime


async def seed_cases(runtime: Runtime[NotifySettings, Deps]) -> list[CaseOpened]:
    sealer = Sealer("k1", KEY)
    events = []
    uow = runtime.unit_of_work()
    for i in range(CASES_N):
        cid = f"CF-BENCH{i:06d}{uuid.uuid4().hex[:6].upper()}"
        payload = CaseOpenedPayload(
            case_id=cid,
            kind=CaseKind.DELAY,
            priority=Priority.NORMAL,
            channel=Channel.PHONE,
            platform="shop-bench",
            language="zh-CN" if i % 3 else "en",
            station_hint=StationHint(reason="bench"),
            customer=contact(sealer),
            customer_ref=f"cust-{i}",
            opened_at=datetime.now(UTC),
            rules_version="bench",
        )
        event = CaseOpened.create(payload, key=cid, producer="intake")
        uow.add(CASES, case_doc(payload))
        events.append(event)
    await uow.commit()
    return events


async def record_pending(runtime: Runtime[NotifySettings, Deps], events: list[CaseOpened], n: int, tag: str) -> None:
    """What the handlers record: one pending webhook delivery per (case, trigger, channel)."""
    uow = runtime.unit_of_work()
    for i in range(n):
        event = events[i % len(events)]
        cid = event.payload.case_id
        trigger = f"{tag}-{i}"
        uow.add(
            DELIVERIES,
            delivery_doc(
                notification_id=notification_id(cid, trigger, NotifyChannel.WEBHOOK),
                case_id=cid,
                channel="webhook",
                template="case_acknowledged",
                urgent=False,
                variables={"case_id": cid, "callback_by": datetime.now(UTC).isoformat(), "waybill_no": None},
                trigger_event_id=trigger,
                trigger_type="case.opened",
                trigger_topic="cases.lifecycle",
                correlation_id=event.correlation_id,
                slot=uow.owner_slot(cid),
            ),
        )
    await uow.commit()


async def sent_count(runtime: Runtime[NotifySettings, Deps]) -> int:
    return await runtime.store.count(DELIVERIES, Query(where={"state": "sent"}))


def discarding_relay(runtime: Runtime[NotifySettings, Deps]) -> Callable[[], Awaitable[int]]:
    """The outbox relay's store work (read, then forget what was published) without a broker."""
    published = [0]

    async def flush() -> int:
        records = await runtime.store.outbox_pending(1000)
        await runtime.store.outbox_done([r.id for r in records])
        published[0] += len(records)
        return len(records)

    return flush


def worker_for(runtime: Runtime[NotifySettings, Deps], *, track_latency: bool = False) -> DeliveryWorker:
    return DeliveryWorker(
        runtime.store,
        runtime.unit_of_work,
        discarding_relay(runtime),
        runtime.deps,
        runtime.ownership,
        group_id="bench",
        topic_prefix="",
        batch=1000,
        max_in_flight=runtime.settings.worker_max_in_flight,
        poll_s=0.005,
        track_latency=track_latency,
    )


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def drain(runtime: Runtime[NotifySettings, Deps], n: int) -> Result:
    worker = worker_for(runtime, track_latency=True)
    cpu, started = time.process_time(), time.perf_counter()
    task = asyncio.create_task(worker.run())
    deadline = time.monotonic() + 600
    while worker.stats.sent + worker.stats.failed < n and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.005)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    await stop(task)
    failed = await runtime.store.count(DELIVERIES, Query(where={"state": "failed"}))
    assert failed == 0, f"{failed} deliveries failed"
    assert await sent_count(runtime) == n, f"only {await sent_count(runtime)} of {n} sent; {worker.stats}"
    return Result(n / elapsed, worker.stats.latencies, cpu / n * 1e6)


async def paced(runtime: Runtime[NotifySettings, Deps], events: list[CaseOpened], rate: int, seconds: float) -> Result:
    worker = worker_for(runtime)
    tick, total = 0.05, int(rate * seconds)
    per_tick = max(1, int(rate * tick))
    cpu, started = time.process_time(), time.perf_counter()
    task = asyncio.create_task(worker.run())
    for k in range(0, total, per_tick):
        await record_pending(runtime, events, min(per_tick, total - k), f"paced{k}")
        worker.wake()
        await asyncio.sleep(max(0.0, started + (k + per_tick) / rate - time.perf_counter()))
    deadline = time.monotonic() + 600
    while worker.stats.sent + worker.stats.failed < total and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.005)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    await stop(task)
    docs = await runtime.store.find(DELIVERIES, Query(where={"state": "sent"}))
    latencies = [d["sent_at"] - d["created_at"] for d in docs if d["trigger_event_id"].startswith("paced")]
    return Result(total / elapsed, latencies, cpu / total * 1e6)


async def run(n: int, rate: int, seconds: float, concurrency: int) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/hooks"
    ready, counter = multiprocessing.Event(), multiprocessing.Value("i", 0)
    proc = multiprocessing.Process(target=receiver_main, args=(port, ready, counter, SECRET), daemon=True)
    proc.start()
    ready.wait(10)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; n={n}, {concurrency} sends in flight")
    try:
        base = await baseline(url, n)
        print(base.line("baseline: signed POSTs, no store", "req/s", "(same adapter, same 64-connection pool)"))
        with tempfile.TemporaryDirectory() as tmp:
            runtime = await open_runtime(Path(tmp), url, concurrency)
            try:
                events = await seed_cases(runtime)
                await record_pending(runtime, events, n, "drain")
                received_before = counter.value
                result = await drain(runtime, n)
                note = f"(claim -> sent recorded; {result.rate / base.rate:.0%} of baseline)"
                print(result.line("notify worker, backlog of n", "notif/s", note))
                assert counter.value - received_before == n, "the receiver must have each notification exactly once"
                result = await paced(runtime, events, rate, seconds)
                note = "(pending committed -> sent committed)"
                print(result.line(f"notify worker, offered {rate}/s", "notif/s", note))
                print(f"receiver accepted {counter.value} distinct signed deliveries")
            finally:
                await runtime.close()
    finally:
        proc.terminate()
        proc.join(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=20_000)
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=512, help="sends in flight (worker_max_in_flight)")
    args = parser.parse_args()
    asyncio.run(run(args.n, args.rate, args.seconds, args.concurrency))


if __name__ == "__main__":
    main()
