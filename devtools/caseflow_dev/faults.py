"""Fault drill: the same day twice, once clean and once with faults, then a reconciliation.

    python -m caseflow_dev.faults [--cases 60]

Both runs get the same upstream events (with poison, malformed and duplicated
events and repeat contacts mixed in) and the same station behaviour. The faulty run
kill -9s each service in turn mid-stream and restarts it, kills a routing
replica while a second one joins (a rebalance), and freezes the broker for a
few seconds. The reconciliation then proves, per waybill, that every case
reached the same final state as in the clean run, that no payout,
notification, breach or case was duplicated, and that nothing was lost.

Tansu here stores topics in memory, so "stopping the broker" is a freeze
(SIGSTOP / SIGCONT): clients lose it for a few seconds and must recover.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from caseflow_contracts import TOPICS, ContractError, Event, parse_event
from caseflow_contracts.cases import CaseEscalated, CaseOpened
from caseflow_contracts.common import LadderLevel
from caseflow_contracts.stations import (
    CallbackOutcome,
    CallbackPayload,
    ResolutionResult,
    ResolvedPayload,
    StationAcknowledged,
    StationCalledBack,
    StationResolved,
    StationUpdatePayload,
)
from caseflow_contracts.topics import CASES_LIFECYCLE, UPSTREAM_CUSTOMER_CONTACTS, UPSTREAM_PARCEL_EXCEPTIONS
from caseflow_contracts.upstream import ExceptionKind
from caseflow_kit.store import Collection, Query
from caseflow_kit.store.sqlite import SqliteStore

from .broker import EmbeddedBroker
from .demo import demo_env
from .harness import ServiceProcess, fresh_keys
from .simulator import Upstream, load_places
from .sinks import HttpSink, SmtpSink
from .testing import KafkaTestKit

SERVICES = ("intake", "routing", "sla", "claims", "notify")
Raw = tuple[str, bytes, bytes]  # topic, key, value


@dataclass(frozen=True)
class Traffic:
    """The day's upstream traffic in two waves.

    Exceptions and contacts travel on two topics, and Kafka orders nothing across topics: a repeat contact
    published just after its parcel's exception may be taken in before it (after a restart, a freeze), and
    then opens its own case instead of merging. That is the system's documented behaviour, so the drill
    publishes repeat contacts only once every exception of the first wave has been taken in; within a wave,
    faults may reorder anything.
    """

    first: list[Raw]
    repeats: list[Raw]

    @property
    def all(self) -> list[Raw]:
        return self.first + self.repeats


def scenario(cases: int, seed: int = 11) -> Traffic:
    """Exceptions, contacts about new parcels, duplicates and bad bytes; then repeat contacts."""
    rng = random.Random(seed)
    upstream = Upstream(rng, load_places(), speed=1)
    first: list[Raw] = []
    repeats: list[Raw] = []
    for i in range(cases):
        event = upstream.exception()
        while event.payload.exception_kind in (ExceptionKind.OUT_OF_AREA, ExceptionKind.PROBLEM_PARCEL):
            event = upstream.exception()
        raw = (UPSTREAM_PARCEL_EXCEPTIONS.name, event.key.encode(), event.to_bytes())
        if i % 10 == 3:
            contact = upstream.contact(repeat=False)
            first.append((UPSTREAM_CUSTOMER_CONTACTS.name, contact.key.encode(), contact.to_bytes()))
        first.append(raw)
        if i % 7 == 0:
            first.append(raw)  # delivered twice
        if i % 9 == 0:
            topic, value = upstream.bad()
            first.append((topic, b"bad", value))
        if i % 5 == 1:
            contact = upstream.contact(repeat=True)
            repeats.append((UPSTREAM_CUSTOMER_CONTACTS.name, contact.key.encode(), contact.to_bytes()))
    return Traffic(first, repeats)


def upstream_ids(traffic: list[Raw]) -> set[str]:
    """The event ids of the valid upstream events in `traffic`."""
    ids = set()
    for _, _, value in traffic:
        try:
            ids.add(parse_event(value).event_id)
        except ContractError:
            continue
    return ids


def taken_in(observed: Observed) -> set[str]:
    """The upstream events intake has turned into a case (opened, merged into or reopened)."""
    return {e.causation_id or "" for e in observed.events if e.type in ("case.opened", "case.merged", "case.reopened")}


async def settled(done: Callable[[], Awaitable[bool]], limit_s: float, every_s: float) -> None:
    """Ask `done` every `every_s` until it says so or `limit_s` passed (the reconciliation shows what is amiss)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if await done():
            return
        await asyncio.sleep(every_s)


