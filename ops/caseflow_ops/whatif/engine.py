"""The replay: intake, routing, sla and claims run on their own handlers, in this process, as a discrete-event
simulation (one queue of work ordered by time; sla's timers are entries in it). No broker, no store file: each
service has an in-memory store, and the events one emits are handed to the others through the queue.

Time follows the recording (the lead's analysis, checked against the kit's consumer):
- an input from outside (upstream, stations, notify's deliveries, a person's command) arrives at its recorded
  broker time, in recorded order per partition; it is read from the period only when the replay reaches that
  time (so it cannot hold back what comes before it in its partition), and at equal times before replayed work;
- a service handles a record at the time it did live: every event a handler emits carries that `ctx.now` as its
  `occurred_at` and the record's id as its `causation_id`, so the first recorded event a service caused with the
  record gives the time; a record that caused nothing is handled at its broker time (any time in between is
  equivalent: nothing came of it);
- an event the replay re-derives reaches the broker at the recorded broker time of the event with the same id
  (ids are deterministic), and a new one (only under candidate policies) at its producing time plus the median
  recorded lag of its topic;
- sla fires a clock when it is due, through the same code as its timer loop, unless the recording shows the live
  timer looked at it later, or handled a record that moved the clock after the timer had decided (learned by the
  replay under the recorded policies from the deadline each recorded decision names: see `_learn_*`).
"""

from __future__ import annotations

import base64
import bisect
import heapq
import itertools
import math
import secrets
import statistics
import time
from array import array
from collections import Counter, defaultdict
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from caseflow_claims.app import SPEC as CLAIMS
from caseflow_claims.deps import ClaimsDeps
from caseflow_contracts import Event, Topic, topic_for
from caseflow_intake.app import SPEC as INTAKE
from caseflow_intake.deps import IntakeDeps, IntakeMetrics
from caseflow_intake.pii import Guard
from caseflow_kit import Context, ServiceSpec
from caseflow_kit.consumer import Handler, Subscription
from caseflow_kit.errors import RecordedRefusal, Refusal
from caseflow_kit.privacy import Pseudonymiser, Sealer
from caseflow_kit.rules import RulesFile
from caseflow_kit.store.memory import MemoryStore
from caseflow_kit.store.port import Delete, Doc, Insert, Put, Replace
from caseflow_kit.uow import UnitOfWork
from caseflow_routing.app import SPEC as ROUTING
from caseflow_routing.deps import RoutingDeps
from caseflow_routing.metrics import RoutingMetrics
from caseflow_routing.rules import Directory, DirectoryFile, index
from caseflow_sla.app import SPEC as SLA
from caseflow_sla.deps import SlaDeps
from caseflow_sla.domain import Signal
from caseflow_sla.metrics import SlaMetrics
from caseflow_sla.store import CLOCKS, clock_of
from caseflow_sla.timers import EPSILON, fire_clocks

from .period import Recorded
from .policies import PolicySet
from .stories import Memory, Stories
from .summary import Tally

M = TypeVar("M", bound=BaseModel)
#: The services the replay runs; notify's deliveries are replayed as recorded (what customers were told).
SPECS: tuple[ServiceSpec[Any, Any], ...] = (INTAKE, ROUTING, SLA, CLAIMS)
REPLAYED = frozenset(spec.name for spec in SPECS)
#: The replay is one process: every aggregate lives in one ownership slot.
SLOT = 0
_NO_FILE = Path("-")


class Fixed(RulesFile[M]):
    """Rules loaded and validated already: a replay never reloads."""

    def __init__(self, model: M) -> None:
        self.path = _NO_FILE
        self.model = type(model)
        self.current = model
        self._mtime = 0

    def reload(self, *, force: bool = False) -> bool:
        return False


class FixedDirectory(Directory):
    def __init__(self, model: DirectoryFile) -> None:
        self.path = _NO_FILE
        self.model = DirectoryFile
        self.current = model
        self._mtime = 0
        self.index = index(model)

    def reload(self, *, force: bool = False) -> bool:
        return False


def _fresh_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def build_deps(policies: PolicySet) -> dict[str, Any]:
    """Each service's dependencies on these rules. intake seals personal data under keys of its own, made for
    this replay: the replay compares outcomes, never the sealed text."""
    sealer = Sealer("replay", base64.b64decode(_fresh_key()))
    return {
        INTAKE.name: IntakeDeps(
            Fixed(policies.intake),
            Guard(sealer, Pseudonymiser(base64.b64decode(_fresh_key()))),
            IntakeMetrics(CollectorRegistry()),
        ),
        ROUTING.name: RoutingDeps(FixedDirectory(policies.directory), Fixed(policies.hq), RoutingMetrics()),
        SLA.name: SlaDeps(Fixed(policies.sla), Fixed(policies.qa), SlaMetrics(CollectorRegistry())),
        CLAIMS.name: ClaimsDeps(Fixed(policies.compensation)),
    }


