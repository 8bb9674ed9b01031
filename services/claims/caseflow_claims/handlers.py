"""Events in -> claim aggregate -> events out. The kit commits each handler's unit of work once."""

from __future__ import annotations

from typing import Any

from caseflow_contracts import Event
from caseflow_contracts.cases import CaseOpened, CaseResolved
from caseflow_contracts.claims import ClaimDecision, ClaimKind, EvidenceRef
from caseflow_contracts.common import Actor
from caseflow_contracts.stations import ArbitrationDeclared
from caseflow_kit import Context, Refusal
from caseflow_kit.uow import UnitOfWork

from . import model, store
from .deps import ClaimsDeps
from .domain import Verdict, assess, claim_kind_of, decide, facts_from_parcel, is_claim
from .events import to_events
from .model import ClaimRecord, DeclarationRecord, Effect


def publish(
    uow: UnitOfWork, claim: ClaimRecord, effects: list[Effect], cause: Event | None, actor: Actor | None = None
) -> None:
    """Emit the effects as events; `actor` is the person whose command caused them (None for events)."""

    def make(model_type: type[Event], payload: Any, event_id: str) -> Event:
        return model_type.create(
            payload, key=claim.case_id, producer="claims", cause=cause, event_id=event_id, actor=actor
        )

    for event in to_events(claim, effects, make):
        uow.emit(event)


async def on_case_opened(event: CaseOpened, ctx: Context[ClaimsDeps]) -> None:
    p = event.payload
    if not is_claim(p.kind, p.category.value if p.category else None):
        return
    claim_id = store.claim_id_for(p.case_id)
    slot = await ctx.uow.get(store.CLAIMS, claim_id)
    if slot is not None and not store.is_placeholder(slot):
        return  # the same case opened again (a re-sent event): the claim exists
    rules = ctx.deps.rules
    kind = claim_kind_of(p.kind, p.parcel)
    evidence = [EvidenceRef(kind="scan_trail", ref=f"waybill:{p.waybill_no}")] if p.waybill_no else []
    claim = model.new_claim(
        claim_id=claim_id,
        case_id=p.case_id,
        claim_kind=kind or ClaimKind.LOSS,
        case_kind=p.kind,
        waybill_no=p.waybill_no,
        insured=p.parcel.insured,
        declared_value=p.parcel.declared_value,
        freight=p.parcel.freight,
        facts=facts_from_parcel(kind or ClaimKind.LOSS, p.parcel),
        fraud_flags=list(p.fraud_flags),
        evidence=evidence,
        customer_ref=p.customer_ref,
        rules=rules,
        now=ctx.now,
    )
    claim.declarations = [DeclarationRecord.model_validate(d) for d in slot.get("declarations", [])] if slot else []
    assessment = assess(claim.as_input(), rules)
    verdict = decide(assessment, claim.fraud_flags, rules)
    if kind is None:
        verdict = Verdict(ClaimDecision.PENDING_REVIEW, "Claim kind not established from the case: a reviewer sets it")
    effects = model.open_and_decide(claim, verdict, assessment, rules, ctx.now)
    store.save(ctx.uow, claim, int(slot["_v"]) if slot else None, effects)
    publish(ctx.uow, claim, effects, event)


async def on_case_resolved(event: CaseResolved, ctx: Context[ClaimsDeps]) -> None:
    loaded = await store.load(ctx.uow, store.claim_id_for(event.payload.case_id))
    if loaded is None:
        return  # most cases carry no claim
    claim, version = loaded
    effects = model.case_resolved(claim, event.payload.at, ctx.deps.rules, ctx.now)
    store.save(ctx.uow, claim, version, effects)
    publish(ctx.uow, claim, effects, event)


async def on_arbitration_declared(event: ArbitrationDeclared, ctx: Context[ClaimsDeps]) -> None:
    p = event.payload
    if p.station == p.liable_station:
        raise Refusal("self_declaration", f"station {p.station} declared itself liable")
    declaration = DeclarationRecord(
        event_id=event.event_id,
        station=p.station,
        liable_station=p.liable_station,
        amount_claimed=p.amount_claimed,
        proof_refs=list(p.proof_refs),
        at=p.at.isoformat(),
    )
    claim_id = store.claim_id_for(p.case_id)
    slot = await ctx.uow.get(store.CLAIMS, claim_id)
    if slot is None or store.is_placeholder(slot):
        # No claim yet: keep the declaration in the claim's slot for when the claim opens.
        doc = slot or store.placeholder(claim_id, p.case_id)
        if all(d["event_id"] != event.event_id for d in doc["declarations"]):
            doc["declarations"].append(declaration.model_dump(mode="json"))
        if slot is None:
            ctx.uow.add(store.CLAIMS, doc)
        else:
            ctx.uow.update(store.CLAIMS, doc)
        return
    claim, version = ClaimRecord.model_validate(slot), int(slot["_v"])
    if any(d.event_id == event.event_id for d in claim.declarations):
        return
    claim.evidence += [EvidenceRef(kind="declaration", ref=ref) for ref in p.proof_refs][: 50 - len(claim.evidence)]
    effects = model.declare(claim, declaration, ctx.deps.rules, ctx.now)
    store.save(ctx.uow, claim, version, effects)
    publish(ctx.uow, claim, effects, event)
