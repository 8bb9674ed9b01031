"""One case's clocks and the facts they need: the aggregate that decides what each input does to them.

The station that receives a case keeps it, and its clocks (callback, resolution, customer update) run
until they end met or breached: an escalation adds the supervisor's follow-up clock and leaves them
running; only a reassignment by HQ ends them (outcome `reassigned`) and starts the new station's, in a
new episode (new clocks, new event ids), as a reopening does. Every time is event time (the payloads'),
stamped by routing with when the station's update reached the suite; `Cause.now` (the service's clock)
only stamps withdrawals. Results: `signals` (SLA events), `charges` / `reversals` (QA scorecard lines)
and `chargebacks`, for the handler to save and emit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from caseflow_contracts.cases import (
    CaseCallbackLoggedPayload,
    CaseClosedPayload,
    CaseEscalatedPayload,
    CaseHqRuledPayload,
    CaseMergedPayload,
    CaseNoteRefusedPayload,
    CaseOpenedPayload,
    CaseReopenedPayload,
    CaseResolvedPayload,
    CaseSatisfactionRecordedPayload,
    CaseStationActionPayload,
    CaseTransferredPayload,
    EscalationTrigger,
)
from caseflow_contracts.claims import ChargebackIssuedPayload, ChargebackReversedPayload, PayoutIssuedPayload
from caseflow_contracts.common import Channel
from caseflow_contracts.notify import NotificationPayload, NotifyChannel
from caseflow_contracts.qa import QaDuty
from caseflow_contracts.stations import HqRuling, ResolutionResult

from .clock import Clock, Decision, Outcome, Signal, State, WorkingTime, clock_id
from .qa import QaEntry, QaPrices, charge_breach, charge_duty, reverse_breach

STATION_METRICS = ("callback", "resolution", "customer_update")
FOLLOW_UP = "escalation_follow_up"
CASE_METRICS = ("email_acknowledgement", "complaint_answer")
#: Clocks of the case as a whole (e-mail acknowledgement, complaint answer) belong to the centre: level hq.
CASE_LEVEL = "hq"


def _ts(moment: datetime) -> float:
    return moment.timestamp()


@dataclass(frozen=True)
class Subject:
    """What the policies match a clock's target on."""

    kind: str
    priority: str
    channel: str | None
    complaint: bool
    customer_contact: bool


@dataclass(frozen=True)
class Target:
    seconds: int
    warning_seconds: int
    lateness_seconds: int
    calendar: str | None


class Rules(Protocol):
    """The SLA policies in force (sla's policies file, through its PolicyBook)."""

    @property
    def version(self) -> str: ...

    def target(self, metric: str, subject: Subject, level: str, unit: str | None) -> Target | None:
        """The target of this clock, or None when the policies switch the metric off for it."""

    def pauses(self, metric: str) -> bool: ...

    def working_time(self, calendar: str | None) -> WorkingTime: ...


@dataclass
class CaseFacts:
    """What sla knows of a case: from routing's and intake's events, and claims' money (for the KPIs)."""

    case_id: str
    kind: str | None = None
    priority: str = "normal"
    channel: str | None = None
    complaint: bool = False
    customer_contact: bool = False
    holder: str | None = None
    holder_level: str | None = None
    assigned_at: float = 0.0
    received_at: float | None = None
    episode: int = 0
    paused_since: float | None = None
    opened_at: float | None = None
    resolved_at: float | None = None
    result: str | None = None
    closed_at: float | None = None
    repeat_contacts: int = 0
    reopens: int = 0
    satisfaction: int | None = None
    satisfaction_at: float | None = None
    payouts: dict[str, tuple[int, str]] = field(default_factory=dict)
    clock_ids: list[str] = field(default_factory=list)

    @property
    def subject(self) -> Subject:
        return Subject(self.kind or "inquiry", self.priority, self.channel, self.complaint, self.customer_contact)


