"""What station systems report about the cases they hold (topic stations.updates, keyed by case id)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from .common import (
    CaseId,
    Contract,
    Identifier,
    Money,
    ShortText,
    StationCode,
    Text,
    UtcDateTime,
    WaybillNo,
    WholeNumber,
)
from .envelope import Event


class StationUpdatePayload(Contract):
    case_id: CaseId
    station: StationCode = Field(description="The station reporting; must hold the case")
    agent_id: Identifier | None = Field(default=None, description="工号 of the agent at the station")
    at: UtcDateTime = Field(description="When the station did it")
    note: Text = ""


class StationAcknowledged(Event):
    type: Literal["station.acknowledged"] = "station.acknowledged"
    payload: StationUpdatePayload


class CallbackOutcome(StrEnum):
    REACHED = "reached"
    NOT_REACHED = "not_reached"


class CallbackPayload(StationUpdatePayload):
    outcome: CallbackOutcome = CallbackOutcome.REACHED


class StationCalledBack(Event):
    """The station called the customer back (the 2-hour target)."""

    type: Literal["station.called_back"] = "station.called_back"
    payload: CallbackPayload


class ProgressPayload(StationUpdatePayload):
    awaiting_customer: bool = Field(default=False, description="The case now waits on the customer (SLA clocks pause)")


class StationProgressNoted(Event):
    type: Literal["station.progress_noted"] = "station.progress_noted"
    payload: ProgressPayload


class ResolutionProposedPayload(StationUpdatePayload):
    solution: Text


class StationResolutionProposed(Event):
    type: Literal["station.resolution_proposed"] = "station.resolution_proposed"
    payload: ResolutionProposedPayload


class ResolutionResult(StrEnum):
    RESOLVED = "resolved"
    PENDING = "pending"
    UNRESOLVED = "unresolved"


class ResolvedPayload(StationUpdatePayload):
    result: ResolutionResult
    reason: Text = Field(default="", description="Required when the result is unresolved")
    solution: Text = ""
    satisfaction: Annotated[int, Field(ge=1, le=5), WholeNumber] | None = Field(
        default=None, description="Customer score 1-5"
    )


class StationResolved(Event):
    type: Literal["station.resolved"] = "station.resolved"
    payload: ResolvedPayload


class TransferRequestedPayload(StationUpdatePayload):
    to_station: StationCode | None = Field(default=None, description="Covering station, if the requester knows it")
    reason: ShortText


class StationTransferRequested(Event):
    """The station says the case is not its own (e.g. out of area, 超区)."""

    type: Literal["station.transfer_requested"] = "station.transfer_requested"
    payload: TransferRequestedPayload


class RejectedPayload(StationUpdatePayload):
    reason: ShortText


class StationRejected(Event):
    type: Literal["station.rejected"] = "station.rejected"
    payload: RejectedPayload


class EscalationRequestedPayload(StationUpdatePayload):
    reason: ShortText


class EscalationRequested(Event):
    """An explicit request (station, supervisor or HQ agent) to move a case one level up."""

    type: Literal["station.escalation_requested"] = "station.escalation_requested"
    payload: EscalationRequestedPayload


class ArbitrationDeclaredPayload(StationUpdatePayload):
    waybill_no: WaybillNo
    liable_station: StationCode = Field(description="The station held liable (责任网点)")
    amount_claimed: Money
    proof_refs: list[Identifier] = Field(default_factory=list, max_length=50)


class ArbitrationDeclared(Event):
    """A station files an arbitration declaration (网点仲裁申报) against another station."""

    type: Literal["station.arbitration_declared"] = "station.arbitration_declared"
    payload: ArbitrationDeclaredPayload
