"""SLA events. sla.breached goes to the monitoring topic sla.breaches; its schema is
a public, versioned promise to consumers in any language and carries no personal data."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar, Literal

from pydantic import Field

from .common import (
    CaseId,
    CaseKind,
    Channel,
    Contract,
    Identifier,
    Integer,
    LadderLevel,
    Priority,
    StationCode,
    Text,
    UtcDateTime,
)
from .envelope import Event


class SlaMetric(StrEnum):
    CALLBACK = "callback"
    RESOLUTION = "resolution"
    CUSTOMER_UPDATE = "customer_update"
    ESCALATION_FOLLOW_UP = "escalation_follow_up"
    EMAIL_ACKNOWLEDGEMENT = "email_acknowledgement"
    COMPLAINT_ANSWER = "complaint_answer"


class SlaClockPayload(Contract):
    case_id: CaseId
    metric: SlaMetric
    level: LadderLevel = Field(description="Ladder level the clock belongs to")
    station: StationCode | None = Field(default=None, description="Holder the clock runs against")
    kind: CaseKind
    priority: Priority
    channel: Channel | None = None
    target_seconds: Integer = Field(
        gt=0, description="The target, in counted seconds (working time if a calendar applies)"
    )
    elapsed_seconds: Integer = Field(ge=0, description="Counted seconds when the event was decided")
    started_at: UtcDateTime
    deadline_at: UtcDateTime = Field(description="When the target is (or was) reached, in wall-clock time")
    business_hours: bool = Field(default=False, description="Whether the clock counts working time only")
    policy_version: str = Field(max_length=64)


class SlaWarning(Event):
    """A clock passed the warning fraction (default 80 %) of its target."""

    type: Literal["sla.warning"] = "sla.warning"
    payload: SlaClockPayload


class SlaBreached(Event):
    """A clock passed its target: once per clock (a case's metric at a level from its `started_at`; a reopened case's new clocks can breach afresh)."""

    type: Literal["sla.breached"] = "sla.breached"
    payload: SlaClockPayload


class SlaMet(Event):
    """A clock stopped within its target."""

    type: Literal["sla.met"] = "sla.met"
    payload: SlaClockPayload


class SlaBreachWithdrawnPayload(SlaClockPayload):
    breach_event_id: Identifier = Field(description="The sla.breached event this withdraws")
    stopped_at: UtcDateTime = Field(description="When what stopped the clock happened: before the deadline")
    reason: Text = Field(description="Why the breach no longer stands")
    withdrawn_at: UtcDateTime


class SlaBreachWithdrawn(Event):
    """A breach disproved after it went out (1.2): what stopped the clock reached the suite before the deadline,
    and the suite's own lag delayed it. Monitoring sees either no breach, or a breach and its withdrawal."""

    MINOR: ClassVar[int] = 2

    type: Literal["sla.breach_withdrawn"] = "sla.breach_withdrawn"
    payload: SlaBreachWithdrawnPayload
