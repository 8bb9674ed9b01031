"""The guarded consumer: parse, de-duplicate, handle, commit; retry within bounds; dead-letter the rest.

One record at a time, in partition order; a batch's offsets are committed after
its last record is safely in the store, so delivery is at-least-once and every
duplicate is recognised by its event id (or, for bytes that never parsed, by
its topic/partition/offset).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from caseflow_contracts import ContractError, Event, Topic, parse_event

from . import logs
from .errors import Rejected
from .store import ConflictError, DuplicateKeyError, OutboxMessage, StoreUnavailableError
from .uow import UnitOfWork

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
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


@dataclass
class Context(Generic[D]):
    """What a handler gets besides its event: the unit of work and the service's dependencies."""

    uow: UnitOfWork
    deps: D
    event: Event
    producer: str

    @property
    def now(self) -> datetime:
        return datetime.now(UTC)

    def new(self, model: type[E], payload: Any, *, key: str, event_id: str | None = None) -> E:
        """An event caused by the one being handled (same correlation id)."""
        return model.create(payload, key=key, producer=self.producer, cause=self.event, event_id=event_id)


Handler = Callable[[Any, Context[Any]], Awaitable[None]]


@dataclass(frozen=True)
class Subscription:
    """A topic and the handler for each event type this service cares about on it."""

    topic: Topic
    handlers: Mapping[str, Handler]


class GuardedConsumer:
    def __init__(self, runtime: Runtime[Any, Any], subscription: Subscription) -> None:
        self.runtime = runtime
        self.subscription = subscription
        self.topic = runtime.topic_name(subscription.topic)
        self.dlq = runtime.topic_name(subscription.topic) + ".dlq"
        self.accept = subscription.topic.event_types

    async def handle_batch(self, records: Sequence[Record]) -> None:
        for record in records:
            await self.handle_record(record)
        await self.runtime.relay.flush()

    async def handle_record(self, record: Record) -> str:
        """Handle one record; return the outcome (handled, duplicate, ignored, dead_lettered)."""
        started = time.perf_counter()
        metrics = self.runtime.metrics
        try:
            event = parse_event(record.value or b"", accept=self.accept)
        except ContractError as exc:
            await self._dead_letter(record, exc.code, exc.message)
            return "dead_lettered"
        token_c = logs.correlation_id.set(event.correlation_id)
        token_e = logs.event_id.set(event.event_id)
        try:
            outcome = await self._handle_event(record, event)
        finally:
            logs.correlation_id.reset(token_c)
            logs.event_id.reset(token_e)
        metrics.handled.labels(self.subscription.topic.name, event.type, outcome).inc()
        metrics.handle_seconds.labels(self.subscription.topic.name).observe(time.perf_counter() - started)
        return outcome

    async def _handle_event(self, record: Record, event: Event) -> str:
        handler = self.subscription.handlers.get(event.type)
        if handler is None:
            return "ignored"
        marker = f"{self.runtime.group_id}|{event.event_id}"
        store = self.runtime.store
        if await store.get(PROCESSED, marker) is not None:
            return "duplicate"
        settings = self.runtime.settings
        failure: Exception | None = None
        attempt = 0
        while attempt < settings.max_attempts:
            uow = self.runtime.unit_of_work()
            uow.add(PROCESSED, {"_id": marker, "at": time.time()})
            ctx = Context(uow=uow, deps=self.runtime.deps, event=event, producer=self.runtime.service)
            try:
                await handler(event, ctx)
                await uow.commit()
                return "handled"
            except DuplicateKeyError as exc:
                if exc.collection == PROCESSED:
                    return "duplicate"
                failure = exc
            except ConflictError:
                # Another replica changed the same document: re-read and retry, without counting an attempt.
                await asyncio.sleep(0)
                continue
            except Rejected as exc:
                await self._dead_letter(record, exc.code, exc.message, marker=marker)
                return "dead_lettered"
            except StoreUnavailableError:
                raise
            except Exception as exc:  # noqa: BLE001 - any handler failure is retried, then dead-lettered
                failure = exc
                log.warning(
                    "handler failed",
                    extra=logs.log_fields(event_type=event.type, attempt=attempt + 1, error=type(exc).__name__),
                )
            attempt += 1
            await asyncio.sleep(settings.retry_backoff_ms / 1000 * 2**attempt)
        reason = f"{type(failure).__name__}: {failure}" if failure else "unknown failure"
        await self._dead_letter(record, "handler_failed", reason, marker=marker)
        return "dead_lettered"

    async def _dead_letter(self, record: Record, code: str, message: str, *, marker: str | None = None) -> None:
        """Park the original bytes and headers on <topic>.dlq with the reason, atomically with the tracking mark."""
        headers = {name: value.decode("utf-8", "replace") for name, value in record.headers or ()}
        original = [[name, base64.b64encode(value).decode()] for name, value in record.headers or ()]
        headers.update(
            {
                "x-dlq-reason": code,
                "x-dlq-detail": logs.scrub(message)[:2000],
                "x-dlq-consumer": self.runtime.group_id,
                "x-dlq-original-topic": record.topic,
                "x-dlq-original-partition": str(record.partition),
                "x-dlq-original-offset": str(record.offset),
                "x-dlq-original-headers": json.dumps(original),
                "x-dlq-at": datetime.now(UTC).isoformat(),
            }
        )
        uow = self.runtime.unit_of_work()
        uow.add(
            PROCESSED,
            {
                "_id": marker or f"{self.runtime.group_id}|{record.topic}:{record.partition}:{record.offset}",
                "at": time.time(),
            },
        )
        key = (record.key or b"").decode("utf-8", "replace")
        uow.emit_raw(OutboxMessage(self.dlq, key, record.value or b"", headers))
        try:
            await uow.commit()
        except DuplicateKeyError:
            return
        self.runtime.metrics.dead_letters.labels(self.subscription.topic.name, code).inc()
        log.warning(
            "dead-lettered",
            extra=logs.log_fields(
                topic=record.topic, offset=record.offset, reason=code, detail=logs.scrub(message)[:300]
            ),
        )
