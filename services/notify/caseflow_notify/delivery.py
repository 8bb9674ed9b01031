"""The delivery worker: sends what handlers recorded as pending, outside any handler's transaction.

Why a worker: a send is I/O that cannot join the store transaction. Handlers only
record `pending` deliveries (with the event's idempotency marker, in one commit).
The worker then, per delivery:

1. claims it: pending -> sending, attempts + 1, a lease, committed BEFORE the I/O;
2. sends it (rate limit, circuit breaker, timeout), with the notification id as
   the idempotency key the far side sees (webhook delivery id, SMS client_ref,
   e-mail Message-ID);
3. records the outcome in one commit, with the events it causes (outbox):
   sent + notification.sent; or pending again at now + backoff; or, after the
   last attempt, failed + notification.failed + a dead letter on the trigger's
   `<topic>.dlq`. The CAS on the claimed version makes that commit happen once.

A crash between 2 and 3 leaves the delivery `sending`; when its lease expires
the channel's `on_uncertain` decides: retry with the same key (the receiver
de-duplicates) or give up and fail it for a person (SMTP has no key).
A delivery already `sent` is never picked up again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry

from caseflow_contracts import deterministic_id
from caseflow_contracts.notify import (
    NotificationFailed,
    NotificationFailedPayload,
    NotificationPayload,
    NotificationSent,
    NotifyChannel,
)
from caseflow_kit import logs
from caseflow_kit.ownership import Ownership
from caseflow_kit.privacy import Sealer, SealError
from caseflow_kit.rules import RulesFile
from caseflow_kit.store import ConflictError, OutboxMessage, Query, Store
from caseflow_kit.uow import UnitOfWork

from .channels import DeliveryError, Message, Sender
from .domain import Defer, Fail, Outcome, Send, Skip, State, after_attempt, plan
from .metrics import NotifyMetrics
from .policy import Policy
from .resilience import BreakerState, CircuitBreaker, TokenBucket
from .store import CASES, DELIVERIES, TRIGGERS
from .templates import CHANNEL_PARTS, Templates

log = logging.getLogger("caseflow.notify.delivery")
LOG_KEEP = 20


@dataclass
class Deps:
    """What handlers and the worker share: rules, templates, the key, the channel adapters."""

    policy_file: RulesFile[Policy]
    templates: Templates
    sealer: Sealer
    senders: dict[NotifyChannel, Sender]
    webhook_targets: dict[str, str]
    worker: DeliveryWorker | None = None

    @property
    def policy(self) -> Policy:
        return self.policy_file.current


@dataclass
class Guard:
    """A channel's (or a webhook target's) rate limit and circuit breaker."""

    bucket: TokenBucket
    breaker: CircuitBreaker


@dataclass
class _Claimed:
    doc: dict[str, Any]
    case: dict[str, Any]
    claimed_at: float = 0.0


@dataclass
class _Round:
    """What one round decided, committed together."""

    uow: UnitOfWork
    now: float
    claimed: list[_Claimed] = field(default_factory=list)
    noted: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, State]] = field(default_factory=list)


@dataclass
class WorkerStats:
    sent: int = 0
    failed: int = 0
    retried: int = 0
    latencies: list[float] = field(default_factory=list, repr=False)


class DeliveryWorker:
    def __init__(
        self,
        store: Store,
        unit_of_work: Callable[[], UnitOfWork],
        flush: Callable[[], Awaitable[int]],
        deps: Deps,
        ownership: Ownership,
        *,
        group_id: str,
        topic_prefix: str,
        batch: int = 500,
        max_in_flight: int = 512,
        poll_s: float = 0.05,
        rand: Callable[[], float] = random.random,
        track_latency: bool = False,
        metrics: NotifyMetrics | None = None,
    ) -> None:
        self.store = store
        self.unit_of_work = unit_of_work
        self.flush = flush
        self.deps = deps
        self.ownership = ownership
        self.group_id = group_id
        self.topic_prefix = topic_prefix
        self.batch = batch
        self.max_in_flight = max_in_flight
        self.poll_s = poll_s
        self.rand = rand
        self.track_latency = track_latency
        self.stats = WorkerStats()
        self.metrics = metrics or NotifyMetrics(CollectorRegistry())
        self.in_flight: set[str] = set()
        self._flight_slots: dict[str, int] = {}
        self._results: asyncio.Queue[tuple[_Claimed, Outcome]] = asyncio.Queue()
        self._guards: dict[str, Guard] = {}
        self._channel_slots: dict[NotifyChannel, asyncio.Semaphore] = {}
        self._cases: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._triggers: dict[str, str] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._room = asyncio.Event()
        self._last_reclaim = 0.0
        self._last_flush = 0.0
        self.flush_every_s = 0.05
        self.grace_s = 10.0
        self._last_reload = time.monotonic()

    # -- the loops ------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Claim and send until cancelled; a separate task records outcomes."""
        recorder = asyncio.create_task(self._record_loop())
        delay = self.poll_s
        try:
            while True:
                try:
                    if time.monotonic() - self._last_reload > 5:
                        self._last_reload = time.monotonic()
                        self.deps.policy_file.reload()
                    picked = await self.round()
                    delay = self.poll_s
                except Exception:
                    log.exception("delivery round failed; backing off")
                    picked = 0
                    delay = min(delay * 2, 5.0)
                if picked == 0:
                    self._room.clear()
                    # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that races
                    # with the event being set, and then the worker never stops.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(delay):
                            await self._room.wait()
        finally:
            await self._shutdown(recorder)

    async def _shutdown(self, recorder: asyncio.Task[None]) -> None:
        """Graceful stop: let sends in flight finish (a while) and record them, so a restart finds no doubt."""
        recorder.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await recorder
        if self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=self.grace_s)
            for task in late:
                task.cancel()  # left `sending`: their lease expires and on_uncertain decides, as after a crash
        items = []
        while not self._results.empty():
            items.append(self._results.get_nowait())
        if items:
            with contextlib.suppress(Exception):
                await self._record(items)
                await self.flush()

    async def run_once(self) -> int:
        """One round, waiting for its sends and recording their outcomes (for tools and tests)."""
        picked = await self.round()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        items = []
        while not self._results.empty():
            items.append(self._results.get_nowait())
        if items:
            try:
                await self._record(items)
            finally:
                self._landed(items)
        return picked

    def wake(self) -> None:
        """New pending deliveries were committed: look now rather than at the next poll."""
        self._room.set()

    async def round(self) -> int:
        """One pass: reclaim expired leases, plan due deliveries, claim and launch sends. Returns how many."""
        now = time.time()
        if now - self._last_reclaim >= 1.0:
            self._last_reclaim = now
            await self._reclaim(now)
        room = self.max_in_flight - len(self.in_flight)
        if room <= 0 or (self.in_flight and room < min(self.batch, self.max_in_flight) // 4):
            return 0  # wait for a quarter of the window to free up: fewer, larger claims
        due = await self._of_held_slots("due_at", now, min(self.batch, room))
        due = [d for d in due if d["_id"] not in self.in_flight]
        if not due:
            return 0
        uow = self.unit_of_work()
        batch = _Round(uow, now)
        for doc in due:
            await self._take(batch, doc)
        try:
            await uow.commit()
        except ConflictError:
            log.info("another worker took some deliveries; re-reading")
            return 0
        self._tally(batch.failed)
        for channel_name, outcome in batch.noted:
            self.metrics.outcomes.labels(channel_name, outcome).inc()
        self.metrics.in_flight.set(len(self.in_flight) + len(batch.claimed))
        claimed_at = time.perf_counter()
        for item in batch.claimed:
            item.claimed_at = claimed_at
            item.doc["_v"] = int(item.doc["_v"]) + 1
            self.in_flight.add(item.doc["_id"])
            self._flight_slots[item.doc["_id"]] = int(item.doc.get("slot", 0))
            task = asyncio.create_task(self._attempt(item))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        await self._flush_soon()
        return len(due)

    async def _take(self, batch: _Round, doc: dict[str, Any]) -> None:
        """Plan one due delivery into this round's unit of work: claim, defer, skip or fail it."""
        uow, now = batch.uow, batch.now
        case = await self._case(doc["case_id"])
        step = plan(doc, case, datetime.fromtimestamp(now, UTC), self.deps.policy, self.deps.webhook_targets)
        if isinstance(step, Send) and case is not None:
            channel = NotifyChannel(doc["channel"])
            guard = self._guard(channel, case)
            slot = doc.get("rate_slot")
            wait = 0.0 if slot is not None and slot <= now else guard.bucket.reserve(time.monotonic())
            if wait > 0:
                # Rate-limited: keep the token reserved for this delivery at its slot; no claim, no lease yet.
                at = now + wait
                uow.update(DELIVERIES, {**doc, "due_at": at, "rate_slot": at, "deferred": "rate_limit"})
                batch.noted.append((doc["channel"], "deferred_rate_limit"))
                return
            retry_at = guard.breaker.allow(time.monotonic())
            if retry_at is not None:
                wait = retry_at - time.monotonic()
                uow.update(DELIVERIES, {**doc, "due_at": now + wait, "deferred": "circuit_open", "updated_at": now})
                batch.noted.append((doc["channel"], "deferred_circuit_open"))
                return
            new = {
                **doc,
                "state": State.SENDING.value,
                "due_at": None,
                "attempts": int(doc["attempts"]) + 1,
                "lease_until": now + self.deps.policy.channel(channel).lease_s,
                "recipient": step.recipient,
                "deferred": None,
                "rate_slot": None,
                "updated_at": now,
            }
            uow.update(DELIVERIES, new)
            batch.claimed.append(_Claimed(new, case))
        elif isinstance(step, Defer):
            uow.update(DELIVERIES, {**doc, "due_at": step.until.timestamp(), "deferred": step.reason})
            batch.noted.append((doc["channel"], f"deferred_{step.reason}"))
        elif isinstance(step, Skip):
            skipped = {**doc, "state": State.SKIPPED.value, "due_at": None, "last_error": step.reason}
            uow.update(DELIVERIES, {**skipped, "updated_at": now})
            batch.noted.append((doc["channel"], "skipped"))
        elif isinstance(step, Fail):
            await self._load_triggers([doc])
            self._fail(uow, {**doc, "attempts": max(int(doc["attempts"]), 1)}, step.reason, now)
            batch.failed.append((doc["channel"], State.FAILED))

    async def _of_held_slots(self, moment: str, now: float, limit: int) -> list[dict[str, Any]]:
        """Deliveries of the slots this replica holds whose `moment` (due_at while pending, lease_until while
        sending: each set only then) has passed, soonest first. Another replica's are never touched."""
        found: list[dict[str, Any]] = []
        for slot in sorted(self.ownership.owned):
            query = Query(where={"slot": slot}, range_field=moment, lt=now, order_by=moment, limit=limit)
            found += await self.store.find(DELIVERIES, query)
        found.sort(key=lambda d: float(d[moment]))
        return found[:limit]

    async def release(self, slots: frozenset[int], timeout_s: float) -> None:
        """Slots moving to another replica: let their sends in flight finish and record them first, so the
        next holder finds every delivery either settled or interrupted (never still being sent here)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while any(slot in slots for slot in self._flight_slots.values()) and loop.time() < deadline:
            self._room.set()
            await asyncio.sleep(0.01)

    async def _flush_soon(self) -> None:
        """Publish committed events now and then, not after every commit: the relay shares the store's one writer."""
        if time.monotonic() - self._last_flush >= self.flush_every_s:
            self._last_flush = time.monotonic()
            await self.flush()

    # -- one attempt ------------------------------------------------------------------------------------

    def _slots(self, channel: NotifyChannel, size: int) -> asyncio.Semaphore:
        slots = self._channel_slots.get(channel)
        if slots is None:
            slots = self._channel_slots[channel] = asyncio.Semaphore(size)
        return slots

    @staticmethod
    def _guard_key(channel: NotifyChannel, case: Mapping[str, Any]) -> str:
        return f"webhook:{case.get('platform')}" if channel is NotifyChannel.WEBHOOK else channel.value

    def _guard(self, channel: NotifyChannel, case: Mapping[str, Any]) -> Guard:
        key = self._guard_key(channel, case)
        guard = self._guards.get(key)
        if guard is None:
            cp = self.deps.policy.channel(channel)
            guard = Guard(TokenBucket(cp.rate_per_s, cp.burst), CircuitBreaker(cp.breaker_failures, cp.breaker_reset_s))
            self._guards[key] = guard
        return guard

    def message(self, doc: Mapping[str, Any], case: Mapping[str, Any]) -> Message:
        """Open the sealed contact (only now, in memory) and render the template in the customer's language."""
        channel = NotifyChannel(doc["channel"])
        rendered = self.deps.templates.render(
            doc["template"],
            case.get("language"),
            doc["vars"],
            str(case.get("time_zone") or "Asia/Shanghai"),
            parts=CHANNEL_PARTS[channel.value],
        )
        target = ""
        if channel is NotifyChannel.WEBHOOK:
            target = str(case.get("platform") or "")
            url = self.deps.webhook_targets.get(target)
            if url is None:
                raise DeliveryError(f"no webhook configured for {target!r}", permanent=True)
            address = url
        else:
            contact = self.deps.sealer.open(case["sealed"], case["key_id"])
            field_names = ("phone", "mobile") if channel is NotifyChannel.SMS else ("email",)
            found = next((str(contact[f]) for f in field_names if contact.get(f)), None)
            if found is None:
                raise DeliveryError(f"sealed contact has no {channel.value} address", permanent=True)
            address = found
        return Message(doc["_id"], doc["case_id"], doc["trigger_type"], address, rendered, doc["vars"], target)

    async def _attempt(self, item: _Claimed) -> None:
        doc, case = item.doc, item.case
        channel = NotifyChannel(doc["channel"])
        cp = self.deps.policy.channel(channel)
        guard = self._guard(channel, case)
        try:
            message = self.message(doc, case)
            doc["locale"] = message.rendered.locale
            # The adapters enforce timeout_s themselves (HTTP total timeout, SMTP socket timeout); this is a backstop.
            sender = self.deps.senders[channel]
            async with self._slots(channel, sender.concurrency):  # queue here, before the timeout clock starts
                started = time.perf_counter()
                async with asyncio.timeout(cp.timeout_s * 2):
                    await sender.send(message)
            self.metrics.send_seconds.labels(channel.value).observe(time.perf_counter() - started)
            outcome = Outcome(ok=True)
            guard.breaker.success()
        except DeliveryError as exc:
            outcome = Outcome(ok=False, error=exc.reason, permanent=exc.permanent)
            if not exc.permanent:
                guard.breaker.failure(time.monotonic())
        except SealError as exc:
            outcome = Outcome(ok=False, error=f"contact cannot be opened: {exc}", permanent=True)
        except KeyError as exc:
            outcome = Outcome(ok=False, error=f"template cannot be rendered: missing {exc}", permanent=True)
        except TimeoutError:
            # Cut off mid-send: the far side may have it. Retry only where it de-duplicates on our key.
            error = f"timeout after {cp.timeout_s * 2}s; outcome unknown"
            outcome = Outcome(ok=False, error=error, permanent=cp.on_uncertain == "give_up")
            guard.breaker.failure(time.monotonic())
        except Exception as exc:  # noqa: BLE001 - any adapter failure is a failed attempt, retried
            outcome = Outcome(ok=False, error=f"unexpected {type(exc).__name__}")
            guard.breaker.failure(time.monotonic())
        self.metrics.breaker_open.labels(self._guard_key(channel, case)).set(
            1 if guard.breaker.state is BreakerState.OPEN else 0
        )
        await self._results.put((item, outcome))

    # -- outcomes ---------------------------------------------------------------------------------------

    async def _record_loop(self) -> None:
        while True:
            first = await self._results.get()
            items = [first]
            while not self._results.empty() and len(items) < 1000:
                items.append(self._results.get_nowait())
            try:
                await self._record(items)
            except Exception:
                log.exception("recording delivery outcomes failed; their leases will expire and be reclaimed")
            finally:
                self._landed(items)
                self._room.set()

    def _landed(self, items: list[tuple[_Claimed, Outcome]]) -> None:
        for item, _ in items:
            self.in_flight.discard(item.doc["_id"])
            self._flight_slots.pop(item.doc["_id"], None)

    async def _record(self, items: list[tuple[_Claimed, Outcome]]) -> None:
        await self._load_triggers(item.doc for item, outcome in items if not outcome.ok)
        uow = self.unit_of_work()
        states = [(item.doc["channel"], self._apply(uow, item.doc, outcome)) for item, outcome in items]
        try:
            await uow.commit()
            self._tally(states)
        except ConflictError:
            # Someone changed one of them (a reclaim by another replica): record one by one, skipping the losers.
            for item, outcome in items:
                single = self.unit_of_work()
                state = self._apply(single, item.doc, outcome)
                with contextlib.suppress(ConflictError):
                    await single.commit()
                    self._tally([(item.doc["channel"], state)])
        if self.track_latency:
            done = time.perf_counter()
            self.stats.latencies.extend(done - item.claimed_at for item, _ in items)
        await self._flush_soon()

    def _tally(self, states: Iterable[tuple[str, State]]) -> None:
        """Count committed outcomes."""
        for channel, state in states:
            if state is State.SENT:
                self.stats.sent += 1
                self.metrics.outcomes.labels(channel, "sent").inc()
            elif state is State.FAILED:
                self.stats.failed += 1
                self.metrics.outcomes.labels(channel, "failed").inc()
                self.metrics.dead_letters.labels(channel).inc()
            else:
                self.stats.retried += 1
                self.metrics.outcomes.labels(channel, "retry").inc()

    def _apply(self, uow: UnitOfWork, doc: dict[str, Any], outcome: Outcome) -> State:
        channel = NotifyChannel(doc["channel"])
        now = time.time()
        attempts = int(doc["attempts"])
        if outcome.not_attempted:
            attempts -= 1
        state, due = after_attempt(attempts, outcome, self.deps.policy.channel(channel), now, self.rand())
        entry = {"at": now, "attempt": attempts, "ok": outcome.ok, "error": outcome.error or None}
        new = {
            **doc,
            "attempts": attempts,
            "log": [*doc.get("log", []), entry][-LOG_KEEP:],
            "lease_until": None,
            "updated_at": now,
        }
        if state is State.SENT:
            new.update(state=State.SENT.value, due_at=None, sent_at=now, last_error=None)
            uow.update(DELIVERIES, new)
            uow.emit(self._sent_event(new, now))
        elif state is State.FAILED:
            self._fail(uow, new, outcome.error, now)
        else:
            new.update(state=State.PENDING.value, due_at=due, last_error=outcome.error)
            uow.update(DELIVERIES, new)
        return state

    def _fail(self, uow: UnitOfWork, doc: dict[str, Any], reason: str, now: float) -> None:
        """Failed for good: the record, notification.failed and the dead letter, in one commit."""
        new = {**doc, "state": State.FAILED.value, "due_at": None, "last_error": reason, "lease_until": None}
        new["updated_at"] = now
        uow.update(DELIVERIES, new)
        uow.emit(self._failed_event(new, reason, now))
        uow.emit_raw(self._dead_letter(new, reason, now))
        log.warning(
            "notification failed",
            extra=logs.log_fields(
                case_id=doc["case_id"], notification_id=doc["_id"], channel=doc["channel"], reason=logs.scrub(reason)
            ),
        )

    def _payload(self, doc: Mapping[str, Any], now: float) -> dict[str, Any]:
        return {
            "notification_id": doc["_id"],
            "case_id": doc["case_id"],
            "channel": NotifyChannel(doc["channel"]),
            "template": doc["template"],
            "locale": doc.get("locale") or self.deps.policy.default_locale,
            "recipient": doc.get("recipient") or "-",
            "trigger_event_id": doc["trigger_event_id"],
            "trigger_type": doc["trigger_type"],
            "attempts": max(int(doc["attempts"]), 1),
            "at": datetime.fromtimestamp(now, UTC),
        }

    def _sent_event(self, doc: Mapping[str, Any], now: float) -> NotificationSent:
        event = NotificationSent.create(
            NotificationPayload(**self._payload(doc, now)),
            key=doc["case_id"],
            producer="notify",
            correlation_id=doc["correlation_id"],
            event_id=deterministic_id("notification.sent", doc["_id"]),
        )
        return event.model_copy(update={"causation_id": doc["trigger_event_id"]})

    def _failed_event(self, doc: Mapping[str, Any], reason: str, now: float) -> NotificationFailed:
        event = NotificationFailed.create(
            NotificationFailedPayload(**self._payload(doc, now), reason=logs.scrub(reason)[:4000]),
            key=doc["case_id"],
            producer="notify",
            correlation_id=doc["correlation_id"],
            # one failure event per failure: a delivery re-driven by a person may fail again
            event_id=deterministic_id("notification.failed", doc["_id"], doc.get("redrives", 0)),
        )
        return event.model_copy(update={"causation_id": doc["trigger_event_id"]})

    def _dead_letter(self, doc: Mapping[str, Any], reason: str, now: float) -> OutboxMessage:
        """The trigger's original bytes on its `<topic>.dlq`, as the kit would park a failed handler's input."""
        topic = self.topic_prefix + doc["trigger_topic"]
        headers = {
            "content-type": "application/json",
            "x-event-type": doc["trigger_type"],
            "x-event-id": doc["trigger_event_id"],
            "x-correlation-id": doc["correlation_id"],
            "x-dlq-reason": "delivery_failed",
            "x-dlq-detail": logs.scrub(reason)[:2000],
            "x-dlq-consumer": self.group_id,
            "x-dlq-original-topic": topic,
            "x-dlq-notification-id": doc["_id"],
            "x-dlq-channel": doc["channel"],
            "x-dlq-attempts": str(doc["attempts"]),
            "x-dlq-at": datetime.fromtimestamp(now, UTC).isoformat(),
        }
        original = self._triggers.get(doc["trigger_event_id"], "")
        if not original:
            headers["x-dlq-original-missing"] = "true"
        return OutboxMessage(topic + ".dlq", doc["case_id"], original.encode(), headers)

    async def _load_triggers(self, docs: Iterable[Mapping[str, Any]]) -> None:
        """The original trigger events of deliveries that may fail now (for their dead letters)."""
        if len(self._triggers) > 10_000:
            self._triggers.clear()
        for doc in docs:
            event_id = doc["trigger_event_id"]
            if event_id not in self._triggers:
                found = await self.store.get(TRIGGERS, event_id)
                self._triggers[event_id] = str(found["json"]) if found else ""

    # -- crash recovery ---------------------------------------------------------------------------------

    async def _reclaim(self, now: float) -> None:
        """Sends whose lease expired (their worker died mid-send): retry with the same key, or give up."""
        stale = await self._of_held_slots("lease_until", now, self.batch)
        stale = [d for d in stale if d["_id"] not in self.in_flight]
        if not stale:
            return
        await self._load_triggers(stale)
        uow = self.unit_of_work()
        for doc in stale:
            cp = self.deps.policy.channel(NotifyChannel(doc["channel"]))
            reason = "interrupted mid-send; outcome unknown"
            entry = {"at": now, "attempt": doc["attempts"], "ok": None, "error": reason}
            new = {**doc, "log": [*doc.get("log", []), entry][-LOG_KEEP:]}
            if cp.on_uncertain == "give_up" or int(doc["attempts"]) >= cp.max_attempts:
                self._fail(uow, new, reason, now)
            else:
                new.update(state=State.PENDING.value, due_at=now, lease_until=None, last_error=reason)
                uow.update(DELIVERIES, new)
        with contextlib.suppress(ConflictError):
            await uow.commit()
            log.warning("reclaimed interrupted sends", extra=logs.log_fields(count=len(stale)))

    # -- cases ------------------------------------------------------------------------------------------

    async def _case(self, case_id: str) -> dict[str, Any] | None:
        """A case's stored contact (immutable once opened, so cached)."""
        cached = self._cases.get(case_id)
        if cached is not None:
            self._cases.move_to_end(case_id)
            return cached
        doc = await self.store.get(CASES, case_id)
        if doc is not None:
            self._cases[case_id] = doc
            if len(self._cases) > 10_000:
                self._cases.popitem(last=False)
        return doc
