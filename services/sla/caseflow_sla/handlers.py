"""Lifecycle events in → clock transitions → SLA events out (through the unit of work's outbox).

Event time decides (the timestamps in the payloads), never arrival time; the
rule for late and out-of-order events is in the README.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from caseflow_contracts import Event
from caseflow_contracts.cases import (
    CaseAwaitingCustomer,
    CaseCallbackLogged,
    CaseClosed,
    CaseCustomerResponded,
    CaseEscalated,
    CaseOpened,
    CaseProgressNoted,
    CaseResolved,
    CaseTransferred,
    EscalationTrigger,
)
from caseflow_contracts.common import CaseKind, Channel, LadderLevel, Priority
from caseflow_contracts.notify import NotificationSent, NotifyChannel
from caseflow_contracts.sla import SlaMetric
from caseflow_contracts.stations import ResolutionResult
from caseflow_kit import Context
from caseflow_kit.rules import RulesFile
from caseflow_kit.store import Store

from . import domain
from .domain import CASE_METRICS, HOLDER_METRICS, Clock, Decision, Outcome, State
from .events import sla_event
from .policy import Policies, PolicyBook
from .store import CASES, CLOCKS, Loaded, save_clocks

#: Clocks of the case as a whole (e-mail acknowledgement, complaint answer) belong to the centre: level hq.
CASE_LEVEL = LadderLevel.HQ.value


@dataclass
class SlaDeps:
    store: Store
    rules: RulesFile[Policies] | None
    book: PolicyBook
    now: Callable[[], float] = time.time
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    producer: str = "sla"

    def policies(self) -> PolicyBook:
        """The policies in force; a changed file takes effect once it validates."""
        if self.rules is not None and self.rules.reload():
            self.book = PolicyBook(self.rules.current)
        return self.book


class CaseState:
    """One case's clocks and facts inside one handler run."""

    def __init__(
        self, ctx: Context[SlaDeps], case_id: str, case: dict[str, Any] | None, clocks: dict[str, Loaded]
    ) -> None:
        self.ctx = ctx
        self.book = ctx.deps.policies()
        self.case_id = case_id
        self.case = case
        self.case_changes: dict[str, Any] = {}
        self.clocks = clocks
        self.decisions: list[tuple[Clock, Decision, float]] = []

    def change(self, **changes: Any) -> None:
        """Facts about the case to store (written once, in `save`)."""
        self.case_changes.update(changes)
        if self.case is not None:
            self.case.update(changes)

    def calendar(self, clock: Clock) -> Any:
        return self.book.calendar(clock.calendar)

    @property
    def paused(self) -> bool:
        return bool(self.case and self.case.get("paused_since") is not None)

    def live(self, metrics: Iterable[str] = (*HOLDER_METRICS, *CASE_METRICS)) -> list[Loaded]:
        wanted = set(metrics)
        return [
            c
            for c in self.clocks.values()
            if c.clock.metric in wanted and c.clock.state in (State.RUNNING, State.PAUSED)
        ]

    def record(self, loaded: Loaded, decisions: list[Decision], at: float) -> None:
        loaded.dirty = True
        self.decisions += [(loaded.clock, d, at) for d in decisions]

    def begin(self, metric: str, level: str, holder: str | None, at: float, facts: dict[str, Any]) -> None:
        """A holder receives the case at `level`: start the clock, or re-assign it as the policy says."""
        target = self.book.resolve(
            SlaMetric(metric),
            kind=CaseKind(facts["kind"]),
            priority=Priority(facts["priority"]),
            channel=Channel(facts["channel"]) if facts.get("channel") else None,
            level=LadderLevel(level),
            holder=holder,
        )
        if target is None:
            return
        paused = self.paused and self.book.options(SlaMetric(metric)).pauses
        key = domain.clock_id(facts["case_id"], metric, level)
        loaded = self.clocks.get(key)
        calendar_name = self.book.calendar_name(holder) if target.calendar is not None else None
        fields = {
            "station": holder,
            "kind": facts["kind"],
            "priority": facts["priority"],
            "channel": facts.get("channel"),
            "target_s": target.seconds,
            "warning_s": target.warning_seconds,
            "calendar": calendar_name,
            "policy_version": self.book.version,
        }
        if loaded is None:
            clock = Clock(case_id=facts["case_id"], metric=metric, level=level, started_at=at, **fields)
            clock.extra["correlation_id"] = self.ctx.event.correlation_id
            self.clocks[key] = loaded = Loaded(domain.start_clock(clock, target.calendar, at, paused=paused), None)
            return
        clock = loaded.clock
        if clock.state == State.STOP_FIRST:
            _assign(clock, fields)
            self.record(loaded, domain.start_after_stop(clock, target.calendar, at), at)
            return
        if clock.state != State.STOPPED and clock.station == holder:
            return  # the same assignment again (a replay under another id): nothing changes
        if at < clock.last_at:
            return  # an older assignment than the one the clock already follows
        if clock.state == State.STOPPED or target.reassignment == "restart":
            _assign(clock, fields)
            if domain.restart(clock, target.calendar, at, paused=paused):
                loaded.dirty = True
        else:
            clock.station = holder  # the clock keeps counting for the new holder
            loaded.dirty = True

    def end(self, loaded: Loaded, at: float, outcome: Outcome, *, can_meet: bool = True) -> None:
        clock = loaded.clock
        self.record(loaded, domain.stop(clock, self.calendar(clock), at, outcome, can_meet=can_meet), at)

    def end_or_remember(self, metric: str, level: str, at: float, outcome: Outcome, facts: dict[str, Any]) -> None:
        """Stop the clock; if its start has not arrived yet, remember the stop (out of order)."""
        key = domain.clock_id(facts["case_id"], metric, level)
        loaded = self.clocks.get(key)
        if loaded is not None:
            self.end(loaded, at, outcome)
            return
        clock = Clock(
            case_id=facts["case_id"],
            metric=metric,
            level=level,
            kind=facts.get("kind", CaseKind.INQUIRY.value),
            priority=facts.get("priority", Priority.NORMAL.value),
            channel=facts.get("channel"),
            station=facts.get("station"),
            target_s=1,
            warning_s=1,
            calendar=None,
            policy_version=self.book.version,
            started_at=at,
        )
        self.clocks[key] = Loaded(domain.stop_first(clock, at, outcome), None)

    def save(self) -> None:
        uow = self.ctx.uow
        new_ids = [key for key, loaded in self.clocks.items() if loaded.version is None]
        if self.case is None:
            if self.case_changes or new_ids:
                doc = {"_id": self.case_id, "paused_since": None, **self.case_changes, "clocks": new_ids}
                uow.add(CASES, doc)
        elif self.case_changes or new_ids:
            self.case["clocks"] = [*self.case.get("clocks", []), *new_ids]
            uow.update(CASES, self.case)
        save_clocks(uow, self.clocks)
        for clock, decision, at in self.decisions:
            uow.emit(sla_event(clock, decision, at=at, producer=self.ctx.producer, cause=self.ctx.event))
        if self.decisions or any(c.dirty and c.clock.due_at is not None for c in self.clocks.values()):
            self.ctx.deps.wake.set()