async def intake_caught_up(observed: Observed, ids: set[str], limit_s: float = 180) -> None:
    async def all_taken_in() -> bool:
        return not ids - taken_in(observed)

    await settled(all_taken_in, limit_s, 0.2)


@dataclass
class Observed:
    """Everything published on the run's topics."""

    events: list[Event] = field(default_factory=list)
    dead: Counter[str] = field(default_factory=Counter)
    ids_by_type: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))


async def observe(kit: KafkaTestKit, into: Observed, stop: asyncio.Event) -> None:
    names = [kit.topic(t) for t in TOPICS] + [kit.topic(t) + ".dlq" for t in TOPICS]
    consumer = AIOKafkaConsumer(bootstrap_servers=kit.bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50)
    await consumer.start()
    try:
        await consumer.topics()
        parts = [TopicPartition(n, p) for n in names for p in consumer.partitions_for_topic(n) or ()]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        while not stop.is_set():
            for tp, records in (await consumer.getmany(timeout_ms=100)).items():
                for r in records:
                    if tp.topic.endswith(".dlq"):
                        into.dead[
                            f"{tp.topic.removeprefix(kit.prefix)}:{dict(r.headers).get('x-dlq-reason', b'').decode()}"
                        ] += 1
                        continue
                    try:
                        event = parse_event(r.value or b"")
                    except ContractError:
                        continue
                    into.events.append(event)
                    into.ids_by_type[event.type][event.event_id] += 1
    finally:
        await consumer.stop()


class StationBot:
    """Every case handed to a station is acknowledged, called back and resolved, once per hand-over.

    The stations answer only once the upstream traffic is in (`drain`), so that a repeat contact can never
    race a resolution: both runs then see the same interleaving, faults or not.
    """

    def __init__(self, kit: KafkaTestKit) -> None:
        self.kit = kit
        self.handled: set[str] = set()
        self.pending: list[Event] = []

    async def listen(self, stop: asyncio.Event) -> None:
        consumer = AIOKafkaConsumer(
            self.kit.topic(CASES_LIFECYCLE),
            bootstrap_servers=self.kit.bootstrap,
            group_id=self.kit.prefix + "stations",
            auto_offset_reset="earliest",
            fetch_max_wait_ms=50,
        )
        await consumer.start()
        try:
            while not stop.is_set():
                for records in (await consumer.getmany(timeout_ms=100)).values():
                    for r in records:
                        self.react(r.value or b"")
        finally:
            await consumer.stop()

    def react(self, value: bytes) -> None:
        try:
            event = parse_event(value)
        except ContractError:
            return
        if not isinstance(event, CaseEscalated) or event.payload.level is not LadderLevel.STATION:
            return
        if event.event_id in self.handled:
            return
        self.handled.add(event.event_id)
        p = event.payload
        base = {"case_id": p.case_id, "station": p.holder, "agent_id": "A2001", "at": p.escalated_at}
        key, station = p.case_id, p.holder
        self.pending += [
            StationAcknowledged.create(
                StationUpdatePayload(**base), key=key, producer=station, event_id=f"ack-{event.event_id}"
            ),
            StationCalledBack.create(
                CallbackPayload(**base, outcome=CallbackOutcome.REACHED),
                key=key,
                producer=station,
                event_id=f"cb-{event.event_id}",
            ),
            StationResolved.create(
                ResolvedPayload(**base, result=ResolutionResult.RESOLVED, solution="已处理", satisfaction=5),
                key=key,
                producer=station,
                event_id=f"rs-{event.event_id}",
            ),
        ]

    async def drain(self, on_each: Callable[[int, int], Awaitable[None]]) -> int:
        """Publish what the stations have to say, in order; `on_each(i, total)` may inject a fault."""
        sent = 0
        while self.pending:
            batch, self.pending = self.pending, []
            for update in batch:
                await on_each(sent, len(batch))
                await self.kit.publish(update)
                sent += 1
                await asyncio.sleep(0.02)
        return sent