def is_command(event: Event) -> bool:
    """An event a person caused (an endpoint, not a consumed event): the replay takes it as recorded.
    sla's timer events have no cause either, and are re-derived."""
    if event.producer not in REPLAYED:
        return False
    return event.actor is not None or (event.causation_id is None and event.producer != SLA.name)


def _consumers() -> dict[str, list[tuple[str, Subscription]]]:
    """topic -> each replayed service that consumes it, with its subscription (in SPECS' order)."""
    found: dict[str, list[tuple[str, Subscription]]] = defaultdict(list)
    for spec in SPECS:
        for subscription in spec.subscriptions:
            found[subscription.topic.name].append((spec.name, subscription))
    return dict(found)


_CONSUMERS = _consumers()


def handlers_for(topic: str, event: Event) -> list[tuple[str, Handler]]:
    """The replayed services that handle this event on this topic, each with its handler: as live, their
    subscriptions decide (`Subscription.handler_for`: the type, then the facets)."""
    found = []
    for name, subscription in _CONSUMERS.get(topic, ()):
        handler = subscription.handler_for(event)
        if handler is not None:
            found.append((name, handler))
    return found


def is_input(record: Recorded) -> bool:
    """A record the replay feeds: a person's command (its events are outcomes as recorded), or an event from
    outside that a replayed service handles. The rest (an SMS sent, in most periods the most records) changes
    nothing the replay decides: it is never read twice."""
    event = record.event
    if event.producer in REPLAYED:
        return is_command(event)
    return bool(handlers_for(record.topic, event))


class Timeline:
    """What the recording says about time: when each service handled each record, when the broker took
    each event, and each topic's usual lag between an event happening and the broker taking it; and about the
    cases' stories: which story each record key is in, and how many recorded inputs each story has.

    The replay's first pass over the period: it keeps a few numbers per record (see deploy/README.md, "What if"),
    never the records, so that the second pass can read them one at a time as the replay reaches them."""

    def __init__(self, records: Iterable[Recorded]) -> None:
        self.handled_at: dict[tuple[str, str], float] = {}
        self.broker_at: dict[str, float] = {}
        #: each replayed service's recorded event -> its type and its offset in its partition
        self.offset_of: dict[str, tuple[str, int]] = {}
        #: sla's recorded clock decisions: event id -> (when it was decided, the deadline it was decided on)
        self.sla_decided: dict[str, tuple[float, float]] = {}
        #: Learned by a replay under the recorded policies (see Simulation._learn_*): (service, record id) -> the
        #: live service handled the record after this time; (clock decision id, deadline) -> the live timer first
        #: looked at the clock at this time.
        self.handled_after: dict[tuple[str, str], float] = {}
        self.first_look: dict[tuple[str, float], float] = {}
        #: event id -> the record whose handling caused it, for the replayed services' events that have a cause
        self.caused_by: dict[str, str] = {}
        #: (service, record id) -> how many events the live service caused with the record
        self.caused: Counter[tuple[str, str]] = Counter()
        recorded: set[str] = set()
        self.end = 0.0
        links = Stories()
        inputs: Counter[str] = Counter()
        lags: dict[str, array[float]] = defaultdict(lambda: array("d"))
        fired: dict[tuple[str, int, str], list[tuple[int, float]]] = defaultdict(list)
        #: (topic, partition, key, offset, producer, causation id) of each event a record caused
        caused: list[tuple[str, int, str, int, str, str]] = []
        #: (topic, partition) -> the latest broker timestamp so far in offset order (see broker_at)
        landed: dict[tuple[str, int], float] = {}
        for r in records:
            e = r.event
            recorded.add(e.event_id)
            self.end = max(self.end, r.timestamp)
            links.add(r)
            if is_input(r):
                inputs[e.key] += 1
            if e.producer not in REPLAYED:
                continue
            # A record is in its partition no earlier than the records before it: the broker's timestamps are the
            # producers' clocks, and a batch a producer held back lands after records stamped later (the period
            # gives each partition in offset order).
            place = (r.topic, r.partition)
            landed[place] = max(landed.get(place, r.timestamp), r.timestamp)
            self.broker_at[e.event_id] = landed[place]
            self.offset_of[e.event_id] = (e.type, r.offset)
            at = e.occurred_at.timestamp()
            # The broker stamps in milliseconds: a decision can be stamped a little before it was made. The
            # recording ends with the last thing it shows happening, not the last stamp.
            self.end = max(self.end, at)
            lags[r.topic].append(max(0.0, r.timestamp - at))
            if e.producer == SLA.name and (deadline := getattr(e.payload, "deadline_at", None)) is not None:
                self.sla_decided[e.event_id] = (at, deadline.timestamp())
            if e.causation_id is None:
                if not is_command(e):
                    fired[(r.topic, r.partition, e.key)].append((r.offset, at))
                continue
            caused.append((r.topic, r.partition, e.key, r.offset, e.producer, e.causation_id))
            self.caused_by[e.event_id] = e.causation_id
            handling = (e.producer, e.causation_id)
            self.handled_at[handling] = min(at, self.handled_at.get(handling, at))
            self.caused[handling] += 1
        self.recorded = frozenset(recorded)
        self.story_of = links.resolved()
        #: story -> its recorded inputs: the story stays open until the replay has fed them all
        self.inputs: Counter[str] = Counter()
        for key, count in inputs.items():
            self.inputs[self.story_of[key]] += count
        self.lag = {topic: statistics.median(values) for topic, values in lags.items()}
        self._after_timers(caused, fired)

    def _after_timers(
        self,
        caused: list[tuple[str, int, str, int, str, str]],
        fired: dict[tuple[str, int, str], list[tuple[int, float]]],
    ) -> None:
        """Some events carry the time of what they are about, not the time the service handled the record
        (sla.met: when the clock stopped). A timer event committed before such an event, in the same partition,
        shows the service handled the record after that timer fired: not before."""
        for runs in fired.values():
            runs.sort()
        for topic, partition, event_key, offset, producer, cause in caused:
            run = fired.get((topic, partition, event_key))
            if not run:
                continue
            before = bisect.bisect_left(run, (offset, -math.inf))
            if before:
                handling = (producer, cause)
                self.handled_at[handling] = max(self.handled_at[handling], run[before - 1][1])

    def offset(self, event: Event) -> int | None:
        """The event's recorded offset in its partition; None when the recording has no such event (the same id
        for another type: an event only this replay makes, caused by a record that caused another one live)."""
        recorded = self.offset_of.get(event.event_id)
        return recorded[1] if recorded is not None and recorded[0] == event.type else None

    def silent(self, service: str, event_id: str) -> bool:
        """Whether the service handled this recorded event live without emitting anything."""
        return event_id in self.recorded and (service, event_id) not in self.handled_at


