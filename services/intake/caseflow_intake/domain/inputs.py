"""What intake decides on: an upstream exception or contact reduced to one typed value, and the time rule."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from caseflow_contracts.cases import ParcelFacts
from caseflow_contracts.common import Area, CaseKind, Channel, Claimant, Money
from caseflow_contracts.upstream import (
    Address,
    ContactCategory,
    Customer,
    CustomerContactPayload,
    ParcelExceptionPayload,
    SaleStage,
)

from ..rules import IntakeRules
from . import classify


def happened_at(stated: datetime, arrived: datetime) -> datetime:
    """When something happened, for every decision on time (the reopen window, the claims window).

    The source's own time (when the customer called, when the scan was made), so that the suite's own lag
    never counts against a customer; but never later than the input reached the broker, so that a source
    clock running ahead cannot stretch a window.
    """
    return min(stated, arrived)


def ref_key(waybill_no: str | None, platform: str | None, order_id: str | None, source_key: str) -> str:
    """Cases merge per waybill, else per platform order; a contact with neither is its own reference."""
    if waybill_no:
        return f"wb:{waybill_no.upper()}"
    if order_id:
        return f"order:{platform or '-'}:{order_id}"
    return f"src:{source_key}"


@dataclass(frozen=True)
class Incoming:
    """One upstream exception or contact, classified; personal data still plain (intake's edge seals it)."""

    source_key: str
    source_event_id: str
    contact: bool
    kind: CaseKind
    channel: Channel
    stated_at: datetime  # as the source stamped it: names the case, so the same source gives the same number
    at: datetime  # when it happened, for decisions (happened_at)
    customer: Customer
    language: str
    text: str
    category: ContactCategory | None = None
    sale_stage: SaleStage | None = None
    waybill_no: str | None = None
    platform: str | None = None
    platform_order_id: str | None = None
    cross_border: bool = False
    parcel: ParcelFacts = field(default_factory=ParcelFacts)
    stations: dict[str, str | None] = field(default_factory=dict)
    shipping_address: Address | None = None
    billing_address: Address | None = None
    order_amount: Money | None = None
    complaint: bool = False
    claimant: Claimant | None = None
    evidence_refs: tuple[str, ...] = ()
    original: CustomerContactPayload | None = None  # a contact as it came: kept sealed while routing may need it

    @property
    def ref(self) -> str:
        return ref_key(self.waybill_no, self.platform, self.platform_order_id, self.source_key)

    @property
    def source(self) -> str:
        """Which kind of source: "exc" (a parcel exception) or "contact"."""
        return self.source_key.split(":", 1)[0]

    @property
    def area(self) -> Area | None:
        for address in (self.shipping_address, self.customer.address, self.billing_address):
            if address is not None:
                return address.area
        return None


def from_exception(p: ParcelExceptionPayload, rules: IntakeRules, *, arrived: datetime) -> Incoming:
    """A parcel exception: its kind from the rules, its problem code checked; it neither complains nor claims."""
    classify.check_problem_code(p.problem_code, rules)
    parcel = ParcelFacts(
        exception_kind=p.exception_kind,
        problem_code=p.problem_code,
        origin_station=p.origin_station,
        current_station=p.current_station,
        destination_station=p.destination_station,
        scanned_at=p.scanned_at,
        declared_value=p.declared_value,
        insured=p.insured,
        freight=p.freight,
        order_amount=p.order_amount,
    )
    return Incoming(
        source_key=f"exc:{p.source_system}:{p.source_event_id}",
        source_event_id=p.source_event_id,
        contact=False,
        kind=classify.kind_of_exception(p.exception_kind, rules),
        channel=Channel.UPSTREAM,
        stated_at=p.scanned_at,
        at=happened_at(p.scanned_at, arrived),
        customer=p.customer,
        language=p.customer.language,
        text=p.description,
        waybill_no=p.waybill_no,
        platform=p.platform,
        platform_order_id=p.platform_order_id,
        cross_border=p.cross_border,
        parcel=parcel,
        stations={
            "origin_station": p.origin_station,
            "current_station": p.current_station,
            "destination_station": p.destination_station,
        },
        shipping_address=p.shipping_address,
        billing_address=p.billing_address,
        order_amount=p.order_amount,
    )


def from_contact(p: CustomerContactPayload, rules: IntakeRules, *, arrived: datetime) -> Incoming:
    """A customer contact: kind, complaint and claim intent from its category, sale stage and words."""
    return Incoming(
        source_key=f"contact:{p.source_system}:{p.source_id}",
        source_event_id=p.source_id,
        contact=True,
        kind=classify.kind_of_contact(p, rules),
        channel=p.channel,
        stated_at=p.received_at,
        at=happened_at(p.received_at, arrived),
        customer=p.customer,
        language=p.language,
        text=p.text,
        category=p.category,
        sale_stage=p.sale_stage,
        waybill_no=p.waybill_no,
        platform=p.platform,
        platform_order_id=p.platform_order_id,
        shipping_address=p.customer.address,
        complaint=classify.is_complaint(p, rules),
        claimant=classify.claimant_of(p, rules),
        evidence_refs=tuple(p.evidence_refs),
        original=p,
    )
