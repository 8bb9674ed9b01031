"""Persistence of claims through the shared store port: one claim document per case, plus lookups.

The claim document holds the ledger and every payout and chargeback with its
idempotency key; the side collections (payouts, station entries) are written in
the same unit of work: `payouts` rejects a second record with the same key, and
`station_entries` serves the stations' chargeback statements.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from caseflow_kit.store import Collection
from caseflow_kit.uow import UnitOfWork

from .model import Arbitrated, ChargebackAppealed, ChargebackRecord, Charged, ClaimRecord, Effect, Paid, Reversed

CLAIMS = "claims"
PAYOUTS = "payouts"
STATION_ENTRIES = "station_entries"

#: Only what is queried is indexed: claims by id and status (review queue), payouts by id, statements by station and time.
COLLECTIONS = [
    Collection(CLAIMS, indexes=("status",)),
    Collection(PAYOUTS),
    Collection(STATION_ENTRIES, indexes=("station", "at_ts")),
]


def claim_id_for(case_id: str) -> str:
    """One claim per case: CF-20261124000123 -> CL-20261124000123."""
    return "CL-" + case_id.removeprefix("CF-")


def is_placeholder(doc: dict[str, Any]) -> bool:
    """A claim slot that holds only station declarations which arrived before the claim opened."""
    return bool(doc.get("placeholder"))


def placeholder(claim_id: str, case_id: str) -> dict[str, Any]:
    return {"_id": claim_id, "case_id": case_id, "placeholder": True, "declarations": []}


async def load(uow: UnitOfWork, claim_id: str) -> tuple[ClaimRecord, int] | None:
    doc = await uow.get(CLAIMS, claim_id)
    if doc is None or is_placeholder(doc):
        return None
    return ClaimRecord.model_validate(doc), int(doc["_v"])


def parse(doc: dict[str, Any] | None) -> ClaimRecord | None:
    """A stored claim (None for nothing or a placeholder)."""
    return None if doc is None or is_placeholder(doc) else ClaimRecord.model_validate(doc)


def _ts(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def _entry(claim: ClaimRecord, cb: ChargebackRecord) -> dict[str, Any]:
    return {
        "_id": cb.chargeback_id,
        "kind": "chargeback",
        "chargeback_id": cb.chargeback_id,
        "station": cb.station,
        "claim_id": claim.claim_id,
        "case_id": claim.case_id,
        "payout_id": cb.payout_id,
        "payout_share_minor": cb.payout_share_minor,
        "penalty_minor": cb.penalty_minor,
        "total_minor": cb.payout_share_minor + cb.penalty_minor,
        "currency": claim.currency,
        "status": cb.status,
        "at": cb.issued_at,
        "at_ts": _ts(cb.issued_at),
    }


def save(uow: UnitOfWork, claim: ClaimRecord, version: int | None, effects: list[Effect]) -> None:
    """Write the claim and what its effects add, in the caller's unit of work."""
    doc = {"_id": claim.claim_id, **claim.model_dump(mode="json")}
    if version is None:
        uow.add(CLAIMS, doc)
    else:
        uow.update(CLAIMS, {**doc, "_v": version})
    touched = False
    for effect in effects:
        if isinstance(effect, Paid):
            p = effect.payout
            uow.add(
                PAYOUTS,
                {
                    "_id": p.payout_id,
                    "claim_id": claim.claim_id,
                    "case_id": claim.case_id,
                    "amount_minor": p.amount_minor,
                    "currency": claim.currency,
                    "decision_no": p.decision_no,
                    "issued_at": p.issued_at,
                },
            )
        elif isinstance(effect, Charged):
            uow.add(STATION_ENTRIES, _entry(claim, effect.chargeback))
        elif isinstance(effect, Reversed):
            cb = effect.chargeback
            reversed_at = cb.reversed_at or cb.issued_at
            uow.add(
                STATION_ENTRIES,
                {
                    **_entry(claim, cb),
                    "_id": cb.chargeback_id + "-REV",
                    "kind": "reversal",
                    "payout_share_minor": -cb.payout_share_minor,
                    "penalty_minor": -cb.penalty_minor,
                    "total_minor": -(cb.payout_share_minor + cb.penalty_minor),
                    "reason": effect.reason,
                    "at": reversed_at,
                    "at_ts": _ts(reversed_at),
                },
            )
            touched = True
        elif isinstance(effect, ChargebackAppealed | Arbitrated):
            touched = True
    if touched:
        # Statuses changed (appealed, upheld, reversed): refresh the statement copies of earlier chargebacks.
        new = {e.chargeback.chargeback_id for e in effects if isinstance(e, Charged)}
        for cb in claim.chargebacks:
            if cb.chargeback_id not in new:
                uow.put(STATION_ENTRIES, _entry(claim, cb))
