"""Value types shared by every event: money, codes, enums, bounded strings."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    WithJsonSchema,
)

#: Validation is strict (no "12" for 12, no 1 for true) and tolerant of
#: unknown fields, so that a consumer on 1.x reads events of any later 1.y.
STRICT = ConfigDict(frozen=True, strict=True, extra="ignore", str_max_length=4000)


class Contract(BaseModel):
    """Base of every payload and value model."""

    model_config = STRICT


#: RFC 3339 date-time with its offset: the one form both this package and the JSON Schemas accept
#: (a schema's `format` is only an annotation for most validators, so the schemas carry this pattern too).
#: It also refuses what pydantic alone would take for a date-time: a bare number of seconds, no offset.
_YEAR = "([0-9]{3}[1-9]|[0-9]{2}[1-9][0-9]|[0-9][1-9][0-9]{2}|[1-9][0-9]{3})"  # 0001-9999, no look-ahead
_DAY = "(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
_TIME = "([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9]([.,][0-9]+)?)?"
_OFFSET = "([Zz]|[+-]([01][0-9]|2[0-3]):?[0-5][0-9])"
DATE_TIME_PATTERN = f"^{_YEAR}-{_DAY}[Tt ]{_TIME}{_OFFSET}$"
_DATE_TIME = re.compile(DATE_TIME_PATTERN)


def _rfc3339(value: object) -> object:
    """Only a datetime (from Python) or a string of the pattern reach pydantic's date-time parser."""
    if isinstance(value, datetime) or (isinstance(value, str) and _DATE_TIME.match(value)):
        return value
    raise ValueError("not an RFC 3339 date-time with an offset, e.g. 2026-11-24T08:00:00+08:00")


def _to_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        # 9999-12-31T23:59:59-01:00 is a valid date-time whose UTC instant is past year 9999.
        raise ValueError("date-time out of range once converted to UTC") from None


#: A moment in time: an offset is required (naive datetimes are rejected) and it is normalised to UTC.
UtcDateTime = Annotated[
    AwareDatetime,
    # Lax, because a before-validator hands its result on as Python input (strict would refuse a str);
    # _rfc3339 lets nothing but a datetime or a date-time string through.
    Strict(False),
    BeforeValidator(_rfc3339),
    AfterValidator(_to_utc),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": DATE_TIME_PATTERN}),
]


def _whole_number(value: object) -> object:
    """JSON has one number type: 1200.0 is the integer 1200 (as JSON Schema's "integer" says); 1200.5 is not."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: Makes an int field take an integer as JSON Schema defines one: a number without a fractional part.
#: Strict otherwise: "1200", true and 1200.5 are refused. Bounds go BEFORE it in an Annotated (in a union
#: pydantic cannot carry bounds given after a validator into the JSON Schema).
WholeNumber = BeforeValidator(_whole_number)
Integer = Annotated[int, WholeNumber]
ShortText = Annotated[str, Field(min_length=1, max_length=200)]
Text = Annotated[str, Field(max_length=4000)]
Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$")]
CaseId = Annotated[str, Field(pattern=r"^CF-[0-9A-Z]{6,40}$", description="Case number, e.g. CF-20261124K3ZQ5M7WQA")]
StationCode = Annotated[
    str, Field(min_length=2, max_length=32, pattern=r"^[A-Z0-9][A-Z0-9\-]*$", description="Station, hub or centre code")
]
WaybillNo = Annotated[
    str, Field(min_length=6, max_length=40, pattern=r"^[A-Za-z0-9\-]+$", description="Waybill (tracking) number")
]
LanguageTag = Annotated[
    str,
    Field(
        min_length=2,
        max_length=16,
        pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$",
        description="BCP 47 tag, e.g. zh-CN, en",
    ),
]
CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")]
TimeZoneName = Annotated[str, Field(min_length=1, max_length=64, description="IANA time zone, e.g. Asia/Shanghai")]


class Actor(Contract):
    """Who caused an event through a command: the verified caller of the HTTP edge, from their token."""

    subject: Identifier = Field(description="The caller's opaque id (the token's `sub`); never a name or address")
    roles: list[Identifier] = Field(default_factory=list, max_length=20, description="Roles the token granted")


class Money(Contract):
    """An amount in integer minor units (fen, cents) with its currency; never a float."""

    amount_minor: Integer = Field(ge=0, le=10**12, description="Amount in minor units, e.g. fen")
    currency: CurrencyCode = Field(default="CNY", description="ISO 4217 currency code")


class CaseKind(StrEnum):
    INQUIRY = "inquiry"
    DELAY = "delay"
    DAMAGE = "damage"
    SHORTAGE = "shortage"
    LOSS = "loss"
    ARBITRATION = "arbitration"
    OUT_OF_AREA_TRANSFER = "out_of_area_transfer"
    PROBLEM_PARCEL = "problem_parcel"
    PRE_SALE = "pre_sale"
    IN_SALE = "in_sale"
    AFTER_SALE = "after_sale"
    COMPLAINT = "complaint"
    REGULATOR_APPEAL = "regulator_appeal"
    SIGNED_NOT_RECEIVED = "signed_not_received"  # 签收争议: signed for, not received (1.2)


class ClaimantRole(StrEnum):
    """Who asks for compensation: the sender who paid the freight, or the recipient."""

    SENDER = "sender"
    RECIPIENT = "recipient"


class PayoutMethod(StrEnum):
    ORIGINAL_PAYMENT = "original_payment"
    BANK_TRANSFER = "bank_transfer"
    PLATFORM_REFUND = "platform_refund"
    ACCOUNT_CREDIT = "account_credit"


class Claimant(Contract):
    """Who claims compensation and how they want to be paid (no personal data: the case holds the contact)."""

    role: ClaimantRole
    payout_method: PayoutMethod = PayoutMethod.ORIGINAL_PAYMENT


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class LadderLevel(StrEnum):
    """The escalation ladder, lowest first."""

    STATION = "station"
    HUB = "hub"
    REGIONAL_CENTRE = "regional_centre"
    HQ = "hq"


class Channel(StrEnum):
    PHONE = "phone"
    IM = "im"
    EMAIL = "email"
    WEB_FORM = "web_form"
    APP = "app"
    SOCIAL = "social"
    SELF_SERVICE = "self_service"
    UPSTREAM = "upstream"


class Area(Contract):
    """Coverage area of an address: coarse enough to carry no personal data."""

    province: ShortText
    city: ShortText
    district: ShortText | None = None
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] = Field(default="CN", description="ISO 3166-1 alpha-2")


class MaskedContact(Contract):
    """Contact details as any reader may see them: 张*, 138****5678, z***@example.com."""

    name: ShortText | None = None
    phone: ShortText | None = None
    email: ShortText | None = None


class SealedContact(Contract):
    """Customer contact details, encrypted for intake and notify, masked for everyone else."""

    masked: MaskedContact
    sealed: Annotated[str, Field(min_length=16, max_length=8000)] = Field(
        description="AES-GCM token of the plain contact details (name, phone, e-mail, address, ids)"
    )
    key_id: Identifier = Field(description="Which key sealed it, for rotation")
    language: LanguageTag = "zh-CN"
    time_zone: TimeZoneName = "Asia/Shanghai"
    email_present: bool = False
    phone_present: bool = False
