"""The app factory: one FastStream Kafka app per service, with store, outbox, health and metrics."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import IllegalStateError
from fastapi import APIRouter, FastAPI
from faststream.asgi import AsgiFastStream
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.message import StreamMessage
from faststream.middlewares import AckPolicy
from prometheus_client import CollectorRegistry

from caseflow_contracts import Event, Topic
from caseflow_contracts.topics import DAY_MS, POLICIES_VERSIONS

from . import deadletters, logs
from .asyncapi import service_document
from .clock import Clock, SystemClock
from .commands import CommandRunner
from .consumer import PROCESSED, GuardedConsumer, Record, Subscription
from .http import Edge, build_app
from .metrics import KitMetrics
from .outbox import PARKED_COLLECTION, OutboxRelay, Publish
from .ownership import Ownership, SlotAssignor, slot_count
from .publisher import BatchPublisher
from .rules import RulesFile
from .settings import KitSettings, kafka_security, token_verifier
from .store import Collection, OutboxRecord, Query, Store, StoreUnavailableError
from .store.mongo import MongoStore
from .store.sqlite import SqliteStore
from .uow import UnitOfWork
from .versions import VersionKeeper

S = TypeVar("S", bound=KitSettings)
D = TypeVar("D")
log = logging.getLogger("caseflow.runtime")
#: How often caseflow_ready and caseflow_outbox_backlog are refreshed (Prometheus scrapes every 15 s).
HEALTH_INTERVAL_S = 5.0
#: How soon rules versions the broker did not take are offered again when files are never re-read.
KEEP_RETRY_S = 10.0


@dataclass(frozen=True)
class ServiceSpec(Generic[S, D]):
    """Everything that makes one service: the runtime does the rest.

    `build_deps` makes the service's own dependencies (rules, keys, clients) once
    the store is open; `background` tasks run while the service is up (e.g. timers);
    `http` builds the service's FastAPI routers (its `http` module) from the runtime;
    `rules_files` names the rules files among the deps, which the kit re-reads every
    CASEFLOW_RULES_RELOAD_S (a changed, valid file takes effect; an invalid one is refused);
    `emits` declares the event types the service publishes (its AsyncAPI document says so, and
    emitting anything else is an error); none declared: what the catalog lets it produce.
    """

    name: str
    http_port: int
    settings_type: type[S]
    collections: Sequence[Collection]
    subscriptions: Sequence[Subscription]
    build_deps: Callable[[Runtime[S, D]], Awaitable[D]]
    http: Callable[[Runtime[S, D]], Sequence[APIRouter]] = field(default=lambda runtime: ())
    background: Sequence[Callable[[Runtime[S, D]], Coroutine[Any, Any, None]]] = ()
    close_deps: Callable[[D], Awaitable[None]] | None = None
    rules_files: Callable[[D], Sequence[RulesFile[Any]]] = field(default=lambda deps: ())
    emits: Sequence[type[Event]] = ()


def open_store(settings: KitSettings, service: str) -> Store:
    if settings.mongodb_url is not None:
        from pymongo import AsyncMongoClient

        client: Any = AsyncMongoClient(settings.mongodb_url.get_secret_value(), tz_aware=True)
        return MongoStore(client, settings.mongodb_database or f"caseflow_{service}")
    return SqliteStore(settings.data_dir / f"{service}.db")


def processed_retention_days(settings: KitSettings, topics: Iterable[Topic]) -> int:
    """Consumed event ids are remembered at least as long as the topics they came from keep them,
    so that a group reset or a replay from the start never handles an old event twice."""
    longest = max((t.retention_ms // DAY_MS for t in topics), default=0) + 1
    if settings.processed_retention_days is None:
        return longest
    if settings.processed_retention_days < longest:
        raise ValueError(
            f"CASEFLOW_PROCESSED_RETENTION_DAYS={settings.processed_retention_days} is shorter than the"
            f" {longest - 1} days the consumed topics keep their events: old events would be handled again"
        )
    return settings.processed_retention_days


class _SlotListener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Hands slots over and takes them over around every rebalance (see caseflow_kit.ownership)."""

    def __init__(self, runtime: Runtime[Any, Any]) -> None:
        self.runtime = runtime

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.runtime.slots_revoked({tp.partition for tp in revoked})

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.runtime.slots_assigned({tp.partition for tp in assigned})


