"""The chaos run: the same day twice, once clean and once with faults, then a reconciliation.

    python -m caseflow_dev.chaos [--minutes 10] [--replicas 2] [--kill-every 6] [--pause 5]
    python -m caseflow_dev.chaos --simulated-day [--speed 600] [--rate 10] --minutes 2 --kill-every 8

Every service runs as `--replicas` processes in one consumer group, sharing one store per service,
as Kubernetes runs them. Both runs get the same upstream traffic (exceptions with duplicates, poison
and malformed bytes mixed in, contacts, then repeat contacts once their parcels' cases exist) and the
same station behaviour. In the chaotic run a monkey kill -9s a random replica every few seconds and
restarts it (each kill moves slots between replicas: a rebalance), and the broker is frozen once.
Then a separate consumer, which shares no code path with the services, reads every topic from the
start and checks:
- order: per case, the events of each service arrive in the order that service committed them
  (the `x-commit-seq` header the outbox relay stamps), counting each event at its first arrival;
- once: each breach, payout, chargeback, case and notification appears once per business key
  (a republished copy carries the same event id and is not counted twice);
- the same end: per waybill, the chaotic run ends where the clean run ended (cases, state, holder,
  level, payouts, chargebacks, resolutions, notifications; a notification one run sent is explained
  from the other run's notify store), and no upstream event was lost;
- late facts (issue 20): no contact merged into a case closed by then and left there (no reopen, no
  follow-up case), no breach standing against a station update that was on the broker before its deadline.
A run is judged once the suite has nothing left to do (`Backlog`: every group committed what it reads,
every outbox published, every delivery decided), not after a fixed wait.
`--simulated-day` runs the simulator's day instead (its station bots, HQ desk and customers react to what
the suite does) at `--speed`, SLA targets scaled the same way as `make run` scales them, under the same
faults. The simulator reacts to timing, so there is no clean run to compare with: it checks the invariants
(late facts, once, order, nothing lost) and that every dead letter is one of the simulator's bad inputs.
Tansu here keeps topics in memory, so "stopping the broker" is a freeze (SIGSTOP / SIGCONT).
Each run's folder keeps its stores, logs and `observed.tsv` (one line per record read: topic, partition,
offset, broker time, key, type, event id) for a post-mortem.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import random
import sqlite3
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from caseflow_contracts import TOPICS, ContractError, Event, parse_event
from caseflow_contracts.cases import CaseClosed, CaseEscalated, CaseMerged, CaseOpened, CaseReopened
from caseflow_contracts.common import LadderLevel
from caseflow_contracts.notify import NotificationFailed
from caseflow_contracts.sla import SlaBreached, SlaBreachWithdrawn, SlaMet, SlaMetric
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
from caseflow_contracts.upstream import ContactCategory, CustomerContacted, ExceptionKind, ParcelExceptionReported
from caseflow_kit.auth import Role
from caseflow_kit.outbox import COMMIT_SEQ_HEADER
from caseflow_kit.store import Collection, Query
from caseflow_kit.store.sqlite import SqliteStore

from .broker import EmbeddedBroker
from .demo import demo_env
from .harness import ServiceProcess, fresh_keys
from .simulator import Upstream, load_places, simulate
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


#: Parcel faults a customer claims compensation for in the scenario.
CLAIMABLE = frozenset({ExceptionKind.LOSS, ExceptionKind.DAMAGE, ExceptionKind.SHORTAGE})


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
        if event.payload.exception_kind in CLAIMABLE:  # money moves only when someone asks
            claim = upstream.contact(about=event.payload.waybill_no, category=ContactCategory.CLAIM_REQUEST)
            repeats.append((UPSTREAM_CUSTOMER_CONTACTS.name, claim.key.encode(), claim.to_bytes()))
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
    #: per (topic, key, producer): the commit sequence of each event at its first arrival, in arrival order
    sequences: dict[tuple[str, str, str], list[str]] = field(default_factory=lambda: defaultdict(list))
    first_seen: set[str] = field(default_factory=set)
    #: when the broker took each event in (its record timestamp), at its first arrival
    broker_time: dict[str, datetime] = field(default_factory=dict)

    def arrived(self, topic: str, event: Event, headers: dict[str, bytes], broker_ms: int | None = None) -> None:
        self.events.append(event)
        self.ids_by_type[event.type][event.event_id] += 1
        if broker_ms is not None:
            self.broker_time.setdefault(event.event_id, datetime.fromtimestamp(broker_ms / 1000, UTC))
        seq = headers.get(COMMIT_SEQ_HEADER)
        if event.event_id in self.first_seen or seq is None:
            return  # a republished copy, or an upstream event (no outbox)
        self.first_seen.add(event.event_id)
        self.sequences[(topic, event.key, event.producer)].append(seq.decode())

    def out_of_order(self) -> list[str]:
        """Stories in which a service's event arrived after one it committed later."""
        problems = []
        for (topic, key, producer), seqs in self.sequences.items():
            for before, after in itertools.pairwise(seqs):
                if after <= before:
                    problems.append(f"{topic} {key}: {producer} committed #{after} before #{before}, it arrived after")
                    break
        return problems