def _assign(clock: Clock, fields: dict[str, Any]) -> None:
    for name, value in fields.items():
        setattr(clock, name, value)


async def _load(ctx: Context[SlaDeps], case_id: str) -> CaseState:
    """The case and its clocks, read through the unit of work (so earlier records of the same batch are seen)."""
    case = await ctx.uow.get(CASES, case_id)
    clocks: dict[str, Loaded] = {}
    for key in case.get("clocks", []) if case else []:
        doc = await ctx.uow.get(CLOCKS, key)
        if doc is not None:
            clocks[key] = Loaded(Clock.from_doc(doc), int(doc["_v"]))
    return CaseState(ctx, case_id, case, clocks)


def _facts(state: CaseState, case_id: str, **known: Any) -> dict[str, Any]:
    facts: dict[str, Any] = {"case_id": case_id}
    if state.case:
        facts.update({k: state.case.get(k) for k in ("kind", "priority", "channel", "holder") if state.case.get(k)})
        facts["station"] = state.case.get("holder")
    facts.update({k: (v.value if hasattr(v, "value") else v) for k, v in known.items() if v is not None})
    return facts


# handlers --------------------------------------------------------------------------


async def on_opened(event: CaseOpened, ctx: Context[SlaDeps]) -> None:
    p = event.payload
    state = await _load(ctx, p.case_id)
    at = p.opened_at.timestamp()
    facts = _facts(state, p.case_id, kind=p.kind, priority=p.priority, channel=p.channel)
    for metric in CASE_METRICS:
        state.begin(metric, CASE_LEVEL, None, at, facts)
    state.change(**{k: facts[k] for k in ("kind", "priority", "channel")}, opened_at=at)
    state.save()


async def _hand_to(
    ctx: Context[SlaDeps], event: Event, holder: str, level: str, *, at: float, metrics: list[str]
) -> None:
    p: Any = event.payload
    state = await _load(ctx, p.case_id)
    if state.case is not None and at < float(state.case.get("assigned_at") or 0):
        return  # an older assignment than the latest one known: the latest holder wins
    facts = _facts(state, p.case_id, kind=p.kind, priority=p.priority, channel=p.channel)
    for loaded in state.live(HOLDER_METRICS):
        if loaded.clock.level != level and loaded.clock.started_at <= at:
            state.end(loaded, at, Outcome.HANDED_OVER, can_meet=False)
    for metric in metrics:
        state.begin(metric, level, holder, at, facts)
    state.change(**{k: facts[k] for k in ("kind", "priority", "channel")}, holder=holder, level=level, assigned_at=at)
    state.save()


