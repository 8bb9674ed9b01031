"""Event in → domain → events out: upstream exceptions and contacts become, merge into, or reopen cases."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from caseflow_contracts import deterministic_id
from caseflow_contracts.cases import (
    CaseClosed,
    CaseMerged,
    CaseMergedPayload,
    CaseOpened,
    CaseOpenedPayload,
    CaseReopened,
    CaseReopenedPayload,
    CaseResolved,
    FraudFlag,
    ParcelFacts,
    StationHint,
)
from caseflow_contracts.common import Area, CaseKind, Channel, Money, Priority
from caseflow_contracts.stations import ResolutionResult
from caseflow_contracts.upstream import (
    Address,
    ContactCategory,
    Customer,
    CustomerContacted,
    ParcelExceptionReported,
    SaleStage,
)
from caseflow_kit import Context
from caseflow_kit.logs import log_fields
from caseflow_kit.privacy import Pseudonymiser, Sealer
from caseflow_kit.rules import RulesFile

from . import domain, pii
from .domain import CaseRef, PriorityInput
from .rules import IntakeRules
from .store import ReferenceRecord, load_case, record_claim, ref_key, save_case, save_claims

log = logging.getLogger("caseflow.intake")


@dataclass
class IntakeDeps:
    rules: RulesFile[IntakeRules]
    sealer: Sealer
    pseudonyms: Pseudonymiser


@dataclass(frozen=True)
class Incoming:
    """One upstream exception or contact, reduced to what intake decides on."""

    source_key: str
    source_event_id: str
    contact: bool
    kind: CaseKind
    channel: Channel
    at: datetime
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


async def on_parcel_exception(event: ParcelExceptionReported, ctx: Context[IntakeDeps]) -> None:
    p = event.payload
    rules = ctx.deps.rules.current
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
    await take_in(
        Incoming(
            source_key=f"exc:{p.source_system}:{p.source_event_id}",
            source_event_id=p.source_event_id,
            contact=False,
            kind=domain.kind_of_exception(p.exception_kind, rules),
            channel=Channel.UPSTREAM,
            at=p.scanned_at,
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
        ),
        ctx,
    )


async def on_customer_contact(event: CustomerContacted, ctx: Context[IntakeDeps]) -> None:
    p = event.payload
    rules = ctx.deps.rules.current
    await take_in(
        Incoming(
            source_key=f"contact:{p.source_system}:{p.source_id}",
            source_event_id=p.source_id,
            contact=True,
            kind=domain.kind_of_contact(p, rules),
            channel=p.channel,
            at=p.received_at,
            customer=p.customer,
            language=p.language,
            text=p.text,
            category=p.category,
            sale_stage=p.sale_stage,
            waybill_no=p.waybill_no,
            platform=p.platform,
            platform_order_id=p.platform_order_id,
            shipping_address=p.customer.address,
        ),
        ctx,
    )


async def take_in(item: Incoming, ctx: Context[IntakeDeps]) -> None:
    rules = ctx.deps.rules.current
    ref = await ReferenceRecord.load(
        ctx.uow, ref_key(item.waybill_no, item.platform, item.platform_order_id, item.source_key)
    )
    problem = rules.problem_of(item.kind)
    generic = item.contact and item.kind in rules.generic_contact_kinds
    decision = domain.decide(
        ref.state, item.source_key, problem, contact=item.contact, generic=generic, at=item.at, rules=rules
    )
    if decision.action == "duplicate":
        log.info("source already taken in", extra=log_fields(ref=ref.key.split(":")[0]))
        return
    ref.state.sources.append(item.source_key)
    if decision.action == "open":
        case_id = await _open(item, problem, decision.linked_case_id, ctx)
        ref.state.open.append(CaseRef(case_id, problem, ctx.now))
    elif decision.action == "merge":
        await _merge(item, _known(decision.case_id), ctx)
    else:
        case_id = _known(decision.case_id)
        case_problem = await _reopen(item, case_id, ctx)
        ref.state.closed = [c for c in ref.state.closed if c.case_id != case_id]
        ref.state.open.append(CaseRef(case_id, case_problem, ctx.now))
    ref.save(ctx.uow)


def _known(case_id: str | None) -> str:
    if case_id is None:
        raise ValueError("a merge or reopen decision names its case")
    return case_id


def _history(item: Incoming, action: str, at: datetime, summary: str) -> dict[str, Any]:
    return {
        "action": action,
        "at": at.isoformat(),
        "source": item.source_key.split(":", 1)[0],
        "source_event_id": item.source_event_id,
        "channel": item.channel.value,
        "category": item.category.value if item.category else None,
        "kind": item.kind.value,
        "summary": summary[:2000],
        "received_at": item.at.isoformat(),
    }


async def _open(item: Incoming, problem: str, linked: str | None, ctx: Context[IntakeDeps]) -> str:
    rules, sealer = ctx.deps.rules.current, ctx.deps.sealer
    summary = pii.scrub_text(item.text, item.customer, limit=4000)
    case_id = domain.case_id_for(item.source_key, item.at)
    priority, reasons = domain.priority_of(
        PriorityInput(item.kind, item.customer.vip, item.cross_border, item.parcel.declared_value, item.category), rules
    )
    # Only a customer's own words say which language they speak; an exception's text is the upstream system's.
    language = domain.language_of(item.language, item.text if item.contact else "", rules)
    station, reason = domain.station_hint(item.kind, item.stations, rules)
    cust_ref = pii.customer_ref(ctx.deps.pseudonyms, item.customer, item.source_key)
    flags = domain.order_fraud_flags(item.order_amount, item.shipping_address, item.billing_address, rules)
    if domain.is_claim(item.kind, item.category, rules):
        claimant, claims = await record_claim(ctx.uow, cust_ref)
        recent = domain.recent_claims(claims, case_id, item.at, rules)
        if domain.frequent_claimant(recent, rules):
            flags.append(FraudFlag.FREQUENT_CLAIMANT)
        save_claims(ctx.uow, cust_ref, claimant, recent)
    if rules.fraud.flags_for_kinds is not None and item.kind not in rules.fraud.flags_for_kinds:
        flags = []
    area = _area(item)
    payload = CaseOpenedPayload(
        case_id=case_id,
        kind=item.kind,
        priority=priority,
        priority_reasons=[r[:200] for r in reasons][:20],
        channel=item.channel,
        category=item.category,
        sale_stage=item.sale_stage,
        waybill_no=item.waybill_no,
        platform=item.platform,
        platform_order_id=item.platform_order_id,
        language=language,
        cross_border=item.cross_border,
        area=area,
        station_hint=StationHint(station=station, reason=reason),
        customer=pii.seal(sealer, item.customer, language),
        customer_ref=cust_ref,
        vip=item.customer.vip,
        fraud_flags=flags,
        parcel=item.parcel,
        summary=summary,
        linked_case_id=linked,
        opened_at=ctx.now,
        rules_version=rules.version,
    )
    doc: dict[str, Any] = {
        "_id": case_id,
        **payload.model_dump(mode="json"),
        "status": "open",
        "problem": problem,
        "ref": ref_key(item.waybill_no, item.platform, item.platform_order_id, item.source_key),
        "contacts": 1 if item.contact else 0,
        "repeat_contacts": 0,
        "reopen_count": 0,
        "reopened_at": None,
        "closed_at": None,
        "history": [_history(item, "opened", payload.opened_at, summary)],
    }
    save_case(ctx.uow, doc, new=True)
    ctx.uow.emit(ctx.new(CaseOpened, payload, key=case_id, event_id=deterministic_id("case.opened", case_id)))
    log.info(
        "case opened",
        extra=log_fields(case_id=case_id, kind=item.kind.value, priority=priority.value, flags=len(flags)),
    )
    return case_id


def _area(item: Incoming) -> Area | None:
    for address in (item.shipping_address, item.customer.address, item.billing_address):
        if address is not None:
            return address.area
    return None


def _incoming_priority(item: Incoming, rules: IntakeRules) -> Priority:
    facts = PriorityInput(item.kind, item.customer.vip, item.cross_border, item.parcel.declared_value, item.category)
    return domain.priority_of(facts, rules)[0]


async def _merge(item: Incoming, case_id: str, ctx: Context[IntakeDeps]) -> None:
    rules = ctx.deps.rules.current
    summary = pii.scrub_text(item.text, item.customer, limit=4000)
    doc = await load_case(ctx.uow, case_id)
    if doc is None:
        raise LookupError(f"reference names case {case_id}, which is not stored")
    outcome = domain.merge_outcome(
        Priority(doc["priority"]), doc["contacts"], _incoming_priority(item, rules), contact=item.contact, rules=rules
    )
    now = ctx.now
    doc.update(priority=outcome.priority.value, contacts=outcome.contacts, repeat_contacts=outcome.repeat_contacts)
    doc["history"].append(_history(item, "merged", now, summary))
    save_case(ctx.uow, doc, new=False)
    payload = CaseMergedPayload(
        case_id=case_id,
        source_event_id=item.source_event_id,
        channel=item.channel,
        repeat_contacts=outcome.repeat_contacts,
        priority=outcome.priority,
        priority_raised=outcome.priority_raised,
        repeat_contact=outcome.repeat_contact,
        summary=summary,
        merged_at=now,
    )
    event_id = deterministic_id("case.merged", case_id, item.source_key)
    ctx.uow.emit(ctx.new(CaseMerged, payload, key=case_id, event_id=event_id))
    log.info(
        "merged into case",
        extra=log_fields(case_id=case_id, repeat=outcome.repeat_contact, priority=outcome.priority.value),
    )


async def _reopen(item: Incoming, case_id: str, ctx: Context[IntakeDeps]) -> str:
    """Reopen the case; return its problem (the case keeps the problem it was opened for)."""
    rules = ctx.deps.rules.current
    summary = pii.scrub_text(item.text, item.customer, limit=4000)
    doc = await load_case(ctx.uow, case_id)
    if doc is None:
        raise LookupError(f"reference names case {case_id}, which is not stored")
    priority = domain.reopen_priority(Priority(doc["priority"]), _incoming_priority(item, rules), rules)
    now = ctx.now
    doc.update(
        status="open",
        priority=priority.value,
        reopen_count=doc["reopen_count"] + 1,
        reopened_at=now.isoformat(),
        closed_at=None,
        contacts=doc["contacts"] + 1,
        repeat_contacts=doc["contacts"],
    )
    doc["history"].append(_history(item, "reopened", now, summary))
    save_case(ctx.uow, doc, new=False)
    payload = CaseReopenedPayload(
        case_id=case_id,
        source_event_id=item.source_event_id,
        reopen_count=doc["reopen_count"],
        priority=priority,
        summary=summary,
        reopened_at=now,
    )
    event_id = deterministic_id("case.reopened", case_id, item.source_key)
    ctx.uow.emit(ctx.new(CaseReopened, payload, key=case_id, event_id=event_id))
    log.info("case reopened", extra=log_fields(case_id=case_id, reopen_count=doc["reopen_count"]))
    return str(doc["problem"])


async def on_case_resolved(event: CaseResolved, ctx: Context[IntakeDeps]) -> None:
    if event.payload.result is not ResolutionResult.PENDING:
        await _close(event.payload.case_id, event.payload.at, ctx)


async def on_case_closed(event: CaseClosed, ctx: Context[IntakeDeps]) -> None:
    await _close(event.payload.case_id, event.payload.closed_at, ctx)


async def _close(case_id: str, at: datetime, ctx: Context[IntakeDeps]) -> None:
    """Routing ended the case: later contacts reopen it (within the window) or open a linked case."""
    doc = await load_case(ctx.uow, case_id)
    if doc is None or doc["status"] == "closed":
        return
    if doc["reopened_at"] and datetime.fromisoformat(doc["reopened_at"]) > at:
        return  # the end of an episode before the reopening
    doc.update(status="closed", closed_at=at.isoformat())
    save_case(ctx.uow, doc, new=False)
    ref = await ReferenceRecord.load(ctx.uow, doc["ref"])
    ref.state.open = [c for c in ref.state.open if c.case_id != case_id]
    ref.state.closed.append(CaseRef(case_id, doc["problem"], at))
    ref.save(ctx.uow)