def first_arrivals(events: Iterable[Event]) -> Iterator[Event]:
    """Each event once, at its first arrival (a republished copy is skipped by id, as consumers do)."""
    seen: set[str] = set()
    for e in events:
        if e.event_id not in seen:
            seen.add(e.event_id)
            yield e


def contacts_lost_in_closed_cases(events: Iterable[Event]) -> list[str]:
    """Contacts merged into a case that was closed when the merge was applied, and neither reopened the case
    after it nor opened a linked follow-up case (issue 20: a contact after closure is never absorbed).

    A case's events share one partition of cases.lifecycle, so their arrival order is the order routing
    applied them in; a follow-up case has its own key, so it may arrive on either side of the merge."""
    closed: set[str] = set()
    unanswered: dict[str, list[str]] = defaultdict(list)  # case -> contacts merged into it while closed
    follow_ups: Counter[str] = Counter()  # closed case -> follow-up cases opened for it
    for e in first_arrivals(events):
        if isinstance(e, CaseClosed):
            closed.add(e.payload.case_id)
        elif isinstance(e, CaseReopened):
            closed.discard(e.payload.case_id)
            unanswered.pop(e.payload.case_id, None)
        elif isinstance(e, CaseMerged) and e.payload.case_id in closed:
            unanswered[e.payload.case_id].append(e.payload.source_event_id)
        elif isinstance(e, CaseOpened) and e.payload.linked_case_id is not None:
            follow_ups[e.payload.linked_case_id] += 1
    return [
        f"{case}: contact {contact} merged after the case closed; no reopen or follow-up case"
        for case, contacts in sorted(unanswered.items())
        for contact in contacts[follow_ups[case] :]
    ]


def _stops(event: Event) -> tuple[str, str, SlaMetric] | None:
    """The (case, station, clock) a station's update stops: a callback that reached the customer and told
    the result, or a resolution."""
    if isinstance(event, StationCalledBack):
        told = event.payload.outcome is CallbackOutcome.REACHED and bool(event.payload.result.strip())
        return (event.payload.case_id, event.payload.station, SlaMetric.CALLBACK) if told else None
    if isinstance(event, StationResolved) and event.payload.result is not ResolutionResult.PENDING:
        return event.payload.case_id, event.payload.station, SlaMetric.RESOLUTION
    return None


def breaches_charged_for_on_time_updates(events: Iterable[Event], broker_time: Mapping[str, datetime]) -> list[str]:
    """Breaches that stand (never withdrawn) although the station's update that stops that clock was on the
    broker after the clock started and before its deadline (issue 20: judged on when things happened)."""
    arrivals = list(first_arrivals(events))
    withdrawn = {e.payload.breach_event_id for e in arrivals if isinstance(e, SlaBreachWithdrawn)}
    on_broker: dict[tuple[str, str, SlaMetric], list[datetime]] = defaultdict(list)
    for e in arrivals:
        if (stops := _stops(e)) is not None and e.event_id in broker_time:
            on_broker[stops].append(broker_time[e.event_id])
    problems = []
    for breach in arrivals:
        if not isinstance(breach, SlaBreached) or breach.event_id in withdrawn:
            continue
        p = breach.payload
        stopped = [t for t in on_broker.get((p.case_id, p.station or "", p.metric), ()) if p.started_at <= t]
        if any(t < p.deadline_at for t in stopped):
            early = (p.deadline_at - min(stopped)).total_seconds()
            problems.append(
                f"{p.case_id}: {p.metric} breach charged to {p.station} whose update was on the broker"
                f" {early:.1f} s before the deadline"
            )
    return problems


async def observe(kit: KafkaTestKit, into: Observed, stop: asyncio.Event, journal: Path | None = None) -> None:
    """Read every topic from the start into `into`; `journal` keeps one line per record for a post-mortem."""
    names = [kit.topic(t) for t in TOPICS] + [kit.topic(t) + ".dlq" for t in TOPICS]
    consumer = AIOKafkaConsumer(bootstrap_servers=kit.bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50)
    await consumer.start()
    try:
        await consumer.topics()
        parts = [TopicPartition(n, p) for n in names for p in consumer.partitions_for_topic(n) or ()]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        lines = journal.open("w") if journal is not None else None
        while not stop.is_set():
            for tp, records in (await consumer.getmany(timeout_ms=100)).items():
                for r in records:
                    if lines is not None:
                        lines.write(_journal_line(tp.topic.removeprefix(kit.prefix), r))
                    if tp.topic.endswith(".dlq"):
                        into.dead[
                            f"{tp.topic.removeprefix(kit.prefix)}:{dict(r.headers).get('x-dlq-reason', b'').decode()}"
                        ] += 1
                        continue
                    try:
                        event = parse_event(r.value or b"")
                    except ContractError:
                        continue
                    into.arrived(tp.topic.removeprefix(kit.prefix), event, dict(r.headers), r.timestamp)
            if lines is not None:
                lines.flush()
    finally:
        await consumer.stop()
        if lines is not None:
            lines.close()