@dataclass
class Run:
    kit: KafkaTestKit
    env: dict[str, str]
    logs: Path
    processes: dict[str, ServiceProcess] = field(default_factory=dict)

    def start(self, name: str, key: str | None = None) -> ServiceProcess:
        process = ServiceProcess(name, self.env, log_file=self.logs / f"{key or name}.log").start()
        self.processes[key or name] = process
        return process

    async def restart(self, name: str) -> None:
        self.processes[name].kill()
        await self.start(name).ready(120)


Fault = Callable[[Run, EmbeddedBroker], Awaitable[None]]


def kill_and_restart(name: str) -> Fault:
    async def fault(run: Run, broker: EmbeddedBroker) -> None:
        await run.restart(name)

    fault.__name__ = f"kill -9 {name}, restart"
    return fault


async def kill_during_rebalance(run: Run, broker: EmbeddedBroker) -> None:
    """A second routing replica joins; the first is killed while the group rebalances."""
    second = run.start("routing", key="routing-2")
    await asyncio.sleep(0.5)
    run.processes["routing"].kill()
    await second.ready(120)
    run.processes["routing"] = run.processes.pop("routing-2")


async def freeze_broker(run: Run, broker: EmbeddedBroker) -> None:
    broker.pause()
    await asyncio.sleep(4)
    broker.resume()


FAULTS: list[Fault] = [
    kill_and_restart("intake"),
    freeze_broker,
    kill_and_restart("routing"),
    kill_and_restart("sla"),
    kill_during_rebalance,
    kill_and_restart("claims"),
    kill_and_restart("notify"),
]
FAULTS[1].__name__ = "freeze the broker 4 s"
FAULTS[4].__name__ = "kill -9 routing during a rebalance"


async def quiet(observed: Observed, settle_s: float, still_s: float = 6, limit_s: float = 120) -> None:
    """Wait at least `settle_s`, then until nothing new was published for `still_s` (retries and timers included)."""
    await asyncio.sleep(settle_s)
    deadline = time.monotonic() + limit_s
    seen = -1
    while len(observed.events) != seen and time.monotonic() < deadline:
        seen = len(observed.events)
        await asyncio.sleep(still_s)


async def deliveries_decided(notify_db: Path, limit_s: float = 180, soon_s: float = 60) -> None:
    """Wait until notify has decided every delivery (sent, failed, skipped, or held for later).

    A send cut off by a kill stays `sending` until its lease expires (a minute or two), and only
    then is retried or failed for a person: the run is compared once that has happened. A delivery
    held for hours (an SMS in the customer's quiet hours, by the time of day the run happens at) is
    decided: both runs hold the same ones.
    """
    store = SqliteStore(notify_db)
    await store.open([Collection("deliveries", indexes=("state", "due_at"))])

    async def all_decided() -> bool:
        sending = await store.count("deliveries", Query(where={"state": "sending"}))
        due_soon = Query(where={"state": "pending"}, range_field="due_at", lt=time.time() + soon_s)
        return sending == 0 and await store.count("deliveries", due_soon) == 0

    try:
        await settled(all_decided, limit_s, 1)
    finally:
        await store.close()


def spread(faults: list[Fault], steps: int) -> dict[int, Fault]:
    """The faults at evenly spaced steps of a stream."""
    return {int(steps * (i + 1) / (len(faults) + 1)): f for i, f in enumerate(faults)}


@dataclass
class Outcome:
    """What a run ended with, per waybill, plus its integrity counts."""

    per_waybill: dict[str, dict[str, Any]]
    counts: Counter[str]
    duplicates: list[str]
    lost: list[str]
    dead: Counter[str]


