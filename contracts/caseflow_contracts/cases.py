"""Case lifecycle events (topic cases.lifecycle, keyed by case id).

intake owns creation and merging; routing owns assignment, escalation,
callbacks and resolution.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from .common import (
    Area,
    CaseId,
    CaseKind,
    Channel,
    Claimant,
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
from .stations import CallbackOutcome, CaseRecord, HqRuling, ResolutionResult
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
    complaint: bool = Field(
        default=False,
        description="The customer complains (1.2): a property apart from the kind; the 7-day answer clock runs",
    )
    claimant: Claimant | None = Field(
        default=None, description="Someone asks for compensation (1.2): claims decides only when someone asks"
    )
    evidence_refs: list[Identifier] = Field(
        default_factory=list, max_length=50, description="Evidence named by the contact (1.2): signature scan, photos"
    )


class CaseOpened(Event):
    MINOR: ClassVar[int] = 2

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
    complaint: bool = Field(default=False, description="This contact complains (1.2): the case becomes a complaint")
    claimant: Claimant | None = Field(default=None, description="This contact asks for compensation (1.2)")
    contact_at: UtcDateTime | None = Field(default=None, description="When the customer made the contact (1.2)")


class CaseMerged(Event):
    MINOR: ClassVar[int] = 2

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
    """The case was handed to its station (the first assignment), or oversight was added up the ladder.

    Since 1.2 an escalation adds a supervisor and leaves the case with its station: `holder` stays the
    station that must solve it, `level` is the level of oversight now and `supervisor` the unit at that
    level (none for the first assignment). A 1.0/1.1 producer sent the supervisor as the holder.
    """

    case_id: CaseId
    holder: StationCode = Field(description="The station that holds the case and must solve it")
    level: LadderLevel = Field(description="The ladder level of the case's oversight now")
    previous_holder: StationCode | None = None
    previous_level: LadderLevel | None = None
    trigger: EscalationTrigger
    trigger_ref: Identifier = Field(description="Id of what triggered it; each trigger moves a case at most once")
    reason: Text = Field(description="Why this holder: the routing decision explained")
    kind: CaseKind
    priority: Priority
    channel: Channel
    escalated_at: UtcDateTime
    supervisor: StationCode | None = Field(
        default=None, description="The hub, centre or HQ desk now supervising the case (1.2)"
    )


class CaseEscalated(Event):
    MINOR: ClassVar[int] = 2

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
    decided_by: Identifier | None = Field(
        default=None, description="HQ's desk, agent or rule that reassigned the case (1.2): only HQ reassigns"
    )


class CaseTransferred(Event):
    """Out-of-area (超区) or misrouted case moved sideways to the covering station, by HQ's decision."""

    MINOR: ClassVar[int] = 2

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
    result: Text = Field(default="", description="What the customer was told (1.2)")
    counts_as_response: bool = Field(
        default=True,
        description="The customer was reached and told the result (1.2): only such a callback stops the 2-hour"
        " clock; other attempts are logged and the clock runs on",
    )


class CaseCallbackLogged(Event):
    """The station called the customer: a response (stops the callback clock) or an attempt."""

    MINOR: ClassVar[int] = 2

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
    record: CaseRecord = Field(default_factory=CaseRecord, description="The rest of the case record (1.2)")


class CaseResolved(Event):
    """The holder resolved the case: stops the resolution clock."""

    MINOR: ClassVar[int] = 2

    type: Literal["case.resolved"] = "case.resolved"
    payload: CaseResolvedPayload


class CaseClosedPayload(Contract):
    case_id: CaseId
    closed_at: UtcDateTime
    reason: ShortText


class CaseClosed(Event):
    type: Literal["case.closed"] = "case.closed"
    payload: CaseClosedPayload


class CaseHqRuledPayload(Contract):
    case_id: CaseId
    station: StationCode = Field(description="The station whose rejection or transfer request was ruled on")
    ruling: HqRuling
    to_station: StationCode | None = Field(default=None, description="Where the case goes, if HQ reassigned it")
    decided_by: Identifier = Field(description="HQ's desk, agent or rule")
    reason: Text = ""
    at: UtcDateTime


class CaseHqRuled(Event):
    """HQ ruled on a station's rejection or transfer request (1.2); an overturned rejection is shirking (推诿)."""

    MINOR: ClassVar[int] = 2

    type: Literal["case.hq_ruled"] = "case.hq_ruled"
    payload: CaseHqRuledPayload


class CaseNoteRefusedPayload(Contract):
    case_id: CaseId
    station: StationCode
    agent_id: Identifier | None = None
    field: Literal["note", "solution", "result", "reason"] = Field(description="Which part of the update")
    words: list[ShortText] = Field(max_length=20, description="The forbidden words found")
    refused_event_id: Identifier = Field(description="The station's update that was refused")
    at: UtcDateTime


class CaseNoteRefused(Event):
    """A station's text was refused before it reached a customer: it holds forbidden words (1.2)."""

    MINOR: ClassVar[int] = 2

    type: Literal["case.note_refused"] = "case.note_refused"
    payload: CaseNoteRefusedPayload


class CaseContactAfterClosurePayload(Contract):
    case_id: CaseId
    source_event_id: Identifier = Field(description="The contact merged into the case after it closed")
    station: StationCode = Field(description="The station that held the case when it closed")
    closed_at: UtcDateTime
    contact_at: UtcDateTime | None = Field(default=None, description="When the customer made the contact")
    at: UtcDateTime


class CaseContactAfterClosure(Event):
    """routing, the owner of the case's state, found a merged contact on a closed case (1.2).

    intake learns of a close late; a contact it merged into a case that was already closed comes back as this
    event, and intake turns it into a reopening (within the window) or a linked follow-up case.
    """

    MINOR: ClassVar[int] = 2

    type: Literal["case.contact_after_closure"] = "case.contact_after_closure"
    payload: CaseContactAfterClosurePayload


class CaseSatisfactionRecordedPayload(Contract):
    case_id: CaseId
    score: Annotated[int, Field(ge=1, le=5), WholeNumber]
    channel: Channel
    comment: Text = Field(default="", description="The customer's words, personal data scrubbed")
    answered_at: UtcDateTime
    source_event_id: Identifier


class CaseSatisfactionRecorded(Event):
    """The customer's own answer to the satisfaction question, on the case (1.2): CSAT counts these."""

    MINOR: ClassVar[int] = 2

    type: Literal["case.satisfaction_recorded"] = "case.satisfaction_recorded"
    payload: CaseSatisfactionRecordedPayload