def _journal_line(topic: str, r: Any) -> str:
    """topic, partition, offset, broker time (ms), key, event type and id: no payload (no personal data)."""
    headers = dict(r.headers)
    event_id = ""
    with contextlib.suppress(ContractError):
        event_id = parse_event(r.value or b"").event_id
    kind = headers.get("x-event-type", b"").decode("utf-8", "replace")
    key = (r.key or b"").decode("utf-8", "replace")
    return f"{topic}\t{r.partition}\t{r.offset}\t{r.timestamp}\t{key}\t{kind}\t{event_id}\n"


class StationBot:
    """Every case handed to a station is acknowledged, called back and resolved, once per hand-over.

    The stations answer only once the upstream traffic is in (`drain`), so that a repeat contact can never
    race a resolution: both runs then see the same interleaving, faults or not. From then on a hand-over
    is answered as it comes (faults can delay one past the drain).
    """

    def __init__(self, kit: KafkaTestKit) -> None:
        self.kit = kit
        self.handled: set[str] = set()
        self.pending: list[Event] = []
        self.answering = False

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
                if self.answering:
                    await self.drain()
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
                CallbackPayload(**base, outcome=CallbackOutcome.REACHED, result="已告知客户处理结果"),
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

    async def drain(self) -> int:
        """Publish what the stations have to say, in order; answer every later hand-over as it comes."""
        self.answering = True
        sent = 0
        while self.pending:
            batch, self.pending = self.pending, []
            for update in batch:
                await self.kit.publish(update)
                sent += 1
                await asyncio.sleep(0.02)
        return sent


@dataclass
class Cluster:
    """`replicas` processes of every service in one consumer group each, sharing one store per service."""

    kit: KafkaTestKit
    env: dict[str, str]
    logs: Path
    replicas: int
    processes: dict[str, ServiceProcess] = field(default_factory=dict)

    def start_all(self) -> None:
        for name in SERVICES:
            for n in range(1, self.replicas + 1):
                self.start(f"{name}-{n}")

    def start(self, key: str) -> ServiceProcess:
        name = key.rsplit("-", 1)[0]
        process = ServiceProcess(name, self.env, log_file=self.logs / f"{key}.log").start()
        self.processes[key] = process
        return process

    async def ready(self, timeout_s: float = 180) -> None:
        await asyncio.gather(*(p.ready(timeout_s) for p in self.processes.values()))

    def kill_and_restart(self, key: str) -> None:
        self.processes[key].kill()
        self.start(key)

    def url(self, name: str) -> str:
        return self.processes[f"{name}-1"].url

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()


@dataclass(frozen=True)
class Chaos:
    """What the monkey does: every `kill_every_s` (give or take half) kill -9 a random replica of the next
    service (each service once per round, in a random order), `kills` times at most (None: until the run
    calms down), and freeze the broker once for `pause_s`, `pause_after_s` into the run."""

    kill_every_s: float = 6.0
    pause_s: float = 5.0
    pause_after_s: float = 20.0
    seed: int = 3
    kills: int | None = None


async def monkey(cluster: Cluster, broker: EmbeddedBroker, chaos: Chaos, stop: asyncio.Event, done: list[str]) -> None:
    rng = random.Random(chaos.seed)
    started = time.monotonic()
    frozen = False
    victims: list[str] = []
    kills = 0
    while not stop.is_set() and (not frozen or chaos.kills is None or kills < chaos.kills):
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(chaos.kill_every_s * rng.uniform(0.5, 1.5)):
                await stop.wait()
        if stop.is_set():
            return
        if not frozen and time.monotonic() - started >= chaos.pause_after_s:
            frozen = True
            broker.pause()
            await asyncio.sleep(chaos.pause_s)
            broker.resume()
            done.append(f"froze the broker {chaos.pause_s:g} s")
            continue
        if chaos.kills is not None and kills >= chaos.kills:
            continue  # only the freeze is still to come
        victims = victims or rng.sample(SERVICES, len(SERVICES))
        key = f"{victims.pop()}-{rng.randint(1, cluster.replicas)}"
        cluster.kill_and_restart(key)
        kills += 1
        done.append(f"kill -9 {key}")


async def quiet(observed: Observed, still_s: float, limit_s: float = 120) -> None:
    """Wait until nothing new was published for `still_s` (retries and timers included)."""
    deadline = time.monotonic() + limit_s
    seen = -1
    while len(observed.events) != seen and time.monotonic() < deadline:
        seen = len(observed.events)
        await asyncio.sleep(still_s)