class Runtime(Generic[S, D]):
    """One running service: settings, store, broker, outbox relay, metrics and the service's deps."""

    def __init__(
        self,
        spec: ServiceSpec[S, D],
        settings: S | None = None,
        store: Store | None = None,
        clock: Clock | None = None,
        publish: Publish | None = None,
    ) -> None:
        self.spec = spec
        self.service = spec.name
        self.settings: S = settings or spec.settings_type()
        # A topic prefix isolates an installation (a test, a tenant on a shared cluster): its groups too.
        self.group_id = self.settings.group_id or f"{self.settings.topic_prefix}caseflow-{spec.name}"
        self.store = store or open_store(self.settings, spec.name)
        self.clock: Clock = clock or SystemClock()
        self.retention_days = processed_retention_days(self.settings, (s.topic for s in spec.subscriptions))
        self.registry = CollectorRegistry()
        self.metrics = KitMetrics(self.registry)
        self.edge = Edge(spec.name, self.registry)
        self.broker = KafkaBroker(
            self.settings.kafka_bootstrap_servers,
            security=kafka_security(self.settings),
            client_id=f"caseflow-{spec.name}",
            middlewares=[KafkaPrometheusMiddleware(registry=self.registry, app_name=f"caseflow-{spec.name}")],
            logger=logging.getLogger(f"caseflow.{spec.name}.broker"),
            graceful_timeout=30,
            enable_idempotence=self.settings.kafka_idempotence,
        )
        self.publisher = BatchPublisher(self.settings, client_id=f"caseflow-{spec.name}-relay")
        self.ownership = Ownership()
        self.relay = OutboxRelay(
            self.store, publish or self.publisher.publish, self.metrics, self.ownership, clock=self.clock
        )
        self.commands = CommandRunner(self.unit_of_work)
        self.versions = VersionKeeper(spec.name, self.topic_name(POLICIES_VERSIONS), publish or self.publisher.publish)
        self.consumers = [GuardedConsumer(self, s) for s in spec.subscriptions]
        self._may_emit = frozenset(model.event_type() for model in spec.emits) or None
        self._handling = asyncio.Lock()  # held while a batch is handled: a rebalance waits for it
        self._discovering = asyncio.Lock()
        #: Work outside the consumer that must settle a slot before it moves (e.g. sends in flight).
        self.on_slots_revoked: list[Callable[[frozenset[int]], Awaitable[None]]] = []
        self._unavailable = 0  # batches in a row that found the store unreachable
        self._deps: D
        self._deps_built = False
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False
        if self.consumers:
            self._subscribe()

    @property
    def deps(self) -> D:
        if not self._deps_built:
            raise RuntimeError("service dependencies are built at startup")
        return self._deps

    def topic_name(self, topic: Topic) -> str:
        return self.settings.topic_prefix + topic.name

    def _committed(self, records: Sequence[OutboxRecord]) -> None:
        crash_on = self.settings.crash_after_commit
        if crash_on and any(r.message.headers.get("x-event-type") == crash_on for r in records):
            # The test hook of the kill tests: the commit is durable, nothing of it is published yet.
            log.warning("test hook: killed right after committing", extra=logs.log_fields(event_type=crash_on))
            os.kill(os.getpid(), signal.SIGKILL)
        self.relay.committed(records)

    def unit_of_work(self, behind: UnitOfWork | None = None) -> UnitOfWork:
        return UnitOfWork(
            self.store,
            self.topic_name,
            on_commit=self._committed,
            behind=behind,
            slot_of=self.ownership.slot_of_key,
            may_emit=self._may_emit,
        )

    # ownership of slots ---------------------------------------------------------

    async def discover_slots(self) -> int:
        """How many slots the input topics make, from their partition counts on the broker."""
        async with self._discovering:
            if self.ownership.count is None:
                counts = [len(await self.publisher.partitions(c.topic)) for c in self.consumers]
                self.ownership.configure(slot_count(counts))
                log.info("input topics known", extra=logs.log_fields(slots=self.ownership.count))
            return self.ownership.count  # type: ignore[return-value]

    async def slots_revoked(self, partitions: set[int]) -> None:
        async with self._handling:  # the batch in flight finishes and commits first
            slots = self.ownership.slots_of(partitions) if self.ownership.known else frozenset()
            for settle in self.on_slots_revoked:
                await settle(slots)
            await self.relay.hand_over(slots, timeout_s=self.settings.handover_timeout_s)
            self.ownership.owned -= slots

    async def slots_assigned(self, partitions: set[int]) -> None:
        await self.discover_slots()
        slots = self.ownership.slots_of(partitions)
        new = slots - self.ownership.owned
        self.ownership.owned = slots
        await self.relay.take_over(new)
        log.info("holding slots", extra=logs.log_fields(slots=sorted(slots)))

    def owns(self, record: Record) -> bool:
        return self.ownership.known and self.ownership.slot_of_partition(record.partition) in self.ownership.owned

    def _subscribe(self) -> None:
        """One Kafka consumer for all the service's topics: one group join, one rebalance per membership change."""
        by_topic = {c.topic: c for c in self.consumers}

        async def on_batch(msg: KafkaMessage) -> None:
            async with self._handling:
                by_topic_records: dict[str, list[Any]] = {}
                not_ours: dict[TopicPartition, int] = {}  # per partition, the first record skipped
                for record in msg.raw_message:
                    # A record fetched before its slot moved away is the new holder's: it is not handled here.
                    if self.owns(record):
                        by_topic_records.setdefault(record.topic, []).append(record)
                    else:
                        tp = TopicPartition(record.topic, record.partition)
                        not_ours.setdefault(tp, record.offset)
                self._rewind(msg, not_ours)
                try:
                    for topic, records in by_topic_records.items():
                        await by_topic[topic].handle_batch(records)
                except StoreUnavailableError as exc:
                    await self._store_unavailable(exc)
                    raise
                self._unavailable = 0

        async def records_as_they_are(msg: StreamMessage[Any]) -> None:
            # The guarded consumer parses each record itself (and dead-letters what does not parse):
            # FastStream's own JSON decoding of every body would be spent for nothing.
            return None

        on_batch.__name__ = f"{self.service}_consumes"
        self.broker.subscriber(
            *by_topic,
            group_id=self.group_id,
            batch=True,
            max_records=self.settings.batch_max_records,
            batch_timeout_ms=self.settings.fetch_max_wait_ms,
            fetch_max_wait_ms=self.settings.fetch_max_wait_ms,
            fetch_min_bytes=self.settings.fetch_min_bytes,
            auto_offset_reset=self.settings.auto_offset_reset,
            session_timeout_ms=self.settings.session_timeout_ms,
            heartbeat_interval_ms=self.settings.heartbeat_interval_ms,
            partition_assignment_strategy=(SlotAssignor,),
            listener=_SlotListener(self),
            ack_policy=AckPolicy.NACK_ON_ERROR,
            decoder=records_as_they_are,
            title=f"{self.service}",
            description="; ".join(
                f"{c.subscription.topic.name}: {c.subscription.topic.description}" for c in self.consumers
            ),
        )(on_batch)

    @staticmethod
    def _rewind(msg: KafkaMessage, positions: dict[TopicPartition, int]) -> None:
        """Put the consumer back before the records it skipped, so that acknowledging the batch does not commit
        past them. Between a revocation and the next assignment the partition is still in the consumer's old
        assignment and the broker still takes its commits: committing the fetched position would lose them
        for whoever gets the partition. A partition already gone is not committed by us at all."""
        for tp, offset in positions.items():
            with contextlib.suppress(IllegalStateError):
                msg.consumer.seek(partition=tp, offset=offset)

    async def _store_unavailable(self, exc: StoreUnavailableError) -> None:
        """The batch goes back to the broker to be fetched again: pause first, longer while it lasts."""
        self._unavailable += 1
        self.metrics.store_unavailable.inc()
        pause = min(self.settings.retry_backoff_ms / 1000 * 2 ** (self._unavailable - 1), 5.0)
        log.warning(
            "store unavailable; the batch will be retried",
            extra=logs.log_fields(error=str(exc)[:200], pause_s=round(pause, 3)),
        )
        await asyncio.sleep(pause)

    # lifecycle -------------------------------------------------------------

    async def start_dependencies(self) -> None:
        collections = [
            *self.spec.collections,
            Collection(PROCESSED, indexes=("at",)),
            PARKED_COLLECTION,
            deadletters.BODIES_COLLECTION,
        ]
        await self.store.open(collections)
        self._deps = await self.spec.build_deps(self)
        self._deps_built = True

    async def start_background(self) -> None:
        if self.consumers:
            await self.discover_slots()
        self._tasks.append(asyncio.create_task(self.relay.run(self.settings.outbox_interval_ms / 1000)))
        self._tasks.append(asyncio.create_task(self._forget_old_events()))
        if self.spec.rules_files(self.deps):
            self._tasks.append(asyncio.create_task(self._keep_rules()))
        self._tasks += [asyncio.create_task(job(self)) for job in self.spec.background]
        self._started = True
        await self.refresh_health()
        self._tasks.append(asyncio.create_task(self._watch_health()))
        log.info(
            "service started", extra=logs.log_fields(group=self.group_id, topics=[c.topic for c in self.consumers])
        )

    async def stop_consuming(self) -> None:
        """Graceful shutdown, first half: finish the in-flight batch (its offsets commit), stop timers, flush."""
        self._started = False
        self.metrics.ready.set(0)
        for subscriber in self.broker.subscribers:
            await subscriber.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        with contextlib.suppress(Exception):
            await self.relay.flush()

    async def close(self) -> None:
        """Second half, after the broker is closed."""
        if self.spec.close_deps and self._deps_built:
            await self.spec.close_deps(self._deps)
        await self.publisher.stop()
        await self.store.close()
        log.info("service stopped")

    async def _keep_rules(self) -> None:
        """The one rules job: publish the version of every rules file in force on policies.versions, then
        re-read every file every rules_reload_s, and publish a version newly in force (whoever reloaded it)."""
        interval = self.settings.rules_reload_s
        while True:
            files = self.spec.rules_files(self.deps)
            all_kept = await self.versions.keep(files, self.clock.now())
            if interval <= 0 and all_kept:
                return
            await asyncio.sleep(interval if interval > 0 else KEEP_RETRY_S)
            for rules in files if interval > 0 else ():
                rules.reload()

    async def _forget_old_events(self) -> None:
        retention = self.retention_days * 86400
        while True:
            await asyncio.sleep(3600)
            with contextlib.suppress(Exception):
                await self.store.delete_where(PROCESSED, Query(range_field="at", lt=self.clock.time() - retention))

    async def refresh_health(self) -> None:
        """caseflow_ready from the readiness checks now, caseflow_outbox_backlog from the store now.

        Both were set once, at start and stop, or counted only this process's memory: an outage
        of the store or the broker, or rows left in the store by a crash, stayed invisible.
        """
        checks = await self.readiness()
        self.metrics.ready.set(1 if all(checks.values()) else 0)
        with contextlib.suppress(Exception):  # the store is down: readiness says so; keep the last count
            self.metrics.outbox_backlog.set(await self.store.outbox_backlog())

    async def _watch_health(self) -> None:
        while True:
            await asyncio.sleep(HEALTH_INTERVAL_S)
            await self.refresh_health()

    async def readiness(self) -> dict[str, bool]:
        checks = {"started": self._started}
        try:
            await self.store.ping()
            checks["store"] = True
        except Exception:  # noqa: BLE001 - any failure means not ready
            checks["store"] = False
        try:
            checks["broker"] = bool(await self.broker.ping(timeout=2))
        except Exception:  # noqa: BLE001
            checks["broker"] = False
        return checks

    def asgi(self) -> FastAPI:
        """FastAPI serves HTTP; its lifespan runs the FastStream app (broker, consumers, hooks)."""
        stream = AsgiFastStream(
            self.broker,
            on_startup=[self.start_dependencies],
            after_startup=[self.start_background],
            on_shutdown=[self.stop_consuming],
            after_shutdown=[self.close],
            logger=logging.getLogger(f"caseflow.{self.service}.app"),
        )

        @contextlib.asynccontextmanager
        async def lifespan(app: FastAPI) -> AsyncIterator[None]:
            # Refuse to serve without a safe token configuration: every endpoint but health depends on it.
            self.edge.verifier = token_verifier(self.settings)
            async with stream.start_lifespan_context():
                yield

        return build_app(
            service=self.service,
            edge=self.edge,
            routers=self.spec.http(self),
            lifespan=lifespan,
            ready=self.readiness,
            registry=self.registry,
            asyncapi=lambda: service_document(self.spec),
            max_body_bytes=self.settings.http_max_body_bytes,
        )


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def tune_gc(young_threshold: int) -> None:
    """Collect cyclic garbage less often, and never rescan what the process loaded to start.

    Handling an event allocates hundreds of short-lived objects and almost no cycles: at Python's
    default threshold (700) intake under load collected ~200 times a second, 12 % of its CPU.
    """
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(young_threshold, middle, old)


def serve(spec: ServiceSpec[Any, Any], argv: Sequence[str] | None = None) -> None:
    """Run a service until SIGINT / SIGTERM: `python -m caseflow_<service>`."""
    import uvicorn

    runtime = Runtime(spec)
    settings = runtime.settings
    logs.configure_logging(spec.name, settings.log_level, settings.log_format)
    tune_gc(settings.gc_young_threshold)
    port = settings.http_port or spec.http_port
    # uvicorn shuts down gracefully on SIGTERM / SIGINT, then re-raises the signal: make that a clean exit.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_cleanly)
    uvicorn.run(
        runtime.asgi(),
        host=settings.http_host,
        port=port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=30,
        lifespan="on",
        loop=settings.event_loop,
    )
