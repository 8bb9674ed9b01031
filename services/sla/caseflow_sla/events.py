"""Outgoing events built from the domain's results: SLA signals, withdrawals and QA scorecard lines.

Ids are deterministic (the clock's (case, metric, level, episode, signal); the QA line's cause and duty),
so whoever emits one again, after a crash or a race between replicas, emits the same event.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from caseflow_contracts import Event
from caseflow_contracts.common import CaseKind, Channel, LadderLevel, Priority
from caseflow_contracts.qa import QaDuty, QaPointsCharged, QaPointsPayload, QaPointsReversed
from caseflow_contracts.sla import (
    SlaBreached,
    SlaBreachWithdrawn,
    SlaBreachWithdrawnPayload,
    SlaClockPayload,
    SlaMet,
    SlaMetric,
    SlaWarning,
)
from caseflow_kit.uow import UnitOfWork

from .domain import Clock, Decision, Emitted, QaEntry, Signal

MODELS: dict[Signal, type[SlaWarning | SlaBreached | SlaMet]] = {
    Signal.WARNING: SlaWarning,
    Signal.BREACHED: SlaBreached,
    Signal.MET: SlaMet,
}


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _clock_fields(clock: Clock, decision: Decision) -> SlaClockPayload:
    return SlaClockPayload(
        case_id=clock.case_id,
        metric=SlaMetric(clock.metric),
        level=LadderLevel(clock.level),
        station=clock.station,
        kind=CaseKind(clock.kind),
        priority=Priority(clock.priority),
        channel=Channel(clock.channel) if clock.channel else None,
        target_seconds=clock.target_s,
        elapsed_seconds=max(0, decision.elapsed),
        started_at=_utc(clock.started_at),
        deadline_at=_utc(decision.deadline_at),
        business_hours=clock.calendar is not None,
        policy_version=clock.policy_version,
    )


def sla_event(emitted: Emitted, *, producer: str, cause: Event | None) -> Event:
    clock, decision, at = emitted.clock, emitted.decision, emitted.at
    payload: SlaClockPayload = _clock_fields(clock, decision)
    model: type[Event]
    if decision.signal == Signal.WITHDRAWN:
        stopped = _utc(decision.stopped_at if decision.stopped_at is not None else at)
        model = SlaBreachWithdrawn
        payload = SlaBreachWithdrawnPayload(
            **payload.model_dump(),
            breach_event_id=clock.event_id(Signal.BREACHED),
            stopped_at=stopped,
            reason=f"stopped ({clock.outcome}) at {stopped.isoformat()}, before the deadline; it reached sla late",
            withdrawn_at=_utc(at),
        )
    else:
        model = MODELS[decision.signal]
    return model.create(
        payload,
        key=clock.case_id,
        producer=producer,
        cause=cause,
        correlation_id=None if cause else clock.correlation_id,
        event_id=clock.event_id(decision.signal),
        occurred_at=_utc(at),
    )


def qa_event(entry: QaEntry, *, producer: str, cause: Event | None, at: float) -> Event:
    payload = QaPointsPayload(
        case_id=entry.case_id,
        station=entry.station,
        duty=QaDuty(entry.duty),
        points=entry.points,
        period=entry.period,
        cause_event_id=entry.cause_event_id,
        metric=SlaMetric(entry.metric) if entry.metric else None,
        reason=entry.reason,
        at=_utc(entry.at),
        policy_version=entry.table_version,
    )
    reversed_ = entry.reversed_at is not None
    model = QaPointsReversed if reversed_ else QaPointsCharged
    return model.create(
        payload,
        key=entry.case_id,
        producer=producer,
        cause=cause,
        event_id=entry.reversal_id if reversed_ else entry.entry_id,
        occurred_at=_utc(entry.reversed_at if entry.reversed_at is not None else at),
    )


def emit(
    uow: UnitOfWork,
    signals: Sequence[Emitted],
    entries: Sequence[QaEntry],
    *,
    producer: str,
    cause: Event | None,
    at: float,
) -> None:
    """SLA signals first, then the scorecard lines they caused, all in the unit of work's outbox."""
    for emitted in signals:
        uow.emit(sla_event(emitted, producer=producer, cause=cause))
    for entry in entries:
        uow.emit(qa_event(entry, producer=producer, cause=cause, at=at))