class Backlog:
    """What the suite still has to do: records a service's consumer group has not committed yet, events
    committed to a service's outbox and not published yet, and deliveries notify has not decided yet.

    Judging a run once all three are empty compares what both runs did with all of their input, whatever
    the faults delayed, rather than what each got done by a fixed time."""

    def __init__(self, kit: KafkaTestKit) -> None:
        self.kit = kit
        self.ends = AIOKafkaConsumer(bootstrap_servers=kit.bootstrap, enable_auto_commit=False)
        # one client per service group, never subscribed (it does not join): it only reads the group's offsets
        self.groups = {
            service: AIOKafkaConsumer(
                bootstrap_servers=kit.bootstrap, group_id=f"{kit.prefix}caseflow-{service}", enable_auto_commit=False
            )
            for service in SERVICES
        }
        self.deliveries = SqliteStore(kit.data_dir / "notify.db")

    async def __aenter__(self) -> Backlog:
        await self.ends.start()
        for group in self.groups.values():
            await group.start()
        await self.deliveries.open([Collection("deliveries", indexes=("state", "due_at"))])
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.deliveries.close()
        for group in self.groups.values():
            await group.stop()
        await self.ends.stop()

    async def undecided(self, soon_s: float = 60) -> int:
        """Deliveries being sent or due within `soon_s` (a retry, a reclaimed send). A send cut off by a kill
        stays `sending` until the replica that takes its slot over reclaims it. A delivery held for hours (an
        SMS in the customer's quiet hours, by the time of day the run happens at) is decided: both runs hold
        the same ones."""
        sending = await self.deliveries.count("deliveries", Query(where={"state": "sending"}))
        due_soon = Query(where={"state": "pending"}, range_field="due_at", lt=time.time() + soon_s)
        return sending + await self.deliveries.count("deliveries", due_soon)

    async def unconsumed(self) -> Counter[str]:
        """Per service, the records on the topics it reads that its group has not committed."""
        behind: Counter[str] = Counter()
        for service in SERVICES:
            parts = [
                TopicPartition(self.kit.topic(t), p)
                for t in TOPICS
                if service in t.consumers
                for p in self.ends.partitions_for_topic(self.kit.topic(t)) or ()
            ]
            ends = await self.ends.end_offsets(parts)
            for tp in parts:
                done = await self.groups[service].committed(tp) or 0
                behind[service] += max(ends[tp] - done, 0)
        return behind

    def unpublished(self) -> Counter[str]:
        """Per service, the events committed to its store's outbox and not yet on the broker."""
        waiting: Counter[str] = Counter()
        for service in SERVICES:
            with contextlib.closing(sqlite3.connect(self.kit.data_dir / f"{service}.db", timeout=30)) as db:
                waiting[service] = db.execute("SELECT count(*) FROM _outbox").fetchone()[0]
        return waiting

    async def empty(self) -> bool:
        await self.ends.topics()  # fresh metadata
        return not await self.undecided() and not +self.unpublished() and not +(await self.unconsumed())

    async def drained(self, limit_s: float = 300) -> None:
        """Until the backlog is empty twice in a row (what one service finishes is input to another), or
        `limit_s` passed: the reconciliation then shows what is amiss."""
        empty_before = False

        async def twice() -> bool:
            nonlocal empty_before
            empty_now = await self.empty()
            done, empty_before = empty_before and empty_now, empty_now
            return done

        await settled(twice, limit_s, 1)


@dataclass
class Outcome:
    """What a run ended with, per waybill, plus its integrity counts."""

    per_waybill: dict[str, dict[str, Any]]
    counts: Counter[str]
    duplicates: list[str]
    lost: list[str]
    dead: Counter[str]
    out_of_order: list[str] = field(default_factory=list)
    stories: int = 0  # (topic, case, service) stories whose order was checked
    faults: list[str] = field(default_factory=list)
    closed_merges: list[str] = field(default_factory=list)  # contacts absorbed by a closed case
    #: per waybill and trigger type, what notify's store holds for it (to explain a notification difference)
    deliveries: dict[str, dict[str, str]] = field(default_factory=dict)
    #: waybills whose case routing sent past a station at capacity (see `capacity_bound`)
    at_capacity: set[str] = field(default_factory=set)
    failed: Counter[str] = field(default_factory=Counter)  # notification.failed, by reason
    unfair_breaches: list[str] = field(default_factory=list)  # breaches standing against an on-time update


@dataclass
class Day:
    """The suite running for one day: its replicas, what the observer has read, the faults done so far."""

    kit: KafkaTestKit
    cluster: Cluster
    observed: Observed = field(default_factory=Observed)
    faults: list[str] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)  # set: the day's background tasks end
    calm: asyncio.Event = field(default_factory=asyncio.Event)  # set: the monkey stops
    tasks: list[asyncio.Task[None]] = field(default_factory=list)  # ended by `stop`
    monkey: asyncio.Task[None] | None = None

    async def calm_down(self) -> None:
        """Stop the monkey and wait until every replica is back."""
        self.calm.set()
        if self.monkey is not None:
            await self.monkey
        await self.cluster.ready()


@contextlib.asynccontextmanager
async def suite(
    broker: EmbeddedBroker, data: Path, *, replicas: int, speed: float = 1, chaos: Chaos | None = None
) -> AsyncIterator[Day]:
    """`replicas` of every service on SLA policies scaled by `speed` (as `make run` scales them), an observer
    reading every topic from the start, and the monkey when there is `chaos`."""
    kit = KafkaTestKit(broker.bootstrap, data)
    await kit.create_topics()
    (data / "logs").mkdir(parents=True, exist_ok=True)
    smtp, http = SmtpSink().start(), await HttpSink().start()
    env = kit.env(
        **fresh_keys(),
        CASEFLOW_SESSION_TIMEOUT_MS="6000",
        CASEFLOW_HEARTBEAT_INTERVAL_MS="1000",
        **demo_env(data, speed, smtp, http),
    )
    day = Day(kit, Cluster(kit, env, data / "logs", replicas))
    try:
        day.cluster.start_all()
        await day.cluster.ready()
        day.tasks.append(asyncio.create_task(observe(kit, day.observed, day.stop, data / "observed.tsv")))
        if chaos is not None:
            day.monkey = asyncio.create_task(monkey(day.cluster, broker, chaos, day.calm, day.faults))
        yield day
    finally:
        day.calm.set()
        day.stop.set()
        await asyncio.gather(*day.tasks, *([day.monkey] if day.monkey else []), return_exceptions=True)
        day.cluster.stop()
        await kit.close()
        await http.stop()
        smtp.stop()