@dataclass(frozen=True)
class Chargeback:
    """Money charged back to a station (negative when reversed), from claims."""

    entry_id: str
    case_id: str
    station: str
    amount_minor: int
    currency: str
    at: float
    kind: str | None


@dataclass(frozen=True)
class Cause:
    """The input being applied: its id and correlation, and the service's clock when it is handled."""

    event_id: str
    correlation_id: str
    now: float


@dataclass(frozen=True)
class Emitted:
    clock: Clock
    decision: Decision
    at: float


class CaseClocks:
    def __init__(
        self, facts: CaseFacts, clocks: dict[str, Clock], rules: Rules, prices: QaPrices, cause: Cause
    ) -> None:
        self.facts = facts
        self.clocks = clocks
        self.rules = rules
        self.prices = prices
        self.cause = cause
        self.signals: list[Emitted] = []
        self.charges: list[QaEntry] = []
        self.reversals: list[QaEntry] = []
        self.chargebacks: list[Chargeback] = []

    def catch_up(self, happened_at: float) -> None:
        """Decide what came due before the input happened, as its timers would have on time, before applying it:
        whether the timer loop or the input came first (the loop lags on a busy machine, after a restart, while
        a slot changes hands) then changes nothing, and the what-if replay, which fires on time, agrees."""
        until = min(happened_at, self.cause.now)
        for clock in self.clocks.values():
            if clock.due_at is not None and clock.due_at <= until:
                self._record(clock, clock.fire(self._time(clock), until), self.cause.now)

    # what intake says -----------------------------------------------------------------------------

    def opened(self, p: CaseOpenedPayload) -> None:
        f, at = self.facts, _ts(p.opened_at)
        f.kind, f.priority, f.channel, f.opened_at = p.kind.value, p.priority.value, p.channel.value, at
        f.complaint = f.complaint or p.complaint
        f.customer_contact = f.customer_contact or p.channel is not Channel.UPSTREAM
        for metric in CASE_METRICS:
            self._begin(metric, CASE_LEVEL, None, at, episode=0)

    def merged(self, p: CaseMergedPayload) -> None:
        """A repeat contact; a customer's contact on a system-detected case starts the callback clock; a
        complaint starts the 7-day answer clock."""
        f, at = self.facts, _ts(p.contact_at or p.merged_at)
        f.priority = p.priority.value
        f.repeat_contacts += p.repeat_contact
        if p.complaint and not f.complaint:
            f.complaint = True
            self._begin("complaint_answer", CASE_LEVEL, None, at, episode=0)
        if p.channel is not Channel.UPSTREAM and not f.customer_contact and f.resolved_at is None:
            # From when the customer called, not when intake merged it: a callback the station made after the
            # call answers it even when routing's record of it reached sla before intake's merge.
            f.customer_contact = True
            self._start_station_clocks(at)

    def reopened(self, p: CaseReopenedPayload) -> None:
        """A contact after closure reopened the case: back to its station with new clocks."""
        f = self.facts
        f.priority = p.priority.value
        if p.reopen_count <= f.reopens:
            return  # this reopening is already applied
        f.reopens, f.episode, f.paused_since = p.reopen_count, f.episode + 1, None
        f.resolved_at = f.closed_at = None  # open again; `result` keeps that it was resolved once
        self._start_station_clocks(_ts(p.reopened_at))

    def satisfaction_recorded(self, p: CaseSatisfactionRecordedPayload) -> None:
        at = _ts(p.answered_at)
        if self.facts.satisfaction_at is None or at >= self.facts.satisfaction_at:
            self.facts.satisfaction, self.facts.satisfaction_at = p.score, at

    # what routing decides -------------------------------------------------------------------------

    def escalated(self, p: CaseEscalatedPayload) -> None:
        """The first assignment starts the station's clocks; an escalation adds the supervisor's follow-up."""
        at = _ts(p.escalated_at)
        if self._assigned(p, p.holder, at) and p.trigger is not EscalationTrigger.INITIAL_ASSIGNMENT:
            self._oversee(p.supervisor or p.holder, p.level.value, at, p.trigger, p.trigger_ref)

    def transferred(self, p: CaseTransferredPayload) -> None:
        self._assigned(p, p.to_station, _ts(p.transferred_at))

    def _assigned(self, p: CaseEscalatedPayload | CaseTransferredPayload, holder: str, at: float) -> bool:
        """The case is (still) the holder's as of `at`: received, or reassigned by HQ. False for a stale one."""
        f = self.facts
        if at < f.assigned_at:
            return False  # older than the latest assignment known: a late replay
        self._learn(p.kind.value, p.priority.value, p.channel.value)
        if f.holder is None:
            self._receive(holder, p.level.value, at)
        elif holder != f.holder:
            self._reassign(holder, p.level.value, at)
        f.assigned_at = at
        return True

    def callback_logged(self, p: CaseCallbackLoggedPayload) -> None:
        """Only a callback that reached the customer and told the result is the 2-hour response."""
        if not p.counts_as_response:
            return
        at = _ts(p.at)
        if self.facts.holder in (None, p.station):
            level = self.facts.holder_level or p.level.value
            self._stop_or_remember("callback", level, at, Outcome.MET, p.station)
        self._customer_answered(at, [FOLLOW_UP, "email_acknowledgement"])

    def progress_noted(self, p: CaseStationActionPayload) -> None:
        at = _ts(p.at)
        self._customer_answered(at, [FOLLOW_UP])
        for clock in self._live(["customer_update"]):
            clock.restart(self._time(clock), at, paused=clock.state == State.PAUSED)

    def awaiting_customer(self, p: CaseStationActionPayload) -> None:
        if self.facts.paused_since is not None:
            return
        at = _ts(p.at)
        for clock in self._live():
            if self.rules.pauses(clock.metric):
                clock.pause(self._time(clock), at)
        self.facts.paused_since = at

    def customer_responded(self, p: CaseStationActionPayload) -> None:
        at = _ts(p.at)
        for clock in self._live():
            clock.resume(self._time(clock), at)
        self.facts.paused_since = None

    def resolved(self, p: CaseResolvedPayload) -> None:
        if p.result is ResolutionResult.PENDING:
            return
        f, at = self.facts, _ts(p.at)
        unresolved = p.result is ResolutionResult.UNRESOLVED
        f.kind, f.resolved_at, f.result = p.kind.value, at, p.result.value
        level = f.holder_level or p.level.value
        if clock_id(f.case_id, "resolution", level, f.episode) not in self.clocks:
            self._stop_or_remember(
                "resolution", level, at, Outcome.UNRESOLVED if unresolved else Outcome.MET, p.station
            )
        for clock in self._live():
            outcome = Outcome.UNRESOLVED if unresolved and clock.metric == "resolution" else Outcome.MET
            self._end(clock, at, outcome)

    def closed(self, p: CaseClosedPayload) -> None:
        at = _ts(p.closed_at)
        self.facts.closed_at = at
        for clock in self._live():
            self._end(clock, at, Outcome.CLOSED, can_meet=False)

    def note_refused(self, p: CaseNoteRefusedPayload) -> None:
        """A station's record held forbidden words (信息记录)."""
        reason = f"{p.field} refused: forbidden words"
        self._charge(p.station, QaDuty.RECORD, _ts(p.at), reason)

    def hq_ruled(self, p: CaseHqRuledPayload) -> None:
        """A rejection HQ overturned is shirking (推诿)."""
        if p.ruling is HqRuling.REJECTION_OVERTURNED:
            self._charge(p.station, QaDuty.SHIRKING, _ts(p.at), "rejection overturned by HQ")

    # what notify and claims report ----------------------------------------------------------------

    def notification_sent(self, p: NotificationPayload) -> None:
        """An e-mail to the customer acknowledges an e-mail contact; one that comes before case.opened (another
        topic) is remembered until the case is known."""
        if p.channel is not NotifyChannel.EMAIL:
            return
        at = _ts(p.at)
        if self.facts.opened_at is None:
            self._stop_or_remember("email_acknowledgement", CASE_LEVEL, at, Outcome.MET, None, episode=0)
        for clock in self._live(["email_acknowledgement"]):
            self._end(clock, at, Outcome.MET)

    def payout_issued(self, p: PayoutIssuedPayload) -> None:
        self.facts.payouts[p.payout_id] = (p.amount.amount_minor, p.amount.currency)

    def chargeback(self, p: ChargebackIssuedPayload | ChargebackReversedPayload) -> None:
        reversed_ = isinstance(p, ChargebackReversedPayload)
        at = _ts(p.reversed_at if isinstance(p, ChargebackReversedPayload) else p.issued_at)
        amount = -p.total.amount_minor if reversed_ else p.total.amount_minor
        entry_id = f"{p.chargeback_id}:{'reversed' if reversed_ else 'issued'}"
        self.chargebacks.append(
            Chargeback(entry_id, p.case_id, p.station, amount, p.total.currency, at, self.facts.kind)
        )

    # the clocks ----------------------------------------------------------------------------------

    def _learn(self, kind: str, priority: str, channel: str) -> None:
        f = self.facts
        f.kind, f.priority = kind, priority
        f.channel = f.channel or channel
        f.customer_contact = f.customer_contact or channel != Channel.UPSTREAM

    def _receive(self, holder: str, level: str, at: float) -> None:
        f = self.facts
        f.holder, f.holder_level = holder, level
        f.received_at = f.received_at if f.received_at is not None else at
        self._start_station_clocks(at)

    def _reassign(self, holder: str, level: str, at: float) -> None:
        """HQ gave the case to another station: the old station's clocks end, the new one's start afresh."""
        f = self.facts
        for clock in self._live(STATION_METRICS):
            if clock.episode == f.episode:
                self._end(clock, at, Outcome.REASSIGNED, can_meet=False)
        f.episode += 1
        f.holder, f.holder_level = holder, level
        self._start_station_clocks(at)

    def _start_station_clocks(self, at: float) -> None:
        f = self.facts
        if f.holder is None or f.holder_level is None:
            return  # not handed to a station yet: its assignment starts them
        for metric in STATION_METRICS:
            self._begin(metric, f.holder_level, f.holder, at, episode=f.episode)

    def _oversee(self, unit: str, level: str, at: float, trigger: EscalationTrigger, ref: str) -> None:
        if trigger is EscalationTrigger.SLA_BREACH and any(c.withdrawn for c in self._caused(ref)):
            return  # the breach behind this escalation was withdrawn: no follow-up is owed for it
        self._begin(FOLLOW_UP, level, unit, at, episode=self.facts.episode, cause_ref=ref)

    def _caused(self, ref: str) -> list[Clock]:
        """The clocks a breach reference names: routing's "metric:level" key, or the breach's event id."""
        episode = self.facts.episode
        return [
            c
            for c in self.clocks.values()
            if c.episode == episode and ref in (f"{c.metric}:{c.level}", c.event_id(Signal.BREACHED))
        ]

    def _begin(
        self, metric: str, level: str, unit: str | None, at: float, *, episode: int, cause_ref: str | None = None
    ) -> None:
        target = self.rules.target(metric, self.facts.subject, level, unit)
        if target is None:
            return
        time = self.rules.working_time(target.calendar)
        paused = self.facts.paused_since is not None and self.rules.pauses(metric)
        clock = self.clocks.get(clock_id(self.facts.case_id, metric, level, episode))
        if clock is None:
            clock = self._new(metric, level, unit, at, episode)
            self._aim(clock, target, unit, cause_ref)
            clock.start(time, at, paused=paused)
        elif clock.state == State.STOP_FIRST:
            self._aim(clock, target, unit, cause_ref)
            self._record(clock, clock.start_after_stop(time, at), at)
        elif metric == FOLLOW_UP and not clock.live:  # oversight at this level again (a new trigger)
            self._aim(clock, target, unit, cause_ref)
            clock.restart(time, at, paused=paused)

    def _new(self, metric: str, level: str, unit: str | None, at: float, episode: int) -> Clock:
        s = self.facts.subject
        clock = Clock(
            case_id=self.facts.case_id,
            metric=metric,
            level=level,
            kind=s.kind,
            priority=s.priority,
            channel=s.channel,
            station=unit,
            target_s=1,
            warning_s=1,
            calendar=None,
            policy_version=self.rules.version,
            started_at=at,
            episode=episode,
            correlation_id=self.cause.correlation_id,
        )
        self.clocks[clock.id] = clock
        self.facts.clock_ids.append(clock.id)
        return clock

    def _aim(self, clock: Clock, target: Target, unit: str | None, cause_ref: str | None) -> None:
        s = self.facts.subject
        clock.station, clock.kind, clock.priority, clock.channel = unit, s.kind, s.priority, s.channel
        clock.target_s, clock.warning_s, clock.lateness_s = (
            target.seconds,
            target.warning_seconds,
            target.lateness_seconds,
        )
        clock.calendar, clock.policy_version, clock.cause_ref = target.calendar, self.rules.version, cause_ref

    def _stop_or_remember(
        self, metric: str, level: str, at: float, outcome: Outcome, station: str | None, *, episode: int | None = None
    ) -> None:
        """Stop the clock; if its start has not arrived yet, remember the stop (out of order)."""
        episode = self.facts.episode if episode is None else episode
        clock = self.clocks.get(clock_id(self.facts.case_id, metric, level, episode))
        if clock is None:
            self._new(metric, level, station, at, episode).stop_first(at, outcome)
        else:
            self._end(clock, at, outcome)

    def _customer_answered(self, at: float, metrics: list[str]) -> None:
        for clock in self._live(metrics):
            if clock.started_at <= at:
                self._end(clock, at, Outcome.MET)

    def _end(self, clock: Clock, at: float, outcome: Outcome, *, can_meet: bool = True) -> None:
        self._record(clock, clock.stop(self._time(clock), at, outcome, can_meet=can_meet), at)

    def _record(self, clock: Clock, decisions: list[Decision], at: float) -> None:
        for decision in decisions:
            if decision.signal == Signal.WITHDRAWN:
                self.signals.append(Emitted(clock, decision, self.cause.now))
                self._withdrawn(clock)
                continue
            self.signals.append(Emitted(clock, decision, at))
            if decision.signal == Signal.BREACHED and (entry := charge_breach(clock, decision, self.prices)):
                self.charges.append(entry)

    def _withdrawn(self, clock: Clock) -> None:
        """A withdrawn breach gives its points back and cancels the follow-up of the escalation it caused."""
        if entry := reverse_breach(clock, self.cause.now):
            self.reversals.append(entry)
        refs = {f"{clock.metric}:{clock.level}", clock.event_id(Signal.BREACHED)}
        for follow_up in self._live([FOLLOW_UP]):
            if follow_up.cause_ref in refs:
                follow_up.cancel(self.cause.now)

    def _charge(self, station: str, duty: QaDuty, at: float, reason: str) -> None:
        entry = charge_duty(
            self.prices,
            case_id=self.facts.case_id,
            station=station,
            duty=duty.value,
            cause_event_id=self.cause.event_id,
            at=at,
            reason=reason,
            kind=self.facts.kind,
        )
        if entry is not None:
            self.charges.append(entry)

    def _live(self, metrics: Iterable[str] | None = None) -> list[Clock]:
        wanted = None if metrics is None else set(metrics)
        return [c for c in self.clocks.values() if c.live and (wanted is None or c.metric in wanted)]

    def _time(self, clock: Clock) -> WorkingTime:
        return self.rules.working_time(clock.calendar)