class ReadingStore(MemoryStore):
    """A service's store in the replay: it notes the documents read since `read` was last cleared."""

    def __init__(self) -> None:
        super().__init__()
        self.read: set[tuple[str, str]] = set()

    def get(self, collection: str, key: str) -> Coroutine[Any, Any, Doc | None]:
        # Not a coroutine of its own: the memory store's read, noted (a frame more per read cost a replay 3 %).
        self.read.add((collection, key))
        return super().get(collection, key)


@dataclass
class Service:
    name: str
    store: ReadingStore
    deps: Any
    may_emit: frozenset[str]
    #: Event ids handled: a redelivered event changes nothing, as the kit's de-duplication makes sure live.
    seen: set[str] = field(default_factory=set)

    def unit(self) -> UnitOfWork:
        """The replay hands events on through its queue, never through an outbox."""
        return UnitOfWork(self.store, _topic_name, slot=SLOT, may_emit=self.may_emit, publishes=False)


def _topic_name(topic: Topic) -> str:
    return topic.name


@dataclass(frozen=True, slots=True)
class _Silent:
    """A record a service handled in a learning pass that caused nothing live, and the documents it wrote."""

    service: str
    topic: str
    key: str
    record_id: str
    wrote: frozenset[tuple[str, str]]


#: The writes that change a document (an outbox message does not). A tuple made once: `A | B` written in the call
#: builds the union at every call, 0.2 us each, on the replay's path for every record that caused nothing live.
_DOCUMENT_WRITES = (Insert, Replace, Put, Delete)


def _written(uow: UnitOfWork) -> frozenset[tuple[str, str]]:
    return frozenset(
        (w.collection, w.key if isinstance(w, Delete) else str(w.doc["_id"]))
        for w in uow.writes
        if isinstance(w, _DOCUMENT_WRITES)
    )


@dataclass(frozen=True, slots=True)
class _Place:
    """Where a record is in its partition: its offset when recorded, else only when it reached the broker (the
    broker's timestamps are the producers' clocks: offsets order a partition, timestamps may not)."""

    broker_at: float
    offset: int | None

    def before(self, other: _Place) -> bool:
        if self.offset is not None and other.offset is not None:
            return self.offset < other.offset
        return self.broker_at < other.broker_at