async def run(
    broker: EmbeddedBroker,
    data: Path,
    cases: int,
    *,
    replicas: int = 2,
    chaos: Chaos | None = None,
    pace_s: float = 0.05,
) -> Outcome:
    """One day: upstream traffic, then repeat contacts, then the stations' answers; faults throughout."""
    async with suite(broker, data, replicas=replicas, chaos=chaos) as day:
        bot = StationBot(day.kit)
        day.tasks.append(asyncio.create_task(bot.listen(day.stop)))
        traffic = scenario(cases)
        producer = AIOKafkaProducer(bootstrap_servers=day.kit.bootstrap, linger_ms=1)
        await producer.start()
        try:
            for i, (topic, key, value) in enumerate(traffic.all):
                if i == len(traffic.first):
                    await intake_caught_up(day.observed, upstream_ids(traffic.first))
                await producer.send_and_wait(day.kit.prefix + topic, value, key=key)
                await asyncio.sleep(pace_s)
        finally:
            await producer.stop()
        # Every contact taken in before a station resolves anything: otherwise a contact that a fault held up
        # meets a closed case and (rightly) reopens it, and the runs would differ by timing, not by a fault.
        await intake_caught_up(day.observed, upstream_ids(traffic.all))
        async with Backlog(day.kit) as backlog:
            await backlog.drained()  # every case handed to its station before the stations answer
            await bot.drain()
            await day.calm_down()  # every replica back before the run is judged
            await backlog.drained()
        await quiet(day.observed, still_s=2)  # and nothing else moves (a timer, a retry)
        outcome = await summarize(day.cluster, day.observed, traffic.all)
        outcome.faults = day.faults
    return outcome


async def summarize(cluster: Cluster, observed: Observed, traffic: list[Raw]) -> Outcome:
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
    told = deliveries_by_trigger(cluster.kit.data_dir / "notify.db")
    why_not: dict[str, dict[str, str]] = {}
    at_capacity: set[str] = set()
    async with httpx.AsyncClient(timeout=5, headers=cluster.kit.auth(Role.CASES_READER)) as http:
        for waybill, case_ids in sorted(case_by_waybill.items()):
            case_id = case_ids[0]
            if any(isinstance(e, CaseEscalated) and AT_CAPACITY in e.payload.reason for e in by_case[case_id]):
                at_capacity.add(waybill)
            why_not[waybill] = {
                e.type: told.get((case_id, e.type), f"no delivery for its {e.type}: notify never handled the event")
                for e in by_case[case_id]
            }
            routed = (await http.get(f"{cluster.url('routing')}/cases/{case_id}")).json()
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
    return Outcome(
        per_waybill,
        counts,
        duplicates,
        lost,
        observed.dead,
        observed.out_of_order(),
        len(observed.sequences),
        closed_merges=contacts_lost_in_closed_cases(observed.events),
        unfair_breaches=breaches_charged_for_on_time_updates(observed.events, observed.broker_time),
        deliveries=why_not,
        at_capacity=at_capacity,
        failed=Counter(e.payload.reason for e in first_arrivals(observed.events) if isinstance(e, NotificationFailed)),
    )


def deliveries_by_trigger(notify_db: Path) -> dict[tuple[str, str], str]:
    """What notify's store says of the deliveries of each (case, trigger type): states, and why not sent."""
    found: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    with contextlib.closing(sqlite3.connect(notify_db, timeout=30)) as db:
        for case_id, trigger, state, error in db.execute(
            "SELECT json_extract(doc, '$.case_id'), json_extract(doc, '$.trigger_type'),"
            " json_extract(doc, '$.state'), json_extract(doc, '$.last_error') FROM deliveries"
        ):
            found[(case_id, trigger)][f"{state} ({error})" if error else state] += 1
    return {
        key: "deliveries " + ", ".join(f"{n} {what}" for what, n in states.items()) for key, states in found.items()
    }


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
        elif e.type == "sla.breached":  # once per clock: a reopening starts the case's clocks afresh
            facts[e.type][(p.case_id, str(p.metric), str(p.level), p.started_at.isoformat())] += 1
        elif e.type == "case.opened":
            facts[e.type][(e.causation_id or "",)] += 1
    for kind, counter in facts.items():
        problems += [f"{kind} {key} published {n} times" for key, n in counter.items() if n > 1]
    return problems


