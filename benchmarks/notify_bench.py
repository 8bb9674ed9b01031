"""notify: notifications per case, e-mail clients, and delivery throughput, each next to a same-run baseline.

    .venv/bin/python benchmarks/notify_bench.py [-n 20000] [--rate 2000] [--seconds 5] [--mails 2000] [--due-at-once 50000]

1. fan-out: a day's stories (the simulator's mix of contact channels and platforms) through the shipped
   policy: notifications per case told once per step on the customer's channel, and with the old
   fan-out (`fan_out: all`, every channel at once);
2. e-mail: --mails messages to a local SMTP server in its own process (aiosmtpd), through the e-mail
   adapter (aiosmtplib on the event loop) and through smtplib in a pool of threads (the adapter as it
   was before, kept here as the baseline); mails/s, p50/p99 and this process's CPU per mail;
3. webhooks: a receiver in its own process (raw asyncio HTTP/1.1, keep-alive; it checks each HMAC
   signature and timestamp and de-duplicates on the delivery id, as a merchant would), then
   baseline: the same HTTP client POSTs N signed webhooks straight at it (no store, no worker);
   drain: N pending deliveries in the real SQLite store, the real worker claims, renders, signs,
   sends and records each one (state sent + notification.sent in the outbox), notifications/s and
   p50/p99 from claim to the durable "sent" record;
   paced: deliveries recorded at --rate per second for --seconds while the worker runs, p50/p99 from
   "pending committed" to "sent committed".
4. a morning's deferred deliveries: --due-at-once deliveries due at one instant (SMS held for quiet hours all
   open at 08:00), read 500 a round by the worker's due query, each round's taken out before the next; CPU a
   round with ties in the order written (what the index holds) and, as the baseline, with ties by id as the
   store ordered them before, which sorts every delivery due at that instant each round.
The machine is shared: compare each figure with the baseline of the same run, and the CPU per item.
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
import random
import secrets
import smtplib
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from caseflow_contracts.cases import CaseOpened, CaseOpenedPayload, StationHint
from caseflow_contracts.common import CaseKind, Channel, MaskedContact, Priority, SealedContact
from caseflow_contracts.notify import NotifyChannel
from caseflow_dev.broker import free_port
from caseflow_kit import Runtime
from caseflow_kit.privacy import Sealer
from caseflow_kit.rules import load_rules
from caseflow_kit.store import Delete, Insert, Query
from caseflow_kit.store.sqlite import SqliteStore
from caseflow_notify import store
from caseflow_notify.app import SPEC
from caseflow_notify.channels import Message, SmtpConfig, SmtpSender, WebhookSender
from caseflow_notify.deps import Deps
from caseflow_notify.domain import Delivery, FanOut, NotifyCase, Says, Trigger, deliveries_for
from caseflow_notify.metrics import NotifyMetrics
from caseflow_notify.policy import Policy
from caseflow_notify.settings import DATA, NotifySettings
from caseflow_notify.templates import Rendered
from caseflow_notify.worker import DeliveryWorker

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
        masked=MaskedContact(name="王*", phone="138****5678", email="x***@example.com"),
        sealed=sealer.seal({"name": "王小明", "phone": "13812345678", "email": "xiaoming@example.com"}),
        key_id="k1",
        phone_present=True,
        email_present=True,
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


async def adapter_run(sender: Any, n: int, message: Callable[[int], Message]) -> Result:
    """N sends through a channel adapter alone (no store, no worker), at most its concurrency at once."""
    latencies: list[float] = []
    gate = asyncio.Semaphore(sender.concurrency)  # as the worker: never more sends than pooled connections

    async def one(i: int) -> None:
        async with gate:
            started = time.perf_counter()
            await sender.send(message(i))
            latencies.append(time.perf_counter() - started)

    cpu, started = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    await sender.close()
    return Result(n / elapsed, latencies, cpu / n * 1e6)


async def baseline(url: str, n: int) -> Result:
    """The worker's own webhook adapter (sign + POST, same connection pool) with no store and no worker."""
    sender = WebhookSender({"shop-bench": [SECRET.encode()]}, timeout_s=5)
    rendered = Rendered("case_acknowledged", "zh-CN", "subject", "【百世快递】您的服务单已受理", "body")
    data = {"case_id": "CF-BASELINE1"}
    return await adapter_run(
        sender, n, lambda i: Message(f"b-{i}", "CF-BASELINE1", "case.opened", url, rendered, data, target="shop-bench")
    )


