"""The claim's effects as contract events on claims.events, keyed by case id.

Each event id is deterministic (`deterministic_id(type, idempotency key)`): an event built again (a
re-run, a republished outbox row) carries the same id and consumers drop the copy.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from caseflow_contracts import Event, Money, deterministic_id
from caseflow_contracts.claims import (
    ArbitrationDecided,
    ArbitrationDecidedPayload,
    ChargebackAppealed,
    ChargebackAppealedPayload,
    ChargebackIssued,
    ChargebackIssuedPayload,
    ChargebackReversed,
    ChargebackReversedPayload,
    ClaimAppealed,
    ClaimAppealedPayload,
    ClaimAudited,
    ClaimAuditedPayload,
    ClaimDecided,
    ClaimDecidedPayload,
    ClaimOpened,
    ClaimOpenedPayload,
    ComputationLine,
    Liability,
    PayoutIssued,
    PayoutIssuedPayload,
)
from caseflow_contracts.common import Actor

from . import domain
from .domain import Claim, Effect
from .domain.records import ChargebackRecord, LineRecord

MAX_LINES = 50
MAX_TEXT = 4000
#: event type -> (event model, payload model)
_MODELS: dict[type[Any], tuple[type[Event], type[Any]]] = {
    domain.Opened: (ClaimOpened, ClaimOpenedPayload),
    domain.Decided: (ClaimDecided, ClaimDecidedPayload),
    domain.Paid: (PayoutIssued, PayoutIssuedPayload),
    domain.Charged: (ChargebackIssued, ChargebackIssuedPayload),
    domain.Reversed: (ChargebackReversed, ChargebackReversedPayload),
    domain.Arbitrated: (ArbitrationDecided, ArbitrationDecidedPayload),
    domain.Appealed: (ClaimAppealed, ClaimAppealedPayload),
    domain.ChargebackAppealed: (ChargebackAppealed, ChargebackAppealedPayload),
    domain.Audited: (ClaimAudited, ClaimAuditedPayload),
}

#: Every event type claims publishes (declared in its ServiceSpec: the AsyncAPI document, and the kit's check).
EMITS = tuple(model for model, _ in _MODELS.values())


def to_events(
    claim: Claim, effects: list[Effect], *, now: datetime, cause: Event | None, actor: Actor | None
) -> list[Event]:
    """One event per effect; `cause` is the event handled (None for a command), `actor` the person whose
    command caused them (None for events)."""
    out: list[Event] = []
    for effect in effects:
        model, payload_model = _MODELS[type(effect)]
        fields, key = _fields(claim, effect)
        payload = payload_model(claim_id=claim.claim_id, case_id=claim.case_id, **fields)
        event_id = deterministic_id(model.event_type(), *key)
        out.append(
            model.create(
                payload,
                key=claim.case_id,
                producer="claims",
                cause=cause,
                event_id=event_id,
                occurred_at=now,
                actor=actor,
            )
        )
    return out


def _fields(claim: Claim, effect: Effect) -> tuple[dict[str, Any], tuple[object, ...]]:
    """The payload fields of an effect beyond the claim and case ids, and its idempotency key."""
    money = _money(claim.currency)
    match effect:
        case domain.Opened():
            return {
                "claim_kind": claim.claim_kind,
                "case_kind": claim.case_kind,
                "waybill_no": claim.waybill_no,
                "insured": claim.insured,
                "declared_value": claim.declared_value,
                "freight": claim.freight,
                "evidence": claim.evidence[:MAX_LINES],
                "opened_at": _dt(claim.opened_at),
                "facts": claim.facts,
                "fraud_flags": claim.fraud_flags,
                "claimant": claim.claimant,
            }, (claim.claim_id,)
        case domain.Decided(decision=d):
            return {
                "decision": d.decision,
                "amount": money(d.amount_minor),
                "lines": _lines(d.lines, claim.currency),
                "automatic": d.automatic,
                "reviewer_id": d.reviewer_id,
                "approver_id": d.approver_id,
                "reason_code": d.reason_code,
                "reason": d.reason[:MAX_TEXT],
                "rules_version": claim.rules_version,
                "decided_at": _dt(d.decided_at),
                "appeal_until": _dt(d.appeal_until) if d.appeal_until else None,
            }, (claim.claim_id, d.no)
        case domain.Paid(payout=p):
            return {
                "payout_id": p.payout_id,
                "amount": money(p.amount_minor),
                "issued_at": _dt(p.issued_at),
                "approved_by": p.approved_by,
            }, (p.payout_id,)
        case domain.Charged(chargeback=cb):
            return {**_chargeback(cb, claim.currency), "issued_at": _dt(cb.issued_at)}, (cb.chargeback_id,)
        case domain.Reversed(chargeback=cb, reason=reason):
            return {
                **_chargeback(cb, claim.currency),
                "reason": reason[:MAX_TEXT],
                "reversed_at": _dt(cb.reversed_at or claim.opened_at),
            }, (cb.chargeback_id,)
        case domain.Arbitrated(liability=li):
            return {
                "liable": [
                    Liability(station=x.station, share_basis_points=x.share_bp, reason=x.reason) for x in li.liable
                ],
                "decided_by": li.decided_by,
                "reason": li.reason[:MAX_TEXT],
                "decided_at": _dt(li.decided_at),
            }, (claim.claim_id, li.seq)
        case domain.Appealed(appeal=a):
            return {"reason": a.reason[:MAX_TEXT], "appealed_at": _dt(a.at)}, (claim.claim_id, a.no)
        case domain.ChargebackAppealed(chargeback=cb):
            return {
                "chargeback_id": cb.chargeback_id,
                "station": cb.station,
                "reason": cb.appeal_reason[:MAX_TEXT],
                "appealed_at": _dt(cb.appealed_at or cb.issued_at),
            }, (cb.chargeback_id,)
        case domain.Audited(record=r):
            return {
                "audit_id": r.audit_id,
                "action": r.action,
                "actor": r.actor,
                "before": money(r.before_minor),
                "after": money(r.after_minor),
                "reason_code": r.reason_code,
                "request_id": r.request_id,
                "at": _dt(r.at),
            }, (r.audit_id,)
    raise TypeError(f"no event for {effect!r}")


def _chargeback(cb: ChargebackRecord, currency: str) -> dict[str, Any]:
    money = _money(currency)
    return {
        "chargeback_id": cb.chargeback_id,
        "station": cb.station,
        "payout_share": money(cb.payout_share_minor),
        "penalty": money(cb.penalty_minor),
        "total": money(cb.payout_share_minor + cb.penalty_minor),
    }


def _money(currency: str) -> Callable[[int], Money]:
    return lambda amount: Money(amount_minor=amount, currency=currency)


def _lines(lines: list[LineRecord], currency: str) -> list[ComputationLine]:
    return [
        ComputationLine(label=x.label, amount=Money(amount_minor=x.amount_minor, currency=currency), basis=x.basis)
        for x in lines[:MAX_LINES]
    ]


def _dt(iso: str) -> datetime:
    return datetime.fromisoformat(iso)