#: How routing's decision says a station was full (caseflow_routing.domain.decision).
AT_CAPACITY = "is at capacity"
#: What capacity decides for a case: where it ends and what its customer is told.
CAPACITY_DECIDES = ("state", "holder", "level", "resolved", "notified")
#: What must still add up per station: the oversight level is left out, because a repeat contact raises it
#: one above the holder, so it follows which waybill (with or without a repeat contact) took the last place.
CAPACITY_TOTALS = ("state", "holder", "resolved")


def capacity_bound(clean: Outcome, faulty: Outcome) -> tuple[set[str], list[str]]:
    """The waybills whose end depends on which case took a station's last free place, and the problems.

    Routing counts a station's open cases; once it is full, the next case overflows to its parent. Cases
    of different waybills travel on different partitions, which Kafka does not order among themselves, so
    which of two cases takes the last place differs between runs, faults or not. Such waybills are compared
    as a whole: per station, as many cases end in each state, and each waybill differs in nothing else
    (the level of oversight aside: see CAPACITY_TOTALS)."""
    bound = {w for w in clean.at_capacity | faulty.at_capacity if w in clean.per_waybill and w in faulty.per_waybill}

    def ends(run: Outcome) -> Counter[tuple[Any, ...]]:
        return Counter(tuple(str(run.per_waybill[w][k]) for k in CAPACITY_TOTALS) for w in bound)

    problems = []
    if ends(clean) != ends(faulty):
        problems.append(f"cases past a full station end differently: clean {ends(clean)} vs faulty {ends(faulty)}")
    for w in sorted(bound):
        a, b = clean.per_waybill[w], faulty.per_waybill[w]
        problems += [f"{w} {k}: clean {a[k]} vs faulty {b[k]}" for k in a if k not in CAPACITY_DECIDES and a[k] != b[k]]
    return bound, problems


def differences(clean: Outcome, faulty: Outcome) -> list[str]:
    bound, diffs = capacity_bound(clean, faulty)
    for waybill in sorted((set(clean.per_waybill) | set(faulty.per_waybill)) - bound):
        a, b = clean.per_waybill.get(waybill), faulty.per_waybill.get(waybill)
        if a is None or b is None:
            diffs.append(f"{waybill}: only in the {'faulty' if a is None else 'clean'} run")
            continue
        for key in a:
            if key == "notified":
                diffs += notification_differences(waybill, clean, faulty)
                continue
            if key == "paid":
                same = [amount for _, amount in a[key]] == [amount for _, amount in b[key]]
            else:
                same = a[key] == b[key]
            if not same:
                diffs.append(f"{waybill} {key}: clean {a[key]} vs faulty {b[key]}")
    return diffs


def notification_differences(waybill: str, clean: Outcome, faulty: Outcome) -> list[str]:
    """Each notification (trigger, channel) only one run sent, with its cause in the other run's stores."""
    a, b = (set(run.per_waybill[waybill]["notified"]) for run in (clean, faulty))
    diffs = []
    for only, here, there, other in ((a - b, "clean", "faulty", faulty), (b - a, "faulty", "clean", clean)):
        for trigger, channel in sorted(only):
            cause = other.deliveries.get(waybill, {}).get(trigger, f"no {trigger} event")
            diffs.append(f"{waybill} notified: {trigger} on {channel} only in the {here} run; {there} run: {cause}")
    return diffs


#: The one failure a fault may cause: SMTP has no idempotency key, so an e-mail whose send a kill cut short
#: is failed for a person rather than perhaps sent twice (notify's policy: `on_uncertain: give_up`).
CUT_SHORT = "interrupted mid-send; outcome unknown"


def failures_explained(clean: Outcome, chaotic: Outcome) -> list[str]:
    """Notifications failed and dead letters only the chaotic run has must all be e-mails cut short by a kill,
    each with its trigger dead-lettered as `delivery_failed`; anything else is a problem."""
    problems = [
        f"notification failed in the {name} run: {reason} ({n})"
        for name, run in (("clean", clean), ("chaotic", chaotic))
        for reason, n in run.failed.items()
        if name == "clean" or reason != CUT_SHORT
    ]
    extra, missing = chaotic.dead - clean.dead, clean.dead - chaotic.dead
    problems += [f"dead letters only the clean run has: {key} ({n})" for key, n in missing.items()]
    problems += [
        f"dead letters only the chaotic run has: {key} ({n})"
        for key, n in extra.items()
        if not key.endswith(":delivery_failed")
    ]
    cut_short, parked = (
        chaotic.failed[CUT_SHORT],
        sum(n for key, n in extra.items() if key.endswith(":delivery_failed")),
    )
    if parked != cut_short:
        problems.append(f"{parked} triggers dead-lettered as delivery_failed for {cut_short} e-mails cut short")
    return problems


def problems(clean: Outcome, chaotic: Outcome) -> list[str]:
    """Everything that makes the chaotic run fail: a different end, a duplicate, a loss, a story out of order."""
    return (
        differences(clean, chaotic)
        + chaotic.duplicates
        + clean.duplicates
        + [f"lost {x}" for x in chaotic.lost]
        + chaotic.out_of_order
        + clean.out_of_order
        + [problem for run in (clean, chaotic) for problem in run.closed_merges + run.unfair_breaches]
        + failures_explained(clean, chaotic)
    )


