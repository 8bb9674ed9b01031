"""Effects of the claim aggregate as contract events, each with a deterministic id (its idempotency key)."""

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

from . import model
from .model import ClaimRecord, Effect

#: Builds an event of a model from its payload, key and id (with or without a causing event).
Make = Callable[[type[Event], Any, str], Event]


def _dt(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


def _lines(lines: list[model.LineRecord], currency: str) -> list[ComputationLine]:
    return [
        ComputationLine(label=x.label, amount=Money(amount_minor=x.amount_minor, currency=currency), basis=x.basis)
        for x in lines[:50]
    ]


def to_events(claim: ClaimRecord, effects: list[Effect], make: Make) -> list[Event]:
    cur = claim.currency
    out: list[Event] = []

    def money(amount: int) -> Money:
        return Money(amount_minor=amount, currency=cur)

    for fx in effects:
        if isinstance(fx, model.Opened):
            payload: Any = ClaimOpenedPayload(
                claim_id=claim.claim_id,
                case_id=claim.case_id,
                claim_kind=claim.claim_kind,
                case_kind=claim.case_kind,
                waybill_no=claim.waybill_no,
                insured=claim.insured,
                declared_value=claim.declared_value,
                freight=claim.freight,
                evidence=claim.evidence[:50],
                opened_at=_dt(claim.opened_at),
                facts=claim.facts,
                fraud_flags=claim.fraud_flags,
            )
            out.append(make(ClaimOpened, payload, deterministic_id("claim.opened", claim.claim_id)))
        elif isinstance(fx, model.Decided):
            d = fx.decision
            payload = ClaimDecidedPayload(
                claim_id=claim.claim_id,
                case_id=claim.case_id,
                decision=d.decision,
                amount=money(d.amount_minor),
                lines=_lines(d.lines, cur),
                automatic=d.automatic,
                reviewer_id=d.reviewer_id,
                approver_id=d.approver_id,
                reason_code=d.reason_code,
                reason=d.reason[:4000],
                rules_version=claim.rules_version,
                decided_at=_dt(d.decided_at),
            )
            out.append(make(ClaimDecided, payload, deterministic_id("claim.decided", claim.claim_id, d.no)))
        elif isinstance(fx, model.Paid):
            p = fx.payout
            payload = PayoutIssuedPayload(
                payout_id=p.payout_id,
                claim_id=claim.claim_id,
                case_id=claim.case_id,
                amount=money(p.amount_minor),
                issued_at=_dt(p.issued_at),
                approved_by=p.approved_by,
            )
            out.append(make(PayoutIssued, payload, deterministic_id("payout.issued", p.payout_id)))
        elif isinstance(fx, model.Charged):
            cb = fx.chargeback
            payload = ChargebackIssuedPayload(
                chargeback_id=cb.chargeback_id,
                claim_id=claim.claim_id,
                case_id=claim.case_id,
                station=cb.station,
                payout_share=money(cb.payout_share_minor),
                penalty=money(cb.penalty_minor),
                total=money(cb.payout_share_minor + cb.penalty_minor),
                issued_at=_dt(cb.issued_at),
            )
            out.append(make(ChargebackIssued, payload, deterministic_id("chargeback.issued", cb.chargeback_id)))
        elif isinstance(fx, model.Reversed):
            cb = fx.chargeback
            payload = ChargebackReversedPayload(
                chargeback_id=cb.chargeback_id,
                claim_id=claim.claim_id,
                case_id=claim.case_id,
                station=cb.station,
                payout_share=money(cb.payout_share_minor),
                penalty=money(cb.penalty_minor),
                total=money(cb.payout_share_minor + cb.penalty_minor),
                reason=fx.reason[:4000],
                reversed_at=_dt(cb.reversed_at or claim.opened_at),
            )
            out.append(make(ChargebackReversed, payload, deterministic_id("chargeback.reversed", cb.chargeback_id)))
        elif isinstance(fx, model.Arbitrated):
            li = fx.liability
            payload = ArbitrationDecidedPayload(
                claim_id=claim.claim_id,
                case_id=claim.case_id,
                liable=[
                    Liability(station=x.station, share_basis_points=x.share_bp, reason=x.reason) for x in li.liable
                ],
                decided_by=li.decided_by,
                reason=li.reason[:4000],
                decided_at=_dt(li.decided_at),
            )
            out.append(
                make(ArbitrationDecided, payload, deterministic_id("arbitration.decided", claim.claim_id, li.seq))
            )
        elif isinstance(fx, model.Appealed):
            a = fx.appeal
            payload = ClaimAppealedPayload(
                claim_id=claim.claim_id, case_id=claim.case_id, reason=a.reason[:4000], appealed_at=_dt(a.at)
            )
            out.append(make(ClaimAppealed, payload, deterministic_id("claim.appealed", claim.claim_id, a.no)))
        elif isinstance(fx, model.ChargebackAppealed):
            cb = fx.chargeback
            payload = ChargebackAppealedPayload(
                chargeback_id=cb.chargeback_id,
                claim_id=claim.claim_id,
                case_id=claim.case_id,
                station=cb.station,
                reason=cb.appeal_reason[:4000],
                appealed_at=_dt(cb.appealed_at or cb.issued_at),
            )
            out.append(make(ChargebackAppealed, payload, deterministic_id("chargeback.appealed", cb.chargeback_id)))
        elif isinstance(fx, model.Audited):
            r = fx.record
            payload = ClaimAuditedPayload(
                audit_id=r.audit_id,
                claim_id=claim.claim_id,
                case_id=claim.case_id,
                action=r.action,
                actor=r.actor,
                before=money(r.before_minor),
                after=money(r.after_minor),
                reason_code=r.reason_code,
                request_id=r.request_id,
                at=_dt(r.at),
            )
            out.append(make(ClaimAudited, payload, deterministic_id("claim.audited", r.audit_id)))
    return out