async def open_runtime(tmp: Path, url: str, concurrency: int) -> Runtime[NotifySettings, Deps]:
    settings = NotifySettings.model_validate(
        {
            "data_dir": tmp,
            "pii_key": base64.b64encode(KEY).decode(),
            "webhook_targets": {"shop-bench": url},
            "webhook_secrets": {"shop-bench": SECRET},
            "worker_max_in_flight": concurrency,
            "worker_batch": 1000,
            "worker_poll_ms": 5,
        }
    )
    runtime = Runtime(SPEC, settings)
    runtime.ownership.own_everything(1)
    await runtime.start_dependencies()
    return runtime


def case_payload(
    i: int, sealer: Sealer, channel: Channel = Channel.PHONE, platform: str | None = "shop-bench"
) -> CaseOpenedPayload:
    cid = f"CF-BENCH{i:06d}{uuid.uuid4().hex[:6].upper()}"
    return CaseOpenedPayload(
        case_id=cid,
        kind=CaseKind.DELAY,
        priority=Priority.NORMAL,
        channel=channel,
        platform=platform,
        language="zh-CN" if i % 3 else "en",
        station_hint=StationHint(reason="bench"),
        customer=contact(sealer),
        customer_ref=f"cust-{i}",
        opened_at=datetime.now(UTC),
        rules_version="bench",
    )


async def seed_cases(runtime: Runtime[NotifySettings, Deps]) -> list[CaseOpened]:
    sealer = Sealer("k1", KEY)
    events = []
    uow = runtime.unit_of_work()
    for i in range(CASES_N):
        payload = case_payload(i, sealer)
        store.save_case(uow, NotifyCase.opened(payload))
        events.append(CaseOpened.create(payload, key=payload.case_id, producer="intake"))
    await uow.commit()
    return events


async def record_pending(runtime: Runtime[NotifySettings, Deps], events: list[CaseOpened], n: int, tag: str) -> None:
    """What the handlers record: one pending webhook delivery per (case, trigger, channel)."""
    uow = runtime.unit_of_work()
    now = time.time()
    for i in range(n):
        event = events[i % len(events)]
        cid = event.payload.case_id
        trigger = Trigger(f"{tag}-{i}", "case.opened", "cases.lifecycle", event.correlation_id)
        variables = {"case_id": cid, "callback_by": datetime.now(UTC).isoformat(), "waybill_no": None}
        variables |= {"from_station": None, "from_agent": None}
        webhook = acknowledgement(cid, NotifyChannel.WEBHOOK, variables, trigger, slot=uow.owner_slot(cid), now=now)
        store.add_delivery(uow, webhook)
    await uow.commit()


def acknowledgement(
    cid: str, channel: NotifyChannel, variables: dict[str, Any], trigger: Trigger, *, slot: int, now: float
) -> Delivery:
    """A pending acknowledgement of a case on one channel."""
    return Delivery.new(
        case_id=cid,
        key=channel,
        channel=channel,
        candidates=(channel,),
        template="case_acknowledged",
        urgent=False,
        variables=variables,
        trigger=trigger,
        slot=slot,
        now=now,
    )


async def sent_count(runtime: Runtime[NotifySettings, Deps]) -> int:
    return await runtime.store.count(store.DELIVERIES, Query(where={"state": "sent"}))


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
    metrics = NotifyMetrics(CollectorRegistry())
    return DeliveryWorker(runtime, runtime.deps, metrics, flush=discarding_relay(runtime), track_latency=track_latency)


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
    failed = await runtime.store.count(store.DELIVERIES, Query(where={"state": "failed"}))
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
    docs = await runtime.store.find(store.DELIVERIES, Query(where={"state": "sent"}))
    latencies = [d["sent_at"] - d["created_at"] for d in docs if d["trigger_event_id"].startswith("paced")]
    return Result(total / elapsed, latencies, cpu / total * 1e6)


# -- 1. notifications per case -----------------------------------------------------------------------

