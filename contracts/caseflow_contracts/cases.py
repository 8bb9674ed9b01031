"""Case lifecycle events (topic cases.lifecycle, keyed by case id).

intake owns creation and merging; routing owns assignment, escalation,
callbacks and resolution.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from .common import (
    Area,
    CaseId,
    CaseKind,
    Channel,
    Contract,
    Identifier,
    Integer,
    LadderLevel,
    LanguageTag,
    Money,
    Priority,
    SealedContact,
    ShortText,
    StationCode,
    Text,
    UtcDateTime,
    WaybillNo,
    WholeNumber,
)
from .envelope import Event
from .stations import CallbackOutcome, ResolutionResult
from .upstream import ContactCategory, ExceptionKind, SaleStage


class FraudFlag(StrEnum):
    HIGH_ORDER_AMOUNT = "high_order_amount"
    ADDRESS_MISMATCH = "address_mismatch"
    FREQUENT_CLAIMANT = "frequent_claimant"
    SIGNED_FOR = "signed_for"


class StationHint(Contract):
    """Where intake thinks the case belongs, and why; routing decides."""

    station: StationCode | None = None
    reason: ShortText = Field(description="e.g. destination station of a delayed parcel")


class ParcelFacts(Contract):
    """What claims needs to assess compensation."""

    exception_kind: ExceptionKind | None = None
    problem_code: ShortText | None = None
    origin_station: StationCode | None = None
    current_station: StationCode | None = None
    destination_station: StationCode | None = None
    scanned_at: UtcDateTime | None = None
    declared_value: Money | None = None
    insured: bool = False
    freight: Money | None = None
    order_amount: Money | None = None


class CaseOpenedPayload(Contract):
    case_id: CaseId
    kind: CaseKind
    priority: Priority
    priority_reasons: list[ShortText] = Field(default_factory=list, max_length=20)
    channel: Channel = Field(description="Where the case came from; upstream for parcel exceptions")
    category: ContactCategory | None = None
    sale_stage: SaleStage | None = None
    waybill_no: WaybillNo | None = None
    platform: ShortText | None = None
    platform_order_id: Identifier | None = None
    language: LanguageTag
    cross_border: bool = False
    area: Area | None = Field(default=None, description="Delivery area, for coverage routing")
    station_hint: StationHint
    customer: SealedContact
    customer_ref: Identifier = Field(
        description="Pseudonymous customer id (keyed hash): counts claims without personal data"
    )
    vip: bool = False
    fraud_flags: list[FraudFlag] = Field(default_factory=list, max_length=10)
    parcel: ParcelFacts = Field(default_factory=ParcelFacts)
    summary: Text = Field(default="", description="The customer's words with personal data scrubbed")
    linked_case_id: CaseId | None = Field(default=None, description="A closed case this one follows up")
    opened_at: UtcDateTime
    rules_version: ShortText = Field(description="Version of the intake rules that classified it")


class CaseOpened(Event):
    type: Literal["case.opened"] = "case.opened"
    payload: CaseOpenedPayload


class CaseMergedPayload(Contract):
    case_id: CaseId
    source_event_id: Identifier = Field(description="The exception or contact merged into the case")
    channel: Channel
    repeat_contacts: Integer = Field(ge=0, description="Customer contacts after the first")
    priority: Priority
    priority_raised: bool
    repeat_contact: bool = Field(description="True when a customer contacted again (an escalation trigger)")
    summary: Text = ""
    merged_at: UtcDateTime


class CaseMerged(Event):
    type: Literal["case.merged"] = "case.merged"
    payload: CaseMergedPayload


class CaseReopenedPayload(Contract):
    case_id: CaseId
    source_event_id: Identifier
    reopen_count: Integer = Field(ge=1)
    priority: Priority
    summary: Text = ""
    reopened_at: UtcDateTime


class CaseReopened(Event):
    type: Literal["case.reopened"] = "case.reopened"
    payload: CaseReopenedPayload


class EscalationTrigger(StrEnum):
    INITIAL_ASSIGNMENT = "initial_assignment"
    SLA_BREACH = "sla_breach"
    STATION_REJECTION = "station_rejection"
    TRANSFER_REQUEST = "transfer_request"
    REPEAT_CONTACT = "repeat_contact"
    EXPLICIT_REQUEST = "explicit_request"
    REOPENED = "reopened"


class CaseEscalatedPayload(Contract):
    """The case was handed to a holder at a ladder level (the first assignment included)."""

    case_id: CaseId
    holder: StationCode = Field(description="Station, hub, centre or HQ desk now holding the case")
    level: LadderLevel
    previous_holder: StationCode | None = None
    previous_level: LadderLevel | None = None
    trigger: EscalationTrigger
    trigger_ref: Identifier = Field(description="Id of what triggered it; each trigger moves a case at most once")
    reason: Text = Field(description="Why this holder: the routing decision explained")
    kind: CaseKind
    priority: Priority
    channel: Channel
    escalated_at: UtcDateTime


class CaseEscalated(Event):
    type: Literal["case.escalated"] = "case.escalated"
    payload: CaseEscalatedPayload


class CaseTransferredPayload(Contract):
    case_id: CaseId
    from_station: StationCode
    to_station: StationCode
    level: LadderLevel
    reason: Text
    kind: CaseKind
    priority: Priority
    channel: Channel
    transferred_at: UtcDateTime


class CaseTransferred(Event):
    """Out-of-area (超区) or misrouted case moved sideways to the covering station."""

    type: Literal["case.transferred"] = "case.transferred"
    payload: CaseTransferredPayload


class CaseStationActionPayload(Contract):
    case_id: CaseId
    station: StationCode
    level: LadderLevel
    agent_id: Identifier | None = None
    at: UtcDateTime
    note: Text = ""


class CaseAcknowledged(Event):
    type: Literal["case.acknowledged"] = "case.acknowledged"
    payload: CaseStationActionPayload


class CaseCallbackLoggedPayload(CaseStationActionPayload):
    outcome: CallbackOutcome


class CaseCallbackLogged(Event):
    """The holder called the customer back: stops the callback clock."""

    type: Literal["case.callback_logged"] = "case.callback_logged"
    payload: CaseCallbackLoggedPayload


class CaseProgressNoted(Event):
    """A progress update the customer should hear about (restarts the periodic-update clock)."""

    type: Literal["case.progress_noted"] = "case.progress_noted"
    payload: CaseStationActionPayload


class CaseAwaitingCustomer(Event):
    """The case waits on the customer: SLA clocks pause."""

    type: Literal["case.awaiting_customer"] = "case.awaiting_customer"
    payload: CaseStationActionPayload


class CaseCustomerResponded(Event):
    """The customer answered: paused SLA clocks resume."""

    type: Literal["case.customer_responded"] = "case.customer_responded"
    payload: CaseStationActionPayload


class CaseResolutionProposed(Event):
    type: Literal["case.resolution_proposed"] = "case.resolution_proposed"
    payload: CaseStationActionPayload


class CaseResolvedPayload(CaseStationActionPayload):
    result: ResolutionResult
    reason: Text = ""
    solution: Text = ""
    satisfaction: Annotated[int, Field(ge=1, le=5), WholeNumber] | None = None
    kind: CaseKind
    opened_at: UtcDateTime | None = None


class CaseResolved(Event):
    """The holder resolved the case: stops the resolution clock."""

    type: Literal["case.resolved"] = "case.resolved"
    payload: CaseResolvedPayload


class CaseClosedPayload(Contract):
    case_id: CaseId
    closed_at: UtcDateTime
    reason: ShortText


class CaseClosed(Event):
    type: Literal["case.closed"] = "case.closed"
    payload: CaseClosedPayload
