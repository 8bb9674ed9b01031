"""What station systems report about the cases they hold (topic stations.updates, keyed by case id)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar, Literal

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
    result: Text = Field(
        default="",
        description="What the customer was told (1.2): the 2-hour response counts only when they were reached"
        " and told the result",
    )


class StationCalledBack(Event):
    """The station called the customer back (the 2-hour target)."""

    MINOR: ClassVar[int] = 2

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


class CaseRecord(Contract):
    """The case record a resolution completes (seed 002 section 3), beyond result and solution (1.2)."""

    solution_owner: ShortText | None = Field(default=None, description="Who carries the solution out (a role or unit)")
    solution_due_at: UtcDateTime | None = Field(default=None, description="When the solution is due")
    fault_type: ShortText | None = Field(default=None, description="Fault-report type (故障报告类型)")
    agent_name: ShortText | None = Field(default=None, description="The agent's name as shown to the customer")
    evaluation: Text = Field(default="", description="The agent's written evaluation of the case")


class ResolvedPayload(StationUpdatePayload):
    result: ResolutionResult
    reason: Text = Field(default="", description="Required when the result is unresolved")
    solution: Text = ""
    satisfaction: Annotated[int, Field(ge=1, le=5), WholeNumber] | None = Field(
        default=None,
        description="Kept for 1.0 producers; the customer's own answer (customer.satisfaction_answered) counts",
    )
    record: CaseRecord = Field(default_factory=CaseRecord, description="The rest of the case record (1.2)")


class StationResolved(Event):
    MINOR: ClassVar[int] = 2

    type: Literal["station.resolved"] = "station.resolved"
    payload: ResolvedPayload


class TransferRequestedPayload(StationUpdatePayload):
    to_station: StationCode | None = Field(default=None, description="Covering station, if the requester knows it")
    reason: ShortText
    reason_code: Identifier | None = Field(
        default=None, description="Code from routing's list of accepted reasons (1.2); none: refused"
    )


class StationTransferRequested(Event):
    """The station says the case is not its own (e.g. out of area, 超区): only HQ reassigns it."""

    MINOR: ClassVar[int] = 2

    type: Literal["station.transfer_requested"] = "station.transfer_requested"
    payload: TransferRequestedPayload


class RejectedPayload(StationUpdatePayload):
    reason: ShortText
    reason_code: Identifier | None = Field(
        default=None, description="Code from routing's list of accepted reasons (1.2); none: refused"
    )


class StationRejected(Event):
    MINOR: ClassVar[int] = 2

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


class HqRuling(StrEnum):
    REJECTION_UPHELD = "rejection_upheld"
    REJECTION_OVERTURNED = "rejection_overturned"  # the station was shirking (推诿)
    TRANSFER_APPROVED = "transfer_approved"
    TRANSFER_DENIED = "transfer_denied"


class HqRulingPayload(StationUpdatePayload):
    """HQ's decision on a station's rejection or transfer request; `station` is the HQ desk."""

    ruling: HqRuling
    about_station: StationCode = Field(description="The station whose request is ruled on")
    to_station: StationCode | None = Field(default=None, description="Where HQ reassigns the case, if it does")
    reason: ShortText


class StationHqRuled(Event):
    """HQ ruled on a rejection or transfer request (1.2): only HQ reassigns a case to another station."""

    MINOR: ClassVar[int] = 2

    type: Literal["station.hq_ruled"] = "station.hq_ruled"
    payload: HqRulingPayload
