"""What upstream order, logistics and contact systems publish to caseflow."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import ConfigDict, Field, model_validator

from .common import (
    STRICT,
    Area,
    CaseId,
    Channel,
    Claimant,
    Contract,
    Identifier,
    LanguageTag,
    Money,
    ShortText,
    StationCode,
    Text,
    TimeZoneName,
    UtcDateTime,
    WaybillNo,
    WholeNumber,
)
from .envelope import Event

Phone = Annotated[str, Field(min_length=5, max_length=20, pattern=r"^\+?[0-9][0-9 \-]{3,18}$")]
Email = Annotated[str, Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]


class Address(Contract):
    """A postal address. The street line is personal data; the area is not."""

    area: Area
    street: Annotated[str, Field(max_length=300)] = Field(
        default="", description="Street, building, room: personal data"
    )


class Customer(Contract):
    """The customer as upstream knows them: plain personal data, read only by intake."""

    customer_id: Identifier | None = Field(default=None, description="Upstream's stable customer id, if any")
    name: ShortText | None = None
    phone: Phone | None = None
    email: Email | None = None
    address: Address | None = None
    id_number: Annotated[str, Field(max_length=32)] | None = Field(
        default=None, description="National ID: never leaves intake in clear"
    )
    vip: bool = False
    language: LanguageTag = "zh-CN"
    time_zone: TimeZoneName = "Asia/Shanghai"


class ExceptionKind(StrEnum):
    DELAY = "delay"
    DAMAGE = "damage"
    SHORTAGE = "shortage"
    LOSS = "loss"
    WRONG_CONTENTS = "wrong_contents"
    MISROUTE = "misroute"
    OUT_OF_AREA = "out_of_area"
    RETURN = "return"
    PROBLEM_PARCEL = "problem_parcel"


class ParcelExceptionPayload(Contract):
    source_system: Identifier = Field(description="Upstream system that saw the exception")
    source_event_id: Identifier = Field(description="Upstream's id of this exception; intake de-duplicates on it")
    waybill_no: WaybillNo
    exception_kind: ExceptionKind
    problem_code: ShortText | None = Field(
        default=None, description="Problem-parcel type from the network list, e.g. 地址不详"
    )
    origin_station: StationCode | None = None
    current_station: StationCode | None = Field(default=None, description="Station of the last scan")
    destination_station: StationCode | None = None
    scanned_at: UtcDateTime = Field(description="Time of the scan that revealed the exception")
    declared_value: Money | None = Field(default=None, description="Value declared by the sender")
    insured: bool = Field(default=False, description="Whether the parcel is insured (保价)")
    freight: Money | None = Field(default=None, description="Freight paid for this shipment")
    order_amount: Money | None = Field(default=None, description="Amount of the e-commerce order")
    platform: ShortText | None = Field(default=None, description="E-commerce platform name")
    platform_order_id: Identifier | None = None
    customer: Customer
    shipping_address: Address | None = None
    billing_address: Address | None = None
    cross_border: bool = False
    description: Text = ""


class ParcelExceptionReported(Event):
    """An upstream order or logistics system saw something go wrong with a parcel."""

    KEY_FIELDS: ClassVar[tuple[str, ...]] = ("waybill_no",)

    type: Literal["parcel.exception_reported"] = "parcel.exception_reported"
    payload: ParcelExceptionPayload


class ContactCategory(StrEnum):
    INQUIRY = "inquiry"
    COMPLAINT = "complaint"
    CLAIM_REQUEST = "claim_request"
    SUGGESTION = "suggestion"
    REGULATOR_APPEAL = "regulator_appeal"
    SIGNED_NOT_RECEIVED = "signed_not_received"  # the parcel shows as signed for, the customer has nothing (1.2)


class SaleStage(StrEnum):
    PRE_SALE = "pre_sale"
    IN_SALE = "in_sale"
    AFTER_SALE = "after_sale"


#: The rule of CustomerContactPayload._needs_a_reference, as the published schema states it.
NEEDS_A_REFERENCE: dict[str, Any] = {
    "anyOf": [
        {"required": ["waybill_no"], "properties": {"waybill_no": {"type": "string"}}},
        {"required": ["platform_order_id"], "properties": {"platform_order_id": {"type": "string"}}},
        {"properties": {"category": {"const": ContactCategory.SUGGESTION.value}}},
    ]
}


class CustomerContactPayload(Contract):
    model_config = ConfigDict(**STRICT, json_schema_extra=NEEDS_A_REFERENCE)

    source_system: Identifier
    source_id: Identifier = Field(description="Id of the contact in the source channel system")
    channel: Channel
    category: ContactCategory
    sale_stage: SaleStage | None = Field(default=None, description="For platform contacts: pre-, in- or after-sale")
    after_sale_type: Literal["return", "exchange", "refund", "payment"] | None = None
    customer: Customer
    waybill_no: WaybillNo | None = None
    platform: ShortText | None = None
    platform_order_id: Identifier | None = None
    text: Text = Field(default="", description="What the customer said; may contain personal data")
    language: LanguageTag = "zh-CN"
    received_at: UtcDateTime
    claimant: Claimant | None = Field(
        default=None, description="A contact asking for compensation: who claims and how to pay (1.2)"
    )
    evidence_refs: list[Identifier] = Field(
        default_factory=list,
        max_length=50,
        description="Evidence in the evidence store: signature scan, photos (1.2); never the content",
    )

    @model_validator(mode="after")
    def _needs_a_reference(self) -> CustomerContactPayload:
        if (
            self.waybill_no is None
            and self.platform_order_id is None
            and self.category is not ContactCategory.SUGGESTION
        ):
            raise ValueError("a contact needs a waybill_no or a platform_order_id")
        return self


class CustomerContacted(Event):
    """A customer reached the network by phone, IM, e-mail, form, app, social or self-service."""

    MINOR: ClassVar[int] = 2
    KEY_FIELDS: ClassVar[tuple[str, ...]] = ("waybill_no", "platform_order_id", "source_id")

    type: Literal["customer.contacted"] = "customer.contacted"
    payload: CustomerContactPayload


class SatisfactionAnswerPayload(Contract):
    """A customer's answer to the satisfaction question (an SMS keyword reply, an e-mail reply, a platform's
    survey webhook), keyed by the case the question was about."""

    source_system: Identifier = Field(description="The channel system that received the answer")
    source_id: Identifier = Field(description="Id of the answer in that system; intake de-duplicates on it")
    channel: Channel
    case_id: CaseId
    score: Annotated[int, Field(ge=1, le=5), WholeNumber] = Field(description="1 (very unhappy) to 5 (very happy)")
    comment: Text = Field(default="", description="The customer's words; may contain personal data")
    answered_at: UtcDateTime


class SatisfactionAnswered(Event):
    """A customer answered the satisfaction question about a case (1.2)."""

    MINOR: ClassVar[int] = 2
    KEY_FIELDS: ClassVar[tuple[str, ...]] = ("case_id",)

    type: Literal["customer.satisfaction_answered"] = "customer.satisfaction_answered"
    payload: SatisfactionAnswerPayload