@dataclass(frozen=True)
class Emitted:
    """An event the replay produced, when and by which service."""

    at: float
    event: Event


@dataclass(frozen=True)
class Refused:
    """A record a service refused or failed on in the replay (live, it would have been dead-lettered)."""

    service: str
    event: Event
    reason: str


@dataclass
class Replay:
    """What came out of one replay."""

    #: What the replay decided, added up as it went (see summary.Tally): the answer reads this.
    tally: Tally = field(default_factory=Tally)
    #: Every event the replay emitted, only when asked for (`Simulation(keep_events=True)`): they grow with the period.
    emitted: list[Emitted] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    #: (service, record id) -> the record after which the service handled it (see Simulation._try)
    order: dict[tuple[str, str], str] = field(default_factory=dict)
    inputs: int = 0
    handled: int = 0
    #: Stories over and forgotten during the replay, and the most stories open at once (see stories.Memory).
    stories_closed: int = 0
    peak_open_stories: int = 0
    #: The most work queued at once: what the replay held of the period (a record is read when its time comes).
    peak_queued: int = 0
    #: Times learned from the recording (see Simulation._learn_*): by this run; by every pass, after replay_recorded.
    learned: int = 0
    #: The runs under the recorded policies it took to use every time learned (see replay_recorded).
    passes: int = 1
    #: Seconds spent in the services' own code: their handlers and sla's timer decisions (by every pass, after
    #: replay_recorded). A replay through the same code cannot take less; the rest is the replay's own work.
    handler_seconds: float = 0.0


@dataclass(frozen=True)
class _Pending:
    handler: Handler
    event: Event
    topic: str
    broker_at: float


#: One entry of the queue: (time, phase, sequence number, story, work). A tuple: heapq compares it in C, ordered by
#: time, then recorded inputs before replayed work (at equal times, an input was on the broker first), then by the
#: order the work was scheduled (the sequence numbers are unique: the rest is never compared).
_Work = tuple[float, int, int, str, Callable[[], Any]]
INPUT, REPLAYED_WORK = 0, 1