#: Where cases come from in the simulator (devtools/caseflow_dev/simulator.py): about half parcel exceptions
#: (with a platform), half customer contacts (phone twice as often as IM, e-mail, app, web form; 15 % with a
#: platform). A case's story: opened, handed to its station, one progress note, a breach for one in four,
#: resolved, and for one in five a claim decided and paid.
CONTACT_MIX = [Channel.PHONE, Channel.PHONE, Channel.IM, Channel.EMAIL, Channel.APP, Channel.WEB_FORM]
STEPS = [
    ("case.opened", {}, 1.0),
    ("case.escalated", {"trigger": "initial_assignment"}, 1.0),
    ("case.progress_noted", {}, 1.0),
    ("sla.breached", {"metric": "callback"}, 0.25),
    ("case.resolved", {}, 1.0),
    ("claim.decided", {"decision": "approved"}, 0.2),
    ("payout.issued", {}, 0.2),
]


def fan_out(cases: int) -> None:
    policy = load_rules(DATA / "policy.yaml", Policy)
    rng, sealer = random.Random(7), Sealer("k1", KEY)
    stories = []
    for i in range(cases):
        exception = rng.random() < 0.5
        channel = Channel.UPSTREAM if exception else rng.choice(CONTACT_MIX)
        platform = "shop-bench" if exception or rng.random() < 0.15 else None
        steps = [(event, payload) for event, payload, share in STEPS if rng.random() < share]
        stories.append((NotifyCase.opened(case_payload(i, sealer, channel, platform)), steps))
    for label, mode in (
        ("once per step, preferred channel", FanOut.PREFERRED),
        ("old fan-out, every channel", FanOut.ALL),
    ):
        counted: Counter[str] = Counter()
        for case, steps in stories:
            for event, payload in steps:
                told = deliveries_for(
                    policy.model_copy(update={"fan_out": mode}),
                    Trigger(uuid.uuid4().hex, event, "cases.lifecycle", "bench"),
                    Says({}),
                    case,
                    payload={"case_id": case.case_id, **payload},
                    webhook_targets=frozenset({"shop-bench"}),
                    slot=0,
                    now=0.0,
                )
                counted.update(d.channel.value if d.channel else "customer" for d in told.deliveries)
        customer = counted["customer"] + counted["sms"] + counted["email"]
        print(
            f"{label:34}: {sum(counted.values()) / cases:5.2f} notifications per case"
            f" ({customer / cases:.2f} to the customer, {counted['webhook'] / cases:.2f} webhooks)"
        )


# -- 2. e-mail: aiosmtplib on the event loop, next to smtplib in threads ----------------------------------


