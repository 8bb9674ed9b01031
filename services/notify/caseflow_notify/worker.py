"""The delivery worker: sends what handlers recorded as pending, outside any handler's transaction.

A send is I/O that cannot join the store transaction, so per delivery the worker
1. claims it (pending -> sending, attempts + 1, a lease) and commits that BEFORE the I/O;
2. sends it (rate limit, circuit breaker, timeout) with the notification id as the key the far side sees
   (webhook delivery id, SMS client_ref, e-mail Message-ID);
3. commits the state the domain's `after_attempt` gives, with the events it causes (notification.sent,
   or notification.failed and the trigger's dead letter), in one commit.
Each commit goes through the kit's command runner (`runtime.commands.run`): a compare-and-set another
writer won re-runs the work from fresh reads, so a delivery's end is committed once. A crash between 2
and 3 leaves it `sending`; when its lease runs out it is an attempt whose outcome is unknown and the
channel's `on_uncertain` decides (retry with the same key, or fail it for a person).

Business time (due times, leases, rate slots, breakers, sending hours) is the runtime's injected clock;
only the loop's own pacing (poll interval, flush throttle) and the send-duration metric use real time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from caseflow_contracts.notify import NotifyChannel
from caseflow_kit import deadletters, logs
from caseflow_kit.privacy import SealError
from caseflow_kit.uow import UnitOfWork

from . import events, store
from .channels import DeliveryError
from .domain import Defer, Delivery, Fail, NotifyCase, Outcome, Send, Skip, State
from .metrics import NotifyMetrics
from .resilience import BreakerState, CircuitBreaker, TokenBucket

if TYPE_CHECKING:
    from .deps import Deps, NotifyRuntime

log = logging.getLogger("caseflow.notify.worker")
#: How often (injected clock) expired leases are looked for.
RECLAIM_EVERY_S = 1.0
CASE_CACHE = 10_000


@dataclass
class Guard:
    """A channel's (or a webhook target's) rate limit and circuit breaker, and the policy they were made from."""

    bucket: TokenBucket
    breaker: CircuitBreaker
    made_from: Any


@dataclass
class _InFlight:
    delivery: Delivery  # as claimed and committed
    case: NotifyCase
    claimed_at: float = 0.0  # perf_counter, for the latency figures of the benchmark
    locale: str | None = None


@dataclass
class _Round:
    """What one claim round decided (committed together)."""

    claimed: list[_InFlight] = field(default_factory=list)
    noted: list[tuple[str, str]] = field(default_factory=list)
    settled: list[Delivery] = field(default_factory=list)


@dataclass
class WorkerStats:
    sent: int = 0
    failed: int = 0
    retried: int = 0
    latencies: list[float] = field(default_factory=list, repr=False)


class DeliveryWorker:
    def __init__(
        self,
        runtime: NotifyRuntime,
        deps: Deps,
        metrics: NotifyMetrics,
        *,
        flush: Callable[[], Awaitable[int]] | None = None,
        rand: Callable[[], float] = random.random,
        track_latency: bool = False,
    ) -> None:
        settings = runtime.settings
        self.runtime = runtime
        self.deps = deps
        self.metrics = metrics
        self.clock = runtime.clock
        self.flush = flush or runtime.relay.flush
        self.batch = settings.worker_batch
        self.max_in_flight = settings.worker_max_in_flight
        self.poll_s = settings.worker_poll_ms / 1000
        self.rand = rand
        self.track_latency = track_latency
        self.stats = WorkerStats()
        self.in_flight: dict[str, int] = {}  # notification id -> slot
        self.flush_every_s = 0.05
        self.grace_s = 10.0
        self._results: asyncio.Queue[tuple[_InFlight, Outcome]] = asyncio.Queue()
        self._guards: dict[str, Guard] = {}
        self._channel_slots: dict[NotifyChannel, asyncio.Semaphore] = {}
        self._cases: OrderedDict[str, NotifyCase] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        self._room = asyncio.Event()
        self._last_reclaim: float | None = None
        self._last_flush = 0.0

    # -- the loops --------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Claim and send until cancelled; a separate task records outcomes."""
        recorder = asyncio.create_task(self._record_loop())
        delay = self.poll_s
        try:
            while True:
                try:
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
        items = self._drain_results()
        if items:
            with contextlib.suppress(Exception):
                await self._record(items)
                await self.flush()

    async def run_once(self) -> int:
        """One round, waiting for its sends and recording their outcomes (for tools and tests)."""
        picked = await self.round()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        items = self._drain_results()
        if items:
            try:
                await self._record(items)
            finally:
                self._landed(items)
        return picked

    def wake(self) -> None:
        """New pending deliveries were committed: look now rather than at the next poll."""
        self._room.set()

    async def release(self, slots: frozenset[int], timeout_s: float) -> None:
        """Slots moving to another replica: let their sends in flight finish and record them first, so the
        next holder finds every delivery either settled or interrupted (never still being sent here)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while any(slot in slots for slot in self.in_flight.values()) and loop.time() < deadline:
            self._room.set()
            await asyncio.sleep(0.01)

    # -- claiming -----------------------------------------------------------------------------------------

    async def round(self) -> int:
        """One pass: reclaim expired leases, plan due deliveries, claim and launch sends. Returns how many."""
        now = self.clock.time()
        if self._last_reclaim is None or not 0 <= now - self._last_reclaim < RECLAIM_EVERY_S:
            self._last_reclaim = now
            await self._reclaim()
        room = self.max_in_flight - len(self.in_flight)
        if room <= 0 or (self.in_flight and room < min(self.batch, self.max_in_flight) // 4):
            return 0  # wait for a quarter of the window to free up: fewer, larger claims
        limit = min(self.batch, room)
        batch = await self.runtime.commands.run(lambda uow: self._plan_round(uow, limit))
        self._tally(batch.settled)
        for channel, outcome in batch.noted:
            self.metrics.outcomes.labels(channel, outcome).inc()
        self.metrics.in_flight.set(len(self.in_flight) + len(batch.claimed))
        claimed_at = time.perf_counter()
        for item in batch.claimed:
            item.claimed_at = claimed_at
            self.in_flight[item.delivery.id] = item.delivery.slot
            task = asyncio.create_task(self._attempt(item))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        await self._flush_soon()
        return len(batch.claimed) + len(batch.noted) + len(batch.settled)

    async def _plan_round(self, uow: UnitOfWork, limit: int) -> _Round:
        """Plan every due delivery of the held slots into this unit of work: claim, defer, skip or fail it."""
        now = self.clock.time()
        owned = sorted(self.runtime.ownership.owned)
        due = await store.of_held_slots(self.runtime.store, "due_at", owned, now, limit)
        batch = _Round()
        policy = self.deps.policy
        for delivery in due:
            if delivery.id in self.in_flight:
                continue
            case = await self._case(delivery.case_id)
            contact = case.contact if case is not None else None
            step = delivery.plan(contact, now, policy, self.deps.hours, self.deps.webhook_names)
            if isinstance(step, Send) and case is not None:
                await self._claim(uow, batch, delivery, send=step, case=case, now=now)
            elif isinstance(step, Defer):
                store.save_delivery(uow, delivery.deferred_until(step.until, step.reason, now))
                batch.noted.append((_label(delivery), f"deferred_{step.reason}"))
            elif isinstance(step, Skip):
                store.save_delivery(uow, delivery.skipped(step.reason, now))
                batch.noted.append((_label(delivery), "skipped"))
            elif isinstance(step, Fail):
                batch.settled.append(await self._settle(uow, delivery.failed(step.reason, now), now))
        return batch

    async def _claim(
        self, uow: UnitOfWork, batch: _Round, delivery: Delivery, *, send: Send, case: NotifyCase, now: float
    ) -> None:
        guard = self._guard(send.channel, case)
        slot = delivery.rate_slot
        wait = 0.0 if slot is not None and slot <= now else guard.bucket.reserve(now)
        if wait > 0:
            # Rate-limited: keep the token reserved for this delivery at its slot; no claim, no lease yet.
            store.save_delivery(uow, delivery.deferred_until(now + wait, "rate_limit", now, rate_slot=now + wait))
            batch.noted.append((send.channel.value, "deferred_rate_limit"))
            return
        retry_at = guard.breaker.allow(now)
        if retry_at is not None:
            store.save_delivery(uow, delivery.deferred_until(retry_at, "circuit_open", now))
            batch.noted.append((send.channel.value, "deferred_circuit_open"))
            return
        lease_s = self.deps.policy.channel(send.channel).lease_s
        claimed = store.save_delivery(uow, delivery.claimed(send, now, lease_s))
        batch.claimed.append(_InFlight(claimed, case))

    # -- one attempt --------------------------------------------------------------------------------------

    def _slots(self, channel: NotifyChannel, size: int) -> asyncio.Semaphore:
        slots = self._channel_slots.get(channel)
        if slots is None:
            slots = self._channel_slots[channel] = asyncio.Semaphore(size)
        return slots

    @staticmethod
    def _guard_key(channel: NotifyChannel, case: NotifyCase) -> str:
        return f"webhook:{case.contact.platform}" if channel is NotifyChannel.WEBHOOK else channel.value

    def _guard(self, channel: NotifyChannel, case: NotifyCase) -> Guard:
        key = self._guard_key(channel, case)
        cp = self.deps.policy.channel(channel)
        guard = self._guards.get(key)
        if guard is None or (guard.made_from is not cp and guard.made_from != cp):  # new, or the policy changed
            breaker = CircuitBreaker(cp.breaker_failures, cp.breaker_reset_s)
            guard = self._guards[key] = Guard(TokenBucket(cp.rate_per_s, cp.burst), breaker, cp)
        return guard

    async def _attempt(self, item: _InFlight) -> None:
        delivery, case = item.delivery, item.case
        channel = delivery.any_channel  # chosen by the claim
        cp = self.deps.policy.channel(channel)
        guard = self._guard(channel, case)
        try:
            message = self.deps.composer.compose(delivery, case)
            item.locale = message.rendered.locale
            sender = self.deps.senders[channel]
            async with self._slots(channel, sender.concurrency):  # queue here, before the timeout clock starts
                reopens = guard.breaker.open_until(self.clock.time())
                if reopens is not None:  # it opened while this one waited for a connection: do not add to it
                    outcome = Outcome(ok=False, error="circuit open", not_attempted=True, retry_at=reopens)
                else:
                    started = time.perf_counter()
                    # The adapters enforce timeout_s themselves (HTTP total timeout, SMTP socket timeout):
                    # this is a backstop.
                    async with asyncio.timeout(cp.timeout_s * 2):
                        await sender.send(message)
                    self.metrics.send_seconds.labels(channel.value).observe(time.perf_counter() - started)
                    outcome = Outcome(ok=True)
                    guard.breaker.success()
        except DeliveryError as exc:
            outcome = Outcome(ok=False, error=exc.reason, permanent=exc.permanent, uncertain=exc.uncertain)
            if not exc.permanent:
                guard.breaker.failure(self.clock.time())
        except SealError as exc:
            outcome = Outcome(ok=False, error=f"contact cannot be opened: {exc}", permanent=True)
        except KeyError as exc:
            outcome = Outcome(ok=False, error=f"template cannot be rendered: missing {exc}", permanent=True)
        except TimeoutError:
            # Cut off mid-send: the far side may have it.
            outcome = Outcome(ok=False, error=f"timeout after {cp.timeout_s * 2}s; outcome unknown", uncertain=True)
            guard.breaker.failure(self.clock.time())
        except Exception as exc:  # noqa: BLE001 - any adapter failure is a failed attempt, retried
            outcome = Outcome(ok=False, error=f"unexpected {type(exc).__name__}")
            guard.breaker.failure(self.clock.time())
        self.metrics.breaker_open.labels(self._guard_key(channel, case)).set(
            1 if guard.breaker.state is BreakerState.OPEN else 0
        )
        await self._results.put((item, outcome))

    # -- outcomes -----------------------------------------------------------------------------------------

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

    def _drain_results(self) -> list[tuple[_InFlight, Outcome]]:
        items = []
        while not self._results.empty():
            items.append(self._results.get_nowait())
        return items

    def _landed(self, items: list[tuple[_InFlight, Outcome]]) -> None:
        for item, _ in items:
            self.in_flight.pop(item.delivery.id, None)

    async def _record(self, items: list[tuple[_InFlight, Outcome]]) -> None:
        """The outcomes of finished sends, in one commit. On a clash (another replica reclaimed one of them)
        the runner re-runs this from fresh reads, and a delivery no longer sending as claimed is left alone."""
        draws = [self.rand() for _ in items]
        runs = 0

        async def work(uow: UnitOfWork) -> list[Delivery]:
            nonlocal runs
            runs += 1
            now = self.clock.time()
            settled = []
            for (item, outcome), draw in zip(items, draws, strict=True):
                current = item.delivery if runs == 1 else await store.delivery(uow, item.delivery.id)
                if current is None or current.state is not State.SENDING or current.attempts != item.delivery.attempts:
                    continue  # settled meanwhile by someone else (reclaimed as interrupted)
                cp = self.deps.policy.channel(current.any_channel)
                after = current.settled(outcome, cp, now, draw, locale=item.locale)
                settled.append(await self._settle(uow, after, now))
            return settled

        self._tally(await self.runtime.commands.run(work))
        if self.track_latency:
            done = time.perf_counter()
            self.stats.latencies.extend(done - item.claimed_at for item, _ in items)
        await self._flush_soon()

    async def _settle(self, uow: UnitOfWork, delivery: Delivery, now: float) -> Delivery:
        """Write the delivery's new state with the events it causes."""
        at = events.at_time(now)
        fallback = self.deps.policy.fallback_locales[0]
        if delivery.state is State.SENT:
            uow.emit(events.sent(delivery, at, fallback))
        elif delivery.state is State.FAILED:
            trigger = await store.trigger(self.runtime.store, delivery.trigger.event_id)
            uow.emit(events.failed(delivery, at, fallback))
            letter = events.dead_letter(
                delivery,
                trigger,
                topic_prefix=self.runtime.settings.topic_prefix,
                consumer=self.runtime.group_id,
                at=at,
                inline_limit=self.runtime.settings.dead_letter_inline_bytes,
            )
            if letter.stashed_body is not None:
                uow.put(deadletters.BODIES, letter.stashed_body)
            uow.emit_raw(letter.message)
            log.warning(
                "notification failed",
                extra=logs.log_fields(
                    case_id=delivery.case_id,
                    notification_id=delivery.id,
                    channel=_label(delivery),
                    reason=logs.scrub(delivery.last_error or ""),
                ),
            )
        return store.save_delivery(uow, delivery)

    def _tally(self, settled: Iterable[Delivery]) -> None:
        """Count committed outcomes."""
        for delivery in settled:
            channel = _label(delivery)
            if delivery.state is State.SENT:
                self.stats.sent += 1
                self.metrics.outcomes.labels(channel, "sent").inc()
            elif delivery.state is State.FAILED:
                self.stats.failed += 1
                self.metrics.outcomes.labels(channel, "failed").inc()
                self.metrics.dead_letters.labels(channel).inc()
            else:
                self.stats.retried += 1
                self.metrics.outcomes.labels(channel, "retry").inc()

    async def _flush_soon(self) -> None:
        """Publish committed events now and then, not after every commit: the relay shares the store's one writer."""
        if time.monotonic() - self._last_flush >= self.flush_every_s:
            self._last_flush = time.monotonic()
            await self.flush()

    # -- crash recovery -----------------------------------------------------------------------------------

    async def _reclaim(self) -> None:
        """Sends whose lease expired (their worker died mid-send): attempts whose outcome is unknown."""

        async def work(uow: UnitOfWork) -> list[Delivery]:
            now = self.clock.time()
            owned = sorted(self.runtime.ownership.owned)
            stale = await store.of_held_slots(self.runtime.store, "lease_until", owned, now, self.batch)
            settled = []
            for delivery in stale:
                if delivery.id not in self.in_flight:
                    cp = self.deps.policy.channel(delivery.any_channel)
                    settled.append(await self._settle(uow, delivery.interrupted(cp, now, self.rand()), now))
            return settled

        settled = await self.runtime.commands.run(work)
        if settled:
            self._tally(settled)
            log.warning("reclaimed interrupted sends", extra=logs.log_fields(count=len(settled)))

    # -- cases --------------------------------------------------------------------------------------------

    async def _case(self, case_id: str) -> NotifyCase | None:
        """A case's contact (immutable once opened, so cached; its status is the handlers' business)."""
        cached = self._cases.get(case_id)
        if cached is not None:
            self._cases.move_to_end(case_id)
            return cached
        found = await store.case(self.runtime.store, case_id)
        if found is not None:
            self._cases[case_id] = found
            if len(self._cases) > CASE_CACHE:
                self._cases.popitem(last=False)
        return found


def _label(delivery: Delivery) -> str:
    """The channel as metrics name it: `customer` until the customer's preferred channel is chosen."""
    return delivery.channel.value if delivery.channel else "customer"