class Simulation:
    """One replay of a period under one set of policies."""

    def __init__(
        self,
        records: Iterable[Recorded],
        policies: PolicySet,
        timeline: Timeline | None = None,
        order: dict[tuple[str, str], str] | None = None,
        *,
        keep_events: bool = False,
    ) -> None:
        """`order`: the handling order a replay under the recorded policies found (see `_try`); without it, this
        replay finds it. `records` are read once, in order, as the replay reaches their time (with a `timeline`
        of them; without it they are held to make one)."""
        if timeline is None:
            records = list(records)
            timeline = Timeline(records)
        self.records = records
        self.timeline = timeline
        self.keep_events = keep_events
        self.learning = order is None
        self.order: dict[tuple[str, str], str] = {} if order is None else order
        self._parked: dict[tuple[str, str], list[_Pending]] = defaultdict(list)
        self._waiting: dict[tuple[str, str], list[_Pending]] = defaultdict(list)
        deps = build_deps(policies)
        self.services = {
            spec.name: Service(
                spec.name,
                ReadingStore(),
                deps[spec.name],
                frozenset(model.event_type() for model in spec.emits),
            )
            for spec in SPECS
        }
        self.result = Replay(order=self.order)
        self._queue: list[_Work] = []
        self._seq = itertools.count()
        #: (service, topic, key) -> the place and the handling time of the record latest in that partition of the
        #: ones the service was handed
        self._last: dict[tuple[str, str, str], tuple[_Place, float]] = {}
        #: (service, topic, key) -> the records of that partition handed to the service and not read yet
        self._unread: dict[tuple[str, str, str], list[tuple[_Place, str]]] = {}
        #: (service, record id) -> the records before it in its partition, handed to the service after it
        self._held: dict[tuple[str, str], list[str]] = {}
        #: (service, record id) of the records _learn_handled_before has placed in this pass
        self._placed: set[tuple[str, str]] = set()
        #: story -> the records a service handled in this learning pass that caused nothing live, since its last
        #: record of the story that did (see _learn_handled_later)
        self._silent: dict[str, list[_Silent]] = defaultdict(list)
        self.memory = Memory(timeline.story_of, timeline.inputs)

    def _at(
        self, at: float, story: str, run: Callable[[], Any], *, counted: bool = True, phase: int = REPLAYED_WORK
    ) -> None:
        """Work to do at `at`; `counted`: the story is not over until it is done (a timer is not counted: an armed
        clock keeps its story open, a stale timer entry does not)."""
        if counted:
            self.memory.more(story)
        heapq.heappush(self._queue, (at, phase, next(self._seq), story if counted else "", run))
        self.result.peak_queued = max(self.result.peak_queued, len(self._queue))

    async def run(self) -> Replay:
        for spec in SPECS:
            await self.services[spec.name].store.open(spec.collections)
        inputs = (record for record in self.records if is_input(record))
        upcoming = next(inputs, None)
        while True:
            # Each recorded input is read when the replay reaches its broker time, not before: the replay holds the
            # work due, never the period (and an input later in a partition cannot delay what comes before it).
            while upcoming is not None and (not self._queue or upcoming.timestamp <= self._queue[0][0]):
                await self._feed(upcoming)
                upcoming = next(inputs, None)
            if not self._queue:
                break
            at, _, _, story, run = heapq.heappop(self._queue)
            if at > self.timeline.end:
                break  # the recording ends here: what would happen later was not recorded either
            await run()
            await self._done(story)
        # Records still waiting for a turn that never came: handled at the end, what they cause shows.
        for name, left in [*self._parked.items(), *self._waiting.items()]:
            service = self.services[name[0]]
            for pending in left:
                await self._try(service, pending, self.timeline.end, parkable=False)
        self.result.stories_closed = self.memory.closed
        self.result.peak_open_stories = self.memory.peak_open
        return self.result

    async def _feed(self, record: Recorded) -> None:
        self.result.inputs += 1
        event = record.event
        if is_command(event):  # a person's command: its events are outcomes as recorded
            self._decided(record.timestamp, event)
        story = self.memory.story(event.key)
        self.memory.opening(story)
        self._deliver(event, record.topic, record.timestamp, record.offset, sent_at=record.timestamp, phase=INPUT)
        await self._done(story)  # one input fed

    async def _done(self, story: str) -> None:
        """One piece of the story's work done; the last one, and no clock armed: nothing can touch the story
        again, forget it."""
        if not story or not self.memory.done(story):
            return
        await self._over(story)

    async def _over(self, story: str) -> None:
        if story in self.memory.pending:
            return
        sla = self.services[SLA.name]
        for clock_id in self.memory.held(story, SLA.name, CLOCKS):
            doc = await sla.store.get(CLOCKS, clock_id)
            if doc is not None and doc.get("timer"):
                return
        deletes, seen, positions = self.memory.forget(story)
        self._silent.pop(story, None)
        for name, writes in deletes.items():
            await self.services[name].store.commit(writes)
        for name, event_id in seen:
            self.services[name].seen.discard(event_id)
        for position in positions:
            self._last.pop(position, None)

    def _deliver(
        self,
        event: Event,
        topic: str,
        broker_at: float,
        offset: int | None,
        *,
        sent_at: float,
        phase: int = REPLAYED_WORK,
    ) -> None:
        """Hand the event to every replayed service that consumes it, each at the time it handled it live.
        `offset`: its recorded place in its partition (None for an event only this replay made)."""
        place = _Place(broker_at, offset)
        for name, handler in handlers_for(topic, event):
            service = self.services[name]
            # Never before the broker had it, nor before the replay produced it, nor before the record before
            # it in its partition (a consumer handles a partition in order). The partition's order is the broker's,
            # its offsets: an event produced after another can come first (routing's assignment and intake's merge
            # of a call, written to a case's partition 20 ms apart by two producers, the later one first): it is
            # not held back by the one it came before.
            order = (service.name, topic, event.key)
            story = self.memory.story(event.key)
            self.memory.positions[story].add(order)
            handling = (service.name, event.event_id)
            at = max(
                self.timeline.handled_at.get(handling, broker_at),
                self.timeline.handled_after.get(handling, broker_at),
                broker_at,
                sent_at,
            )
            latest = self._last.get(order)
            if latest is None or not place.before(latest[0]):
                at = max(at, latest[1]) if latest is not None else at
                self._last[order] = (place, at)
            # Records after this one in its partition, handed to the service before it and not read yet, wait
            # for it (each may be due before it: the service reads a partition in order).
            unread = self._unread.get(order)
            if unread is None:
                self._unread[order] = [(place, event.event_id)]
            else:
                for after, event_id in unread:
                    if place.before(after):
                        self._held.setdefault((service.name, event_id), []).append(event.event_id)
                unread.append((place, event.event_id))
            pending = _Pending(handler, event, topic, broker_at)
            self._at(at, story, _bind(self._handle, service, pending, at), phase=phase)

    async def _handle(self, service: Service, pending: _Pending, at: float) -> None:
        event = pending.event
        if event.event_id in service.seen:
            self._read(service, pending)
            return
        waits_for = self._before_it(service, pending)
        if waits_for is None and not self.learning:
            waits_for = self.order.get((service.name, event.event_id))
        if waits_for is not None and waits_for not in service.seen:
            self._waiting[(service.name, waits_for)].append(pending)
            self.memory.more(self.memory.story(event.key))  # open until its turn comes
            return
        self._read(service, pending)
        parkable = self.learning and self.timeline.silent(service.name, event.event_id)
        if not await self._try(service, pending, at, parkable=parkable):
            self._parked[(service.name, event.key)].append(pending)
            self.memory.more(self.memory.story(event.key))
            await self._release(service, event, at)  # read, if not handled yet: what follows it goes on
            return
        await self._after(service, event, at)

    def _before_it(self, service: Service, pending: _Pending) -> str | None:
        """A record before this one in its partition that the service has not read yet (see `_deliver`)."""
        handling = (service.name, pending.event.event_id)
        before = self._held.get(handling)
        if before is None:
            return None
        read = self.memory.seen.get(self.memory.story(pending.event.key), {})
        unread = next((event_id for event_id in before if (service.name, event_id) not in read), None)
        if unread is None:
            del self._held[handling]
        return unread

    def _read(self, service: Service, pending: _Pending) -> None:
        """The service reads the record now: no longer one a record before it in its partition may hold back."""
        order = (service.name, pending.topic, pending.event.key)
        unread = self._unread.get(order)
        if unread is None:
            return
        event_id = pending.event.event_id
        if len(unread) == 1:  # the usual case: it alone
            if unread[0][1] == event_id:
                del self._unread[order]
            return
        unread[:] = [entry for entry in unread if entry[1] != event_id]

    async def _release(self, service: Service, event: Event, at: float) -> None:
        """The records that wait for this one get their turn now."""
        for pending in self._waiting.pop((service.name, event.event_id), []):
            await self._handle(service, pending, at)
            self.memory.done(self.memory.story(pending.event.key))  # never the last: this record's story is busy

    async def _after(self, service: Service, event: Event, at: float) -> None:
        """The records that wait for this one, and the records parked on its case, get their turn now."""
        await self._release(service, event, at)
        for pending in self._parked.pop((service.name, event.key), []):
            if await self._try(service, pending, at, parkable=True):
                self.order[(service.name, pending.event.event_id)] = event.event_id
                self.memory.done(self.memory.story(pending.event.key))
                await self._after(service, pending.event, at)
            else:
                self._parked[(service.name, event.key)].append(pending)

    async def _try(self, service: Service, pending: _Pending, at: float, *, parkable: bool) -> bool:
        """Handle the record and keep what it did; unless it is `parkable` and would emit events: then keep
        nothing and say so (False).

        A record that caused nothing live but causes events here was handled live at another point in its
        case's story: a consumer reads its topics at their own pace, so a breach can reach routing after the
        station's resolution that came later. Such a record waits for the next record of its case the service
        handles, and is tried again after it; the order found is kept for the candidate replay.
        """
        event = pending.event
        story = self.memory.story(event.key)
        self.memory.seen[story][(service.name, event.event_id)] = (pending.topic, event.key)
        uow = service.unit()
        service.store.read.clear()
        now = datetime.fromtimestamp(at, UTC)
        ctx = Context(uow, service.deps, event, service.name, now, datetime.fromtimestamp(pending.broker_at, UTC))
        started = time.perf_counter()
        try:
            await pending.handler(event, ctx)
        except Refusal as exc:
            self.result.refused.append(Refused(service.name, event, exc.code))
            if not isinstance(exc, RecordedRefusal):
                service.seen.add(event.event_id)
                return True
        except Exception as exc:  # noqa: BLE001 - live, the kit dead-letters it after its retries; so does this
            self.result.refused.append(Refused(service.name, event, f"{type(exc).__name__}: {exc}"))
            service.seen.add(event.event_id)
            return True
        finally:
            self.result.handler_seconds += time.perf_counter() - started
        if parkable and uow.events:
            if self.learning:
                self._learn_handled_before(service, pending, uow, at, story)
            return False
        if self.learning:
            self._learn_handled_later(service, pending, uow, at, story)
            if service.name == SLA.name:
                await self._learn_handled_after(service, uow, event, at)
        service.seen.add(event.event_id)
        self.result.handled += 1
        await self._commit(service, uow, at, story)
        return True

    async def _commit(self, service: Service, uow: UnitOfWork, at: float, story: str) -> None:
        if service.name == SLA.name:
            self._arm(service, uow, at, story)
        self.memory.wrote(story, service.name, uow.writes)
        await uow.commit()
        for event in uow.events:
            self._emitted(event, at)

    def _decided(self, at: float, event: Event) -> None:
        self.result.tally.add(at, event)
        if self.keep_events:
            self.result.emitted.append(Emitted(at, event))

    def _emitted(self, event: Event, at: float) -> None:
        self._decided(at, event)
        topic = topic_for(type(event)).name
        recorded = self.timeline.broker_at.get(event.event_id)
        broker_at = max(recorded, at) if recorded is not None else at + self.timeline.lag.get(topic, 0.0)
        self._deliver(event, topic, broker_at, self.timeline.offset(event), sent_at=at)

    def _arm(self, sla: Service, uow: UnitOfWork, now: float, story: str) -> None:
        """A timer for every clock this unit armed (its `timer` index set), at its due time. Looked up from the
        unit's writes, not with sla's range query: a query per record over every clock grows with the period."""
        for write in uow.writes:
            if isinstance(write, Insert | Replace) and write.collection == CLOCKS and write.doc.get("timer"):
                due, clock_id = float(write.doc["due_at"]), str(write.doc["_id"])
                self._at(max(due, now), story, _bind(self._fire, sla, clock_id, due, story), counted=False)

    async def _fire(self, sla: Service, clock_id: str, due: float, story: str, looked: float | None = None) -> None:
        """Fire the clock if it is still armed for this time (a later record may have stopped or re-armed it):
        when it is due, or when the live timer first looked at it (`looked`, see _learn_first_look)."""
        doc = await sla.store.get(CLOCKS, clock_id)
        if doc is None or not doc.get("timer") or abs(float(doc["due_at"]) - due) > EPSILON:
            return
        if looked is None and (later := self.timeline.first_look.get(_next_decision(doc))) is not None:
            self._at(later, story, _bind(self._fire, sla, clock_id, due, story, later), counted=False)
            return
        at = due if looked is None else looked
        uow = sla.unit()
        started = time.perf_counter()
        fire_clocks(uow, [doc], sla.deps, at, producer=sla.name)
        self.result.handler_seconds += time.perf_counter() - started
        if self.learning:
            self._learn_first_look(doc, uow, due)
        await self._commit(sla, uow, at, story)
        await self._over(story)

    # What the recording says about when the live sla did things, learned under the recorded policies (used by
    # every replay of the period after it: `Replay.learned` asks for another pass). Each one reads a recorded
    # decision of sla that names the deadline it was decided on: it shows the schedule the live clock had then.

    async def _learn_handled_after(self, sla: Service, uow: UnitOfWork, event: Event, at: float) -> None:
        """A record that moves or stops a clock whose next decision the live sla made on the schedule before
        it, later than the replay handles the record: live, sla handled the record after it (a consumer that
        lags behind its timer loop; a record that caused nothing says nothing of when it was handled)."""
        for write in uow.writes:
            if not isinstance(write, Insert | Replace) or write.collection != CLOCKS:
                continue
            before = await sla.store.get(CLOCKS, str(write.doc["_id"]))
            if before is None or not before.get("timer") or float(before["due_at"]) <= at:
                continue
            decision_id, deadline = _next_decision(before)
            decided = self.timeline.sla_decided.get(decision_id)
            moved = write.doc.get("timer") is None or write.doc.get("deadline_at") != before["deadline_at"]
            if decided is None or not moved or abs(decided[1] - deadline) > EPSILON or decided[0] <= at:
                continue
            handling = (sla.name, event.event_id)
            if decided[0] > self.timeline.handled_after.get(handling, -math.inf):
                self.timeline.handled_after[handling] = decided[0]
                self.result.learned += 1

    def _learn_handled_later(self, service: Service, pending: _Pending, uow: UnitOfWork, at: float, story: str) -> None:
        """A record the live service caused events with, that here causes other events, after records of its case
        that caused nothing live and changed what it read: live, the service handled those after this one (it
        reads its topics at their own pace). A customer's call merged live into a case whose closing (another
        topic) intake read after it, where the replay, closing first, reopened the case from the call; a claim
        whose opening found no arbitration declaration live (claims read it later) and settled liability by the
        scan trail, where the replay found the declaration and left the claim to HQ. The next pass handles those
        records just after this one. Only those since the service's last record of the case that caused events
        live (that one agreed with the recording, or taught what it could), and none of this record's topic and
        key: a consumer handles a partition in order."""
        event, timeline = pending.event, self.timeline
        handling = (service.name, event.event_id)
        if timeline.silent(*handling):
            if wrote := _written(uow):
                self._silent[story].append(_Silent(service.name, pending.topic, event.key, event.event_id, wrote))
            return
        if handling not in timeline.handled_at or story not in self._silent:
            return  # nothing recorded to compare with, or nothing to move
        diverged = len(uow.events) != timeline.caused[handling] or any(
            e.event_id not in timeline.recorded for e in uow.events
        )
        after, read = math.nextafter(at, math.inf), service.store.read
        kept = []
        for silent in self._silent.pop(story):
            if silent.service != service.name:
                kept.append(silent)
            elif diverged and (silent.topic, silent.key) != (pending.topic, event.key) and silent.wrote & read:
                moved = (silent.service, silent.record_id)
                if after > timeline.handled_after.get(moved, -math.inf):
                    timeline.handled_after[moved] = after
                    self.result.learned += 1
        if kept:
            self._silent[story] = kept

    def _learn_handled_before(
        self, service: Service, pending: _Pending, uow: UnitOfWork, at: float, story: str
    ) -> None:
        """A record that caused nothing live, and here causes only events the live service caused with a record the
        replay has handled already: live, the service handled that record after this one (it reads its topics at
        their own pace: within one fetch, a record of one topic can come before an earlier one of another topic;
        an e-mail sent before sla handled the case's opening). The next pass handles that record just after the
        first record found so (records after it cause the same events only because that one waits: see _try).
        Not a record before this one in its partition (its topic and key): live too, it came first."""
        causes = {self.timeline.caused_by.get(e.event_id) for e in uow.events}
        if len(causes) != 1:
            return
        (cause,) = causes
        if cause is None or cause not in service.seen:
            return  # a record still to come caused them live: this one waits for it
        if self.memory.seen[story].get((service.name, cause)) == (pending.topic, pending.event.key):
            return  # moving it after this one would move this one along (see _deliver): this one waits
        handling = (service.name, cause)
        if handling in self._placed:
            return  # an earlier record placed it
        self._placed.add(handling)
        after = math.nextafter(at, math.inf)
        if after > self.timeline.handled_after.get(handling, -math.inf):
            self.timeline.handled_after[handling] = after
            self.result.learned += 1

    def _learn_first_look(self, doc: dict[str, Any], uow: UnitOfWork, due: float) -> None:
        """A warning or breach the live sla never sent, on a clock whose schedule the recording shows the live timer
        looked at later: live, the timer first looked at the clock then (a lagging timer loop). Either the breach
        decided later on the same schedule (the warning was stale by then: skipped), or the clock met on that
        schedule by a record that reached the broker after the decision was due (sla handled the record before
        its timer got to the clock)."""
        timeline = self.timeline
        if not any(e.type in _TIMER_DECISIONS and e.event_id not in timeline.recorded for e in uow.events):
            return
        decision = _next_decision(doc)
        breached = timeline.sla_decided.get(_event_id_of(doc, Signal.BREACHED))
        met_id = _event_id_of(doc, Signal.MET)
        met, met_reached = timeline.sla_decided.get(met_id), timeline.broker_at.get(met_id)
        if (
            not doc["warned"]
            and breached is not None
            and abs(breached[1] - decision[1]) <= EPSILON
            and breached[0] >= decision[1] > due
        ):
            timeline.first_look[decision] = breached[0]
        elif met is not None and met_reached is not None and abs(met[1] - decision[1]) <= EPSILON and met_reached > due:
            timeline.first_look[decision] = met_reached
        else:
            return
        self.result.learned += 1