def smtp_main(port: int, ready: Any, counter: Any) -> None:
    from aiosmtpd.controller import Controller

    class Count:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
            with counter.get_lock():
                counter.value += 1
            return "250 OK"

    controller = Controller(Count(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    threading.Event().wait()


class ThreadedSmtplibSender:
    """The e-mail adapter as it was before (the baseline): smtplib's blocking client, one persistent session
    per thread of a pool, each send handed to a thread from the event loop."""

    def __init__(self, config: SmtpConfig, concurrency: int = 8) -> None:
        self.config = config
        self.concurrency = concurrency
        self._local = threading.local()
        self._threads = ThreadPoolExecutor(max_workers=concurrency)
        self._build = SmtpSender(config).build
        self._sessions: list[smtplib.SMTP] = []

    async def send(self, message: Message) -> None:
        raw = self._build(message)
        await asyncio.get_running_loop().run_in_executor(self._threads, self._send_blocking, message.address, raw)

    def _send_blocking(self, to: str, raw: bytes) -> None:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = smtplib.SMTP(
                self.config.host, self.config.port, timeout=self.config.timeout_s
            )
            session.ehlo_or_helo_if_needed()
            self._sessions.append(session)
        session.sendmail(self.config.sender, [to], raw)

    async def close(self) -> None:
        for session in self._sessions:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                session.quit()
        self._threads.shutdown(wait=True)


async def mail_run(sender: Any, n: int) -> Result:
    body = "您好，百世快递客户服务中心工号9500。\n\n正文\n"
    rendered = Rendered("case_acknowledged", "zh-CN", "您的服务单已受理", "sms", body)
    return await adapter_run(
        sender,
        n,
        lambda i: Message(f"m-{i}-{uuid.uuid4().hex}", "CF-BENCHMAIL01", "case.opened", "li.lei@example.org", rendered),
    )


async def mails(n: int) -> None:
    port = free_port()
    ready, counter = multiprocessing.Event(), multiprocessing.Value("i", 0)
    proc = multiprocessing.Process(target=smtp_main, args=(port, ready, counter), daemon=True)
    proc.start()
    ready.wait(10)
    try:
        config = SmtpConfig(host="127.0.0.1", port=port, sender="service@caseflow.example", timeout_s=10)
        for label, sender in (
            ("e-mail: smtplib in 8 threads", ThreadedSmtplibSender(config)),
            ("e-mail: aiosmtplib, 8 sessions", SmtpSender(config)),
        ):
            before = counter.value
            result = await mail_run(sender, n)
            assert counter.value - before == n, "the server must have each mail"
            print(result.line(label, "mails/s", "(to an SMTP server in its own process)"))
    finally:
        proc.terminate()
        proc.join(5)


# -- 3. webhooks through the worker -----------------------------------------------------------------------


async def run(n: int, rate: int, seconds: float, concurrency: int, mail_n: int) -> None:
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; n={n}, {concurrency} sends in flight")
    fan_out(10_000)
    if mail_n:
        await mails(mail_n)
    port = free_port()
    url = f"http://127.0.0.1:{port}/hooks"
    ready, counter = multiprocessing.Event(), multiprocessing.Value("i", 0)
    proc = multiprocessing.Process(target=receiver_main, args=(port, ready, counter, SECRET), daemon=True)
    proc.start()
    ready.wait(10)
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


# -- 4. deliveries due at one instant --------------------------------------------------------------------


def held_sms(i: int, opening: float) -> Delivery:
    """An SMS held for quiet hours until `opening`."""
    cid, evening = f"CF-HELD{i:07d}", opening - 36_000
    trigger = Trigger(f"held-{i}", "case.opened", "cases.lifecycle", "bench")
    pending = acknowledgement(cid, NotifyChannel.SMS, {"case_id": cid}, trigger, slot=0, now=evening)
    return pending.deferred_until(opening, "quiet_hours", evening)


class TiesById(SqliteStore):
    """The store as it ordered before: ties by id, which no index holds, so SQLite sorted every tie each query."""

    @classmethod
    def select(cls, table: str, query: Query) -> tuple[str, list[Any]]:
        sql, args = super().select(table, query)
        by_id = sql.replace(", rowid ASC", ", id ASC")
        if by_id == sql:  # the store's statement changed: a baseline equal to it would measure nothing
            raise RuntimeError(f"no tie-break by rowid to replace in {sql!r}")
        return by_id, args


async def rounds_of_due(path: Path, n: int, kind: type[SqliteStore]) -> float:
    """CPU of the worker's due query per round of 500, over n deliveries due at one instant."""
    db = kind(path)
    await db.open(store.COLLECTIONS)
    try:
        opening = 1_000.0
        for start in range(0, n, 1000):
            held = [held_sms(i, opening) for i in range(start, min(n, start + 1000))]
            await db.commit([Insert(store.DELIVERIES, store.delivery_to_doc(d)) for d in held])
        spent, rounds = 0.0, 0
        while True:
            cpu = time.process_time()
            due = await store.of_held_slots(db, "due_at", [0], opening, 500)
            spent += time.process_time() - cpu
            if not due:
                return spent / max(rounds, 1)
            rounds += 1
            await db.commit([Delete(store.DELIVERIES, d.id) for d in due])  # as the claims take them out of range
    finally:
        await db.close()


async def due_at_once(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        new = await rounds_of_due(Path(tmp) / "new.db", n, SqliteStore)
        old = await rounds_of_due(Path(tmp) / "old.db", n, TiesById)
    print(
        f"{n} deliveries due at one instant: {new * 1000:.1f} ms of CPU a round of 500 with ties in the order written,"
        f" {old * 1000:.1f} ms with ties by id ({old / new:.1f} x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=20_000)
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=512, help="sends in flight (worker_max_in_flight)")
    parser.add_argument("--mails", type=int, default=2000, help="e-mails per client in the e-mail comparison")
    parser.add_argument("--due-at-once", type=int, default=50_000, help="deliveries due at one instant (0: skip)")
    args = parser.parse_args()
    asyncio.run(run(args.n, args.rate, args.seconds, args.concurrency, args.mails))
    if args.due_at_once:
        asyncio.run(due_at_once(args.due_at_once))


if __name__ == "__main__":
    main()