async def on_escalated(event: CaseEscalated, ctx: Context[SlaDeps]) -> None:
    p = event.payload
    metrics = ["callback", "resolution", "customer_update"]
    if p.trigger != EscalationTrigger.INITIAL_ASSIGNMENT:
        metrics.append("escalation_follow_up")
    await _hand_to(ctx, event, p.holder, p.level.value, at=p.escalated_at.timestamp(), metrics=metrics)


async def on_transferred(event: CaseTransferred, ctx: Context[SlaDeps]) -> None:
    p = event.payload
    metrics = ["callback", "resolution", "customer_update"]
    await _hand_to(ctx, event, p.to_station, p.level.value, at=p.transferred_at.timestamp(), metrics=metrics)


async def on_callback_logged(event: CaseCallbackLogged, ctx: Context[SlaDeps]) -> None:
    p = event.payload
    state = await _load(ctx, p.case_id)
    at, level = p.at.timestamp(), p.level.value
    facts = _facts(state, p.case_id, station=p.station)
    state.end_or_remember("callback", level, at, Outcome.MET, facts)
    for loaded in state.live(["escalation_follow_up", "email_acknowledgement"]):
        if loaded.clock.metric == "email_acknowledgement" or loaded.clock.level == level:
            state.end(loaded, at, Outcome.MET)
    state.save()


async def on_progress_noted(event: CaseProgressNoted, ctx: Context[SlaDeps]) -> None:
    p = event.payload
    state = await _load(ctx, p.case_id)
    at, level = p.at.timestamp(), p.level.value
    for loaded in state.live(["escalation_follow_up", "customer_update"]):
        clock = loaded.clock
        if clock.level != level:
            continue
        if clock.metric == "escalation_follow_up":
            state.end(loaded, at, Outcome.MET)
        elif domain.restart(clock, state.calendar(clock), at, paused=clock.state == State.PAUSED):
            loaded.dirty = True
    state.save()


async def on_awaiting_customer(event: CaseAwaitingCustomer, ctx: Context[SlaDeps]) -> None:
    p = event.payload
    state = await _load(ctx, p.case_id)
    at = p.at.timestamp()
    if state.paused:
        return
    for loaded in state.live():
        clock = loaded.clock
        if state.book.options(SlaMetric(clock.metric)).pauses and domain.pause(clock, state.calendar(clock), at):
            loaded.dirty = True
    state.change(paused_since=at)
    state.save()


async def on_customer_responded(event: CaseCustomerResponded, ctx: Context[SlaDeps]) -> None:
    p = event.payload
    state = await _load(ctx, p.case_id)
    at = p.at.timestamp()
    for loaded in state.live():
        if domain.resume(loaded.clock, state.calendar(loaded.clock), at):
            loaded.dirty = True
    if state.paused:
        state.change(paused_since=None)
    state.save()


async def on_resolved(event: CaseResolved, ctx: Context[SlaDeps]) -> None:
    p = event.payload
    if p.result == ResolutionResult.PENDING:
        return
    state = await _load(ctx, p.case_id)
    at, level = p.at.timestamp(), p.level.value
    unresolved = p.result == ResolutionResult.UNRESOLVED
    facts = _facts(state, p.case_id, station=p.station, kind=p.kind)
    if domain.clock_id(p.case_id, "resolution", level) not in state.clocks:
        state.end_or_remember("resolution", level, at, Outcome.UNRESOLVED if unresolved else Outcome.MET, facts)
    for loaded in state.live():
        is_resolution = loaded.clock.metric == "resolution"
        state.end(loaded, at, Outcome.UNRESOLVED if unresolved and is_resolution else Outcome.MET)
    state.save()


async def on_closed(event: CaseClosed, ctx: Context[SlaDeps]) -> None:
    p = event.payload
    state = await _load(ctx, p.case_id)
    at = p.closed_at.timestamp()
    for loaded in state.live():
        state.end(loaded, at, Outcome.CLOSED, can_meet=False)
    state.save()


async def on_notification_sent(event: NotificationSent, ctx: Context[SlaDeps]) -> None:
    """An e-mail sent to the customer acknowledges an e-mail contact."""
    p = event.payload
    if p.channel != NotifyChannel.EMAIL:
        return
    state = await _load(ctx, p.case_id)
    for loaded in state.live(["email_acknowledgement"]):
        state.end(loaded, p.at.timestamp(), Outcome.MET)
    state.save()