def report(clean: Outcome, chaotic: Outcome) -> str:
    lines = [
        f"faults: {len(chaotic.faults)} ({', '.join(chaotic.faults[:12])}{' …' if len(chaotic.faults) > 12 else ''})"
    ]
    lines.append("reconciliation (clean run | chaotic run)")
    for kind in sorted(set(clean.counts) | set(chaotic.counts)):
        lines.append(f"  {kind:28} {clean.counts[kind]:6} | {chaotic.counts[kind]:6}")
    lines.append(f"  {'dead-lettered':28} {sum(clean.dead.values()):6} | {sum(chaotic.dead.values()):6}")
    lines.append(f"  waybills compared: {len(clean.per_waybill)}; differences: {len(differences(clean, chaotic))}")
    lines.append(
        f"  of which past a full station, compared per station (cross-partition order decides who overflows):"
        f" {len(capacity_bound(clean, chaotic)[0])}"
    )
    lines.append(
        f"  e-mails cut short by a kill, failed for a person and their triggers dead-lettered (delivery_failed):"
        f" clean {clean.failed[CUT_SHORT]}, chaotic {chaotic.failed[CUT_SHORT]}"
    )
    lines.append(f"  duplicates: clean {len(clean.duplicates)}, chaotic {len(chaotic.duplicates)}")
    lines.append(
        f"  stories out of order: clean {len(clean.out_of_order)} of {clean.stories},"
        f" chaotic {len(chaotic.out_of_order)} of {chaotic.stories}"
    )
    lines.append(f"  lost upstream events: clean {len(clean.lost)}, chaotic {len(chaotic.lost)}")
    lines.append(
        f"  contacts merged into a closed case, not reopened or followed up:"
        f" clean {len(clean.closed_merges)}, chaotic {len(chaotic.closed_merges)}"
    )
    lines.append(
        f"  breaches charged for a station update on the broker before the deadline:"
        f" clean {len(clean.unfair_breaches)}, chaotic {len(chaotic.unfair_breaches)}"
    )
    return "\n".join(lines)


def breach_figures(events: Iterable[Event]) -> Counter[str]:
    """How sla's breaches went: published, withdrawn after they went out, and held (a clock decided met after
    its deadline: the station's update was stamped in time and reached sla before the breach went out)."""
    figures: Counter[str] = Counter(published=0, held=0, withdrawn=0)
    for e in first_arrivals(events):
        if isinstance(e, SlaBreached):
            figures["published"] += 1
        elif isinstance(e, SlaBreachWithdrawn):
            figures["withdrawn"] += 1
        elif isinstance(e, SlaMet) and e.occurred_at > e.payload.deadline_at:
            figures["held"] += 1
    return figures


#: Where the simulator's deliberately bad upstream events (broken JSON, unknown types, negative money) go.
BAD_INPUTS_DLQ = f"{UPSTREAM_PARCEL_EXCEPTIONS.name}.dlq:"


def unexplained_dead_letters(dead: Counter[str], bad_sent: int, cut_short: int) -> list[str]:
    """Dead letters other than the simulator's bad inputs (each dead-lettered once) and the triggers of the
    `cut_short` e-mails a kill interrupted (see `failures_explained`)."""
    parked: Counter[str] = Counter()
    problems = []
    for key, n in sorted(dead.items()):
        if key.startswith(BAD_INPUTS_DLQ):
            parked["bad"] += n
        elif key.endswith(":delivery_failed"):
            parked["cut short"] += n
        else:
            problems.append(f"dead-lettered {key} ({n})")
    if parked["bad"] != bad_sent:
        problems.append(f"{bad_sent} bad upstream events sent, {parked['bad']} dead-lettered")
    if parked["cut short"] != cut_short:
        problems.append(
            f"{parked['cut short']} triggers dead-lettered as delivery_failed for {cut_short} e-mails cut short"
        )
    return problems


def upstream_seen(observed: Observed) -> set[str]:
    """The valid upstream events on the broker: what intake must take in."""
    return {e.event_id for e in observed.events if isinstance(e, ParcelExceptionReported | CustomerContacted)}


@dataclass(frozen=True)
class Verdict:
    """A simulated day's invariants, judged on the faulty run alone."""

    counts: Counter[str]
    breaches: Counter[str]
    dead: Counter[str]
    stories: int
    faults: list[str]
    closed_merges: list[str]
    unfair_breaches: list[str]
    duplicates: list[str]
    out_of_order: list[str]
    lost: list[str]
    dead_unexplained: list[str]

    @property
    def problems(self) -> list[str]:
        return (
            self.closed_merges
            + self.unfair_breaches
            + self.duplicates
            + self.out_of_order
            + [f"never taken in: {x}" for x in self.lost]
            + self.dead_unexplained
        )


def judge(observed: Observed, bad_sent: int, faults: list[str]) -> Verdict:
    return Verdict(
        counts=Counter({t: len(ids) for t, ids in observed.ids_by_type.items()}),
        breaches=breach_figures(observed.events),
        dead=observed.dead,
        stories=len(observed.sequences),
        faults=faults,
        closed_merges=contacts_lost_in_closed_cases(observed.events),
        unfair_breaches=breaches_charged_for_on_time_updates(observed.events, observed.broker_time),
        duplicates=find_duplicates(observed),
        out_of_order=observed.out_of_order(),
        lost=sorted(upstream_seen(observed) - taken_in(observed)),
        dead_unexplained=unexplained_dead_letters(
            observed.dead,
            bad_sent,
            sum(
                1
                for e in first_arrivals(observed.events)
                if isinstance(e, NotificationFailed) and e.payload.reason == CUT_SHORT
            ),
        ),
    )