#: What sla's timer decides about a clock on its own (a met comes from a record).
_TIMER_DECISIONS = frozenset({"sla.warning", "sla.breached"})


def _next_decision(doc: dict[str, Any]) -> tuple[str, float]:
    """The id of the decision an armed clock's timer makes next (its warning, or its breach), and its deadline."""
    return _event_id_of(doc, Signal.BREACHED if doc["warned"] else Signal.WARNING), round(float(doc["deadline_at"]), 6)


def _event_id_of(doc: dict[str, Any], signal: Signal) -> str:
    return clock_of(doc).event_id(signal)


def _bind(fn: Callable[..., Any], *args: Any) -> Callable[[], Any]:
    return lambda: fn(*args)


#: How many times a replay under the recorded policies may run again to use what it learned of the live timing.
LEARNING_PASSES = 4


async def replay_recorded(source: Callable[[], Iterable[Recorded]], policies: PolicySet, timeline: Timeline) -> Replay:
    """The replay under the recorded policies (reading the period from `source` once per pass): run again while
    it learns when the live services did things (see Simulation._learn_*), so that its answer uses all of it."""
    baseline = await Simulation(source(), policies, timeline).run()
    learned, passes, handler_seconds = baseline.learned, 1, baseline.handler_seconds
    while baseline.learned and passes < LEARNING_PASSES:
        baseline = await Simulation(source(), policies, timeline).run()
        learned, passes = learned + baseline.learned, passes + 1
        handler_seconds += baseline.handler_seconds
    baseline.learned, baseline.passes, baseline.handler_seconds = learned, passes, handler_seconds
    return baseline
