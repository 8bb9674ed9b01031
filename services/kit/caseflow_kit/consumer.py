"""The guarded consumer: parse, de-duplicate, handle, commit; retry within bounds; dead-letter the rest.

Records are handled one at a time in partition order, each in a nested unit of
work that sees the writes of the records before it; the batch commits in a few
store transactions (a slice is decided while the one before it commits), and
only when all have committed are its offsets committed. So
delivery is at-least-once, every duplicate is recognised by its event id (or,
for bytes that never parsed, by its topic/partition/offset), and a crash loses
nothing: the batch is redelivered and its already-committed records skipped.

Whatever the bytes, a record ends handled, ignored (a type, or facet values, this
service does not handle, known from the parsed event or, on topics only our services
write, from its headers), or dead-lettered with its reason. Only an unreachable store stops
progress: the batch is retried after a pause, never dead-lettered.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from caseflow_contracts import EVENTS_BY_TYPE, ContractError, Event, Topic, parse_event

from . import deadletters, logs
from .errors import RecordedRefusal, Refusal
from .store import ConflictError, DuplicateKeyError, StoreUnavailableError
from .uow import FACET_HEADER, UnitOfWork

if TYPE_CHECKING:
    from .runtime import Runtime

PROCESSED = "_processed"
log = logging.getLogger("caseflow.consumer")
D = TypeVar("D")
E = TypeVar("E", bound=Event)


class Record(Protocol):
    """What the consumer needs of a Kafka record (aiokafka's ConsumerRecord has it)."""

    topic: str
    partition: int
    offset: int
    timestamp: int  # milliseconds since the epoch: when the broker accepted it (or its producer stamped it)
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


@dataclass
class Context(Generic[D]):
    """What a handler gets besides its event: the unit of work, the service's dependencies and two times.

    `now` is when this service handles the event (its clock); `received_at` is when the event reached the
    suite (the record's broker timestamp, never later than `now`). A decision about whether someone acted
    in time uses `received_at`, so that the suite's own lag (a consumer restarting, a frozen broker) is
    never charged to them. `record` is the consumed record itself, as it arrived (None where a handler runs
    without one: the what-if replay, a tool), for a handler that keeps the original to dead-letter later.
    """

    uow: UnitOfWork
    deps: D
    event: Event
    producer: str
    now: datetime
    received_at: datetime | None = None
    record: Record | None = None

    def __post_init__(self) -> None:
        if self.received_at is None or self.received_at > self.now:
            self.received_at = self.now

    @property
    def arrived(self) -> datetime:
        """`received_at`, typed: always set after construction."""
        return self.received_at or self.now

    def new(self, model: type[E], payload: Any, *, key: str, event_id: str | None = None) -> E:
        """An event caused by the one being handled (same correlation id)."""
        return model.create(
            payload, key=key, producer=self.producer, cause=self.event, event_id=event_id, occurred_at=self.now
        )


Handler = Callable[[Any, Context[Any]], Awaitable[None]]


@dataclass(frozen=True)
class Subscription:
    """A topic and the handler for each event type this service cares about on it; `only`, per event type, the
    values of its facets (`Event.FACET_FIELDS`) the handler is for: the rest are ignored, without parsing them
    where the record's headers say so."""

    topic: Topic
    handlers: Mapping[str, Handler]
    only: Mapping[str, Mapping[str, frozenset[str]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        strays = sorted(set(self.handlers) - self.topic.event_types)
        if strays:
            raise ValueError(f"{self.topic.name} never carries {', '.join(strays)}: its handlers can never run")
        for kind, facets in self.only.items():
            if kind not in self.handlers:
                raise ValueError(f"`only` names {kind}, which has no handler here")
            unknown = sorted(set(facets) - set(EVENTS_BY_TYPE[kind].FACET_FIELDS))
            if unknown:
                raise ValueError(f"{kind} has no facet {', '.join(unknown)}")

    def handler_for(self, event: Event) -> Handler | None:
        """The handler this event is for: by its type, and by its facets where `only` names the type."""
        handler = self.handlers.get(event.type)
        if handler is None or (event.type in self.only and not self._within(event.type, event.facets())):
            return None
        return handler

    def passes_over(self, kind: str, headers: Sequence[tuple[str, bytes]]) -> bool:
        """Whether the record's facet headers already show it is not for this service (every facet asked about
        present and one of them outside the values handled); a record without them is parsed and asked again."""
        wanted = self.only.get(kind)
        if not wanted:
            return False
        said = {k[len(FACET_HEADER) :]: v.decode("utf-8", "replace") for k, v in headers if k.startswith(FACET_HEADER)}
        return set(wanted) <= set(said) and not self._within(kind, said)

    def _within(self, kind: str, facets: Mapping[str, str]) -> bool:
        wanted = self.only.get(kind, {})
        return all(facets.get(name) in values for name, values in wanted.items())


def _broker_time(record: Record) -> datetime | None:
    stamp = getattr(record, "timestamp", -1)
    return datetime.fromtimestamp(stamp / 1000, UTC) if stamp is not None and stamp > 0 else None


def payload_digest(event: Event) -> str:
    return hashlib.blake2b(event.payload.model_dump_json().encode(), digest_size=12).hexdigest()


@dataclass
class _Outcome:
    event_type: str
    outcome: str
    seconds: float
    dead_letter_reason: str | None = None


class GuardedConsumer:
    def __init__(self, runtime: Runtime[Any, Any], subscription: Subscription) -> None:
        self.runtime = runtime
        self.subscription = subscription
        self.topic = runtime.topic_name(subscription.topic)
        self.dlq = runtime.topic_name(subscription.topic) + ".dlq"
        self.accept = subscription.topic.event_types
        # On topics written by outside systems a header is a hint, never a reason to skip unparsed bytes.
        self.trust_headers = not subscription.topic.external
        self.slice = max(1, runtime.settings.commit_slice)

    async def handle_batch(self, records: Sequence[Record]) -> None:
        """Handle a batch in a few store transactions, committing one slice while deciding the next.

        Slices commit in order, each seeing the writes of the one still committing. On a write clash
        with another replica, whatever is not committed yet is redone one record at a time.
        """
        outcomes: list[_Outcome] = []  # one per committed record, in order
        committing: asyncio.Future[None] | None = None
        previous: UnitOfWork | None = None  # the slice still committing: the next one reads through it
        decided: list[_Outcome] = []  # the outcomes of that slice
        try:
            for start in range(0, len(records), self.slice):
                uow = self.runtime.unit_of_work(behind=previous)
                deciding = [await self._process(record, uow) for record in records[start : start + self.slice]]
                if committing is not None:
                    await committing
                    outcomes += decided
                previous, decided = uow, deciding
                committing = asyncio.ensure_future(uow.commit())
            if committing is not None:
                await committing
                outcomes += decided
        except (DuplicateKeyError, ConflictError):
            outcomes += [await self._process_alone(record) for record in records[len(outcomes) :]]
        finally:
            if committing is not None and not committing.done():
                await asyncio.wait([committing])  # never leave a commit running behind an error
                committing.exception()  # its outcome is superseded by the error being raised
        self._count(outcomes)
        await self.runtime.relay.room()

    async def _process_alone(self, record: Record) -> _Outcome:
        """One record, its own transaction, re-run while a concurrent writer keeps getting there first."""

        async def attempt(uow: UnitOfWork) -> _Outcome:
            return await self._process(record, uow)

        try:
            return await self.runtime.commands.run(attempt)
        except (ConflictError, DuplicateKeyError) as clash:
            code = "duplicate_key" if isinstance(clash, DuplicateKeyError) else "write_conflict"
            uow = self.runtime.unit_of_work()
            await self._dead_letter(uow, record, code, f"still clashing after every attempt: {clash}")
            await uow.commit()
            return _Outcome("unknown", "dead_lettered", 0.0, code)

    async def _process(self, record: Record, parent: UnitOfWork) -> _Outcome:
        """Decide what one record does, into `parent`; nothing is committed here."""
        started = time.perf_counter()
        unit = parent.child(slot=self.runtime.ownership.slot_of_partition(record.partition))
        outcome = await self._decide(record, unit)
        parent.absorb(unit)
        outcome.seconds = time.perf_counter() - started
        return outcome

    async def _decide(self, record: Record, unit: UnitOfWork) -> _Outcome:
        kind: str | None = None
        if self.trust_headers:
            announced = next((v for k, v in record.headers or () if k == "x-event-type"), b"")
            kind = announced.decode("utf-8", "replace")
            if kind in self.accept and kind not in self.subscription.handlers:
                # A type this topic carries but this service does not handle (often its own events).
                return _Outcome(kind, "ignored", 0.0)
            if self.subscription.passes_over(kind, record.headers or ()):
                return _Outcome(kind, "ignored", 0.0)
        try:
            event = parse_event(record.value or b"", accept=self.accept, announced=kind)
        except ContractError as exc:
            if exc.__cause__ is not None:  # the parser's last resort: a bug to look at, not just bad bytes
                log.error("unexpected error parsing a record", exc_info=exc.__cause__)
            await self._dead_letter(unit, record, exc.code, exc.message)
            return _Outcome("invalid", "dead_lettered", 0.0, exc.code)
        if (record.key or b"") != event.key.encode() or event.key != event.partition_key():
            detail = f"{self.subscription.topic.name} is keyed by {self.subscription.topic.key}; this record is not"
            await self._dead_letter(unit, record, "key_mismatch", detail)
            return _Outcome(event.type, "dead_lettered", 0.0, "key_mismatch")
        handler = self.subscription.handler_for(event)
        if handler is None:
            return _Outcome(event.type, "ignored", 0.0)
        token_c = logs.correlation_id.set(event.correlation_id)
        token_e = logs.event_id.set(event.event_id)
        try:
            outcome, reason = await self._handle_event(record, event, handler, unit)
        finally:
            logs.correlation_id.reset(token_c)
            logs.event_id.reset(token_e)
        return _Outcome(event.type, outcome, 0.0, reason)

    async def _handle_event(
        self, record: Record, event: Event, handler: Handler, parent: UnitOfWork
    ) -> tuple[str, str | None]:
        marker = f"{self.runtime.group_id}|{event.event_id}"
        digest = payload_digest(event)
        seen = await parent.get(PROCESSED, marker)
        if seen is not None:
            if seen.get("digest", digest) != digest:
                detail = f"event id {event.event_id} was already used by an event with another payload"
                await self._dead_letter(parent, record, "event_id_reused", detail)
                return "dead_lettered", "event_id_reused"
            return "duplicate", None
        settings = self.runtime.settings
        clock = self.runtime.clock
        failure: Exception | None = None
        for attempt in range(1, settings.max_attempts + 1):
            uow = parent.child()
            uow.add(PROCESSED, {"_id": marker, "at": clock.time(), "digest": digest})
            ctx = Context(
                uow=uow,
                deps=self.runtime.deps,
                event=event,
                producer=self.runtime.service,
                now=clock.now(),
                received_at=_broker_time(record),
                record=record,
            )
            try:
                await handler(event, ctx)
            except Refusal as exc:
                if isinstance(exc, RecordedRefusal):
                    parent.absorb(uow)  # the handler's record of the refusal commits with the dead letter
                await self._dead_letter(parent, record, exc.code, exc.message)
                return "dead_lettered", exc.code
            except StoreUnavailableError:
                raise
            except Exception as exc:  # noqa: BLE001 - any handler failure is retried, then dead-lettered
                failure = exc
                log.warning(
                    "handler failed",
                    extra=logs.log_fields(event_type=event.type, attempt=attempt, error=type(exc).__name__),
                )
                if attempt < settings.max_attempts:
                    await asyncio.sleep(settings.retry_backoff_ms / 1000 * 2 ** (attempt - 1))
                continue
            parent.absorb(uow)
            return "handled", None
        reason = f"{type(failure).__name__}: {failure}" if failure else "unknown failure"
        await self._dead_letter(parent, record, "handler_failed", reason)
        return "dead_lettered", "handler_failed"

    async def _dead_letter(self, uow: UnitOfWork, record: Record, code: str, message: str) -> None:
        """Park the original record on <topic>.dlq with the reason, in the same transaction as the mark.

        The mark is the record's position, not its event id: a redelivery of the same record is not
        dead-lettered twice, while the same event replayed from the dead-letter topic after a fix is handled.
        """
        marker = f"{self.runtime.group_id}|{record.topic}:{record.partition}:{record.offset}"
        if await uow.get(PROCESSED, marker) is not None:
            return
        clock = self.runtime.clock
        letter = deadletters.build(
            deadletters.Origin(record.topic, record.partition, record.offset, record.key, record.value, record.headers),
            dlq_topic=self.dlq,
            reason=code,
            detail=message,
            consumer=self.runtime.group_id,
            at=clock.now(),
            slot=self.runtime.ownership.slot_of_partition(record.partition),
            inline_limit=self.runtime.settings.dead_letter_inline_bytes,
        )
        uow.add(PROCESSED, {"_id": marker, "at": clock.time()})
        if letter.stashed_body is not None:
            uow.put(deadletters.BODIES, letter.stashed_body)
        uow.emit_raw(letter.message)
        log.warning(
            "dead-lettered",
            extra=logs.log_fields(
                topic=record.topic, offset=record.offset, reason=code, detail=logs.scrub(message)[:300]
            ),
        )

    def _count(self, outcomes: Sequence[_Outcome]) -> None:
        metrics = self.runtime.metrics
        topic = self.subscription.topic.name
        handled = Counter((o.event_type, o.outcome) for o in outcomes)
        for (event_type, outcome), n in handled.items():
            metrics.handled.labels(topic, event_type, outcome).inc(n)
        timing = metrics.handle_seconds.labels(topic)
        for o in outcomes:
            timing.observe(o.seconds)
            if o.dead_letter_reason:
                metrics.dead_letters.labels(topic, o.dead_letter_reason).inc()