async def drill(broker: EmbeddedBroker, data: Path, cases: int, faults: bool, settle_s: float = 25) -> Outcome:
    kit = KafkaTestKit(broker.bootstrap, data)
    await kit.create_topics()
    (data / "logs").mkdir(parents=True, exist_ok=True)
    smtp, http = SmtpSink().start(), await HttpSink().start()
    env = kit.env(
        **fresh_keys(),
        CASEFLOW_SESSION_TIMEOUT_MS="6000",
        CASEFLOW_HEARTBEAT_INTERVAL_MS="1000",
        **demo_env(data, 1, smtp, http),
    )
    run = Run(kit, env, data / "logs")
    for name in SERVICES:
        run.start(name)
    await asyncio.gather(*(p.ready(120) for p in run.processes.values()))
    stop = asyncio.Event()
    observed = Observed()
    bot = StationBot(kit)
    tasks = [asyncio.create_task(observe(kit, observed, stop)), asyncio.create_task(bot.listen(stop))]
    traffic = scenario(cases)
    upstream_faults, station_faults = (FAULTS[:4], FAULTS[4:]) if faults else ([], [])
    producer = AIOKafkaProducer(bootstrap_servers=kit.bootstrap, linger_ms=1)
    await producer.start()
    try:
        at = spread(upstream_faults, len(traffic.all))
        for i, (topic, key, value) in enumerate(traffic.all):
            if i == len(traffic.first):
                await intake_caught_up(observed, upstream_ids(traffic.first))
            if i in at:
                await at[i](run, broker)
            await producer.send_and_wait(kit.prefix + topic, value, key=key)
            await asyncio.sleep(0.05)
        await asyncio.sleep(settle_s / 2)
        expected = len(bot.pending)

        async def maybe_fault(i: int, total: int) -> None:
            if (fault := spread(station_faults, expected).get(i)) is not None:
                await fault(run, broker)

        await bot.drain(maybe_fault)
        await quiet(observed, settle_s)
        await deliveries_decided(kit.data_dir / "notify.db")
        await quiet(observed, 0)
        outcome = await summarize(run, observed, traffic.all)
    finally:
        await producer.stop()
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for process in run.processes.values():
            process.terminate()
        await kit.close()
        await http.stop()
        smtp.stop()
    return outcome


async def summarize(run: Run, observed: Observed, traffic: list[Raw]) -> Outcome:
    opened = [e for e in observed.events if isinstance(e, CaseOpened)]
    case_by_waybill: dict[str, list[str]] = defaultdict(list)
    for first in opened:
        if first.payload.case_id not in case_by_waybill[first.payload.waybill_no or ""]:
            case_by_waybill[first.payload.waybill_no or ""].append(first.payload.case_id)
    by_case: dict[str, list[Event]] = defaultdict(list)
    for e in observed.events:
        if case_id := getattr(e.payload, "case_id", None):
            by_case[case_id].append(e)
    per_waybill: dict[str, dict[str, Any]] = {}
    async with httpx.AsyncClient(timeout=5) as http:
        for waybill, case_ids in sorted(case_by_waybill.items()):
            case_id = case_ids[0]
            routed = (await http.get(f"{run.processes['routing'].url}/cases/{case_id}")).json()
            story: list[Any] = by_case[case_id]
            per_waybill[waybill] = {
                "cases": len(case_ids),
                "kind": next(str(e.payload.kind) for e in story if isinstance(e, CaseOpened)),
                "state": routed.get("state"),
                "holder": routed.get("holder"),
                "level": routed.get("level"),
                "paid": sorted(
                    {(p.payload.payout_id, p.payload.amount.amount_minor) for p in story if p.type == "payout.issued"}
                ),
                "charged": sorted(
                    {(c.payload.station, c.payload.total.amount_minor) for c in story if c.type == "chargeback.issued"}
                ),
                "resolved": len({e.event_id for e in story if e.type == "case.resolved"}),
                # Sent, or failed for a person (an e-mail cut off by a crash is never re-sent): decided once.
                "notified": sorted(
                    {
                        (e.payload.trigger_type, str(e.payload.channel))
                        for e in story
                        if e.type in ("notification.sent", "notification.failed")
                    }
                ),
            }
    counts: Counter[str] = Counter({t: len(ids) for t, ids in observed.ids_by_type.items()})
    duplicates = find_duplicates(observed)
    lost = sorted(upstream_ids(traffic) - taken_in(observed))
    return Outcome(per_waybill, counts, duplicates, lost, observed.dead)