async def simulated_day(
    broker: EmbeddedBroker, data: Path, *, speed: float, minutes: float, rate: float, replicas: int, chaos: Chaos
) -> Verdict:
    """The simulator's day (its stations, HQ desk and customers react to what the suite does) at `speed`, with
    SLA targets scaled the same way, under faults; then what the suite still owes is drained and judged."""
    async with suite(broker, data, replicas=replicas, speed=speed, chaos=chaos) as day:
        stats = await simulate(
            day.kit.bootstrap, rate=rate, speed=speed, duration=minutes * 60, prefix=day.kit.prefix, seed=chaos.seed
        )
        await day.calm_down()
        await intake_caught_up(day.observed, upstream_seen(day.observed))
        async with Backlog(day.kit) as backlog:
            await backlog.drained()
        # the stations stopped with the simulator; clocks still running come due within the longest scaled target
        await quiet(day.observed, still_s=2, limit_s=60)
        return judge(day.observed, stats.sent["bad"], day.faults)


def day_report(verdict: Verdict) -> str:
    faults = verdict.faults
    lines = [f"faults: {len(faults)} ({', '.join(faults[:12])}{' …' if len(faults) > 12 else ''})"]
    lines += [f"  {kind:28} {n:6}" for kind, n in sorted(verdict.counts.items())]
    lines.append("  breaches: " + ", ".join(f"{how} {n}" for how, n in verdict.breaches.items()))
    lines.append(
        "  dead letters by reason: " + (", ".join(f"{k} {n}" for k, n in sorted(verdict.dead.items())) or "none")
    )
    lines.append(f"  contacts merged into a closed case, not reopened or followed up: {len(verdict.closed_merges)}")
    lines.append(
        f"  breaches charged for a station update on the broker before the deadline: {len(verdict.unfair_breaches)}"
    )
    lines.append(f"  duplicates per business key: {len(verdict.duplicates)}")
    lines.append(f"  stories out of order: {len(verdict.out_of_order)} of {verdict.stories}")
    lines.append(f"  upstream events never taken in: {len(verdict.lost)}")
    lines.append(
        f"  dead letters other than the simulator's bad inputs and e-mails cut short: {len(verdict.dead_unexplained)}"
    )
    return "\n".join(lines)


def conclude(found: list[str], good: str, bad: str) -> int:
    for line in found:
        print("  !", line)
    print(good if not found else bad)
    return 0 if not found else 1


async def main_async(args: argparse.Namespace) -> int:
    chaos = Chaos(kill_every_s=args.kill_every, pause_s=args.pause, pause_after_s=args.pause_after, seed=args.seed)
    with EmbeddedBroker(log_file=args.dir / "tansu.log") as broker:
        if args.simulated_day:
            verdict = await simulated_day(
                broker,
                args.dir / "simulated",
                speed=args.speed,
                minutes=args.minutes,
                rate=args.rate,
                replicas=args.replicas,
                chaos=chaos,
            )
            print(day_report(verdict))
            return conclude(verdict.problems, "INVARIANTS HOLD", "INVARIANTS BROKEN")
        clean = await run(broker, args.dir / "clean", args.cases, replicas=args.replicas, pace_s=args.pace)
        chaotic = await run(
            broker, args.dir / "chaotic", args.cases, replicas=args.replicas, chaos=chaos, pace_s=args.pace
        )
    print(report(clean, chaotic))
    return conclude(problems(clean, chaotic), "RECONCILED", "NOT RECONCILED")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10, help="about how long the chaotic run lasts")
    parser.add_argument("--cases", type=int, help="cases in the day (default: what --minutes allows)")
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--kill-every", type=float, default=6.0, help="seconds between kills (give or take half)")
    parser.add_argument("--pause", type=float, default=5.0, help="seconds the broker is frozen, once")
    parser.add_argument("--pause-after", type=float, default=30.0, help="seconds into the run the freeze comes")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument(
        "--simulated-day",
        action="store_true",
        help="the simulator's day at --speed under faults, invariants only (no clean run to compare with)",
    )
    parser.add_argument("--speed", type=float, default=600, help="with --simulated-day: simulated s per real s")
    parser.add_argument("--rate", type=float, default=10, help="with --simulated-day: upstream events per second")
    parser.add_argument("--dir", type=Path, default=Path("data/chaos") / time.strftime("%Y%m%d-%H%M%S"))
    args = parser.parse_args()
    # upstream events go out every `pace` s and each case brings about three station updates: size the day so
    # that traffic and answers fill the minutes asked for
    args.pace = 0.05
    args.cases = args.cases or max(12, int(args.minutes * 60 / (1.6 * args.pace + 3 * 0.02 + 0.05)))
    args.dir.mkdir(parents=True, exist_ok=True)
    raise SystemExit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
