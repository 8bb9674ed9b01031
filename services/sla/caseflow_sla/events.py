"""Outgoing SLA events: one deterministic id per (case, metric, level, signal), so a re-emission is the same event."""

from __future__ import annotations

from datetime import UTC, datetime

from caseflow_contracts import Event, deterministic_id
from caseflow_contracts.common import CaseKind, Channel, LadderLevel, Priority
from caseflow_contracts.sla import SlaBreached, SlaClockPayload, SlaMet, SlaMetric, SlaWarning

from .domain import Clock, Decision, Signal

MODELS: dict[Signal, type[SlaWarning | SlaBreached | SlaMet]] = {
    Signal.WARNING: SlaWarning,
    Signal.BREACHED: SlaBreached,
    Signal.MET: SlaMet,
}


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def sla_event(clock: Clock, decision: Decision, *, at: float, producer: str, cause: Event | None) -> Event:
    payload = SlaClockPayload(
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
    model = MODELS[decision.signal]
    return model.create(
        payload,
        key=clock.case_id,
        producer=producer,
        cause=cause,
        correlation_id=None if cause else clock.extra.get("correlation_id"),
        event_id=deterministic_id(clock.case_id, clock.metric, clock.level, decision.signal.value),
        occurred_at=_utc(at),
    )