def find_duplicates(observed: Observed) -> list[str]:
    """The same business fact published under two event ids: what consumers could not de-duplicate."""
    problems = []
    facts: dict[str, Counter[tuple[str, ...]]] = defaultdict(Counter)
    seen: set[str] = set()
    for e in observed.events:
        if e.event_id in seen:
            continue  # the same event republished: consumers skip it by id
        seen.add(e.event_id)
        p: Any = e.payload
        if e.type == "payout.issued":
            facts[e.type][(p.payout_id,)] += 1
        elif e.type == "chargeback.issued":
            facts[e.type][(p.chargeback_id,)] += 1
        elif e.type in ("notification.sent", "notification.failed"):
            facts["notification"][(p.case_id, p.trigger_event_id, str(p.channel))] += 1
        elif e.type == "sla.breached":
            facts[e.type][(p.case_id, str(p.metric), str(p.level))] += 1
        elif e.type == "case.opened":
            facts[e.type][(e.causation_id or "",)] += 1
    for kind, counter in facts.items():
        problems += [f"{kind} {key} published {n} times" for key, n in counter.items() if n > 1]
    return problems


def differences(clean: Outcome, faulty: Outcome) -> list[str]:
    diffs = []
    for waybill in sorted(set(clean.per_waybill) | set(faulty.per_waybill)):
        a, b = clean.per_waybill.get(waybill), faulty.per_waybill.get(waybill)
        if a is None or b is None:
            diffs.append(f"{waybill}: only in the {'faulty' if a is None else 'clean'} run")
            continue
        for key in a:
            if key == "paid":
                same = [amount for _, amount in a[key]] == [amount for _, amount in b[key]]
            else:
                same = a[key] == b[key]
            if not same:
                diffs.append(f"{waybill} {key}: clean {a[key]} vs faulty {b[key]}")
    return diffs


def report(clean: Outcome, faulty: Outcome) -> str:
    lines = ["reconciliation (clean run | faulty run)"]
    for kind in sorted(set(clean.counts) | set(faulty.counts)):
        lines.append(f"  {kind:28} {clean.counts[kind]:6} | {faulty.counts[kind]:6}")
    lines.append(f"  {'dead-lettered':28} {sum(clean.dead.values()):6} | {sum(faulty.dead.values()):6}")
    lines.append(f"  waybills compared: {len(clean.per_waybill)}; differences: {len(differences(clean, faulty))}")
    lines.append(f"  duplicates: clean {len(clean.duplicates)}, faulty {len(faulty.duplicates)}")
    lines.append(f"  lost upstream events: clean {len(clean.lost)}, faulty {len(faulty.lost)}")
    return "\n".join(lines)


async def main_async(cases: int, root: Path) -> int:
    with EmbeddedBroker(log_file=root / "tansu.log") as broker:
        clean = await drill(broker, root / "clean", cases, faults=False)
        faulty = await drill(broker, root / "faulty", cases, faults=True)
    print(report(clean, faulty))
    for line in differences(clean, faulty) + faulty.duplicates + [f"lost {x}" for x in faulty.lost]:
        print("  !", line)
    ok = not differences(clean, faulty) and not faulty.duplicates and not faulty.lost
    print("RECONCILED" if ok else "NOT RECONCILED")
    return 0 if ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=60)
    parser.add_argument("--dir", type=Path, default=Path("data/faults") / time.strftime("%Y%m%d-%H%M%S"))
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    raise SystemExit(asyncio.run(main_async(args.cases, args.dir)))


if __name__ == "__main__":
    main()
