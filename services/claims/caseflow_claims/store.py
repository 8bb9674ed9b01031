"""Persistence of claims through the shared store port: typed records in, typed records out.

One document per case in `claims`, under the claim id: claims' copy of the case (`CaseCopy`) until
someone claims, then the claim itself, which takes the copy's place in the same document (one
compare-and-set decides a race between the two). The claim holds its ledger and every payout and
chargeback with its idempotency key; the side collections are written in the same unit of work:
`payouts` refuses a second record with the same key, `station_entries` serves the stations'
chargeback statements.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from caseflow_contracts import Event
from caseflow_contracts.common import Actor
from caseflow_kit.store import Collection, Doc, Query, Store
from caseflow_kit.uow import UnitOfWork

from .domain import (
    Arbitrated,
    CaseCopy,
    ChargebackAppealed,
    ChargebackRecord,
    Charged,
    Claim,
    ClaimRefused,
    Effect,
    Paid,
    Reversed,
    Status,
    claim_id_for,
)
from .events import to_events

CLAIMS = "claims"
PAYOUTS = "payouts"
STATION_ENTRIES = "station_entries"

#: Only what is queried is indexed: claims by status (review queues) and dispute (HQ's queue),
#: payouts by id, statements by station and time.
COLLECTIONS = [
    Collection(CLAIMS, indexes=("status", "disputed")),
    Collection(PAYOUTS),
    Collection(STATION_ENTRIES, indexes=("station", "at_ts")),
]
Stored = Claim | CaseCopy


class StatementEntry(BaseModel):
    """One line of a station's chargeback statement: a chargeback, or its reversal (negative amounts)."""

    kind: Literal["chargeback", "reversal"]
    chargeback_id: str
    station: str
    claim_id: str
    case_id: str
    payout_id: str
    payout_share_minor: int
    penalty_minor: int
    total_minor: int
    currency: str
    status: str
    at: str
    reason: str | None = None


# -- documents ---------------------------------------------------------------------------------


def to_doc(item: Stored) -> Doc:
    if isinstance(item, Claim):
        return {"_id": item.claim_id, **item.model_dump(mode="json"), "disputed": item.disputed}
    return {"_id": claim_id_for(item.case_id), **item.model_dump(mode="json")}


def from_doc(doc: Doc) -> Stored:
    """A claim has a status; anything else in the slot is claims' copy of the case (before 1.2 a
    `placeholder` holding early declarations, which reads as a copy)."""
    if "status" in doc:
        return Claim.model_validate(doc, strict=False)
    return CaseCopy.model_validate(doc, strict=False)


# -- inside a unit of work ---------------------------------------------------------------------------


async def load(uow: UnitOfWork, case_id: str) -> tuple[Stored | None, int | None]:
    """What claims holds for a case, and its version (None, None when nothing yet)."""
    doc = await uow.get(CLAIMS, claim_id_for(case_id))
    return (None, None) if doc is None else (from_doc(doc), int(doc["_v"]))


async def load_claim(uow: UnitOfWork, claim_id: str) -> tuple[Claim, int]:
    doc = await uow.get(CLAIMS, claim_id)
    found = None if doc is None else from_doc(doc)
    if doc is None or not isinstance(found, Claim):
        raise ClaimRefused("not_found", f"no claim {claim_id}")
    return found, int(doc["_v"])


def save(uow: UnitOfWork, item: Stored, version: int | None, effects: Sequence[Effect] = ()) -> None:
    """Write the claim (or the copy) and what its effects add, in the caller's unit of work.

    A first write is a create: if another writer created the document meanwhile, the commit clashes
    and the work is re-run on fresh reads (the consumer and the command runner do that)."""
    doc = to_doc(item)
    if version is None:
        uow.create(CLAIMS, doc)
    else:
        uow.update(CLAIMS, {**doc, "_v": version})
    if isinstance(item, Claim):
        _side_records(uow, item, effects)


def keep(
    uow: UnitOfWork,
    claim: Claim,
    version: int | None,
    effects: list[Effect],
    *,
    now: datetime,
    cause: Event | None = None,
    actor: Actor | None = None,
) -> None:
    """Store the claim with what its effects add, and emit their events (same commit: the outbox)."""
    save(uow, claim, version, effects)
    for event in to_events(claim, effects, now=now, cause=cause, actor=actor):
        uow.emit(event)


def _side_records(uow: UnitOfWork, claim: Claim, effects: Sequence[Effect]) -> None:
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
            uow.add(STATION_ENTRIES, _entry_doc(_entry(claim, effect.chargeback)))
        elif isinstance(effect, Reversed):
            cb = effect.chargeback
            reversal = _entry(claim, cb).model_copy(
                update={
                    "kind": "reversal",
                    "payout_share_minor": -cb.payout_share_minor,
                    "penalty_minor": -cb.penalty_minor,
                    "total_minor": -(cb.payout_share_minor + cb.penalty_minor),
                    "reason": effect.reason,
                    "at": cb.reversed_at or cb.issued_at,
                }
            )
            uow.add(STATION_ENTRIES, _entry_doc(reversal, suffix="-REV"))
            touched = True
        elif isinstance(effect, ChargebackAppealed | Arbitrated):
            touched = True
    if touched:
        # Statuses changed (appealed, upheld, reversed): refresh the statement copies of earlier chargebacks.
        new = {e.chargeback.chargeback_id for e in effects if isinstance(e, Charged)}
        for cb in claim.chargebacks:
            if cb.chargeback_id not in new:
                uow.put(STATION_ENTRIES, _entry_doc(_entry(claim, cb)))


def _entry(claim: Claim, cb: ChargebackRecord) -> StatementEntry:
    return StatementEntry(
        kind="chargeback",
        chargeback_id=cb.chargeback_id,
        station=cb.station,
        claim_id=claim.claim_id,
        case_id=claim.case_id,
        payout_id=cb.payout_id,
        payout_share_minor=cb.payout_share_minor,
        penalty_minor=cb.penalty_minor,
        total_minor=cb.payout_share_minor + cb.penalty_minor,
        currency=claim.currency,
        status=cb.status,
        at=cb.issued_at,
    )


def _entry_doc(entry: StatementEntry, suffix: str = "") -> Doc:
    return {
        "_id": entry.chargeback_id + suffix,
        **entry.model_dump(exclude_none=True),
        "at_ts": datetime.fromisoformat(entry.at).timestamp(),
    }


# -- reads for the HTTP edge ---------------------------------------------------------------------------


async def claim(store: Store, claim_id: str) -> Claim | None:
    doc = await store.get(CLAIMS, claim_id)
    found = None if doc is None else from_doc(doc)
    return found if isinstance(found, Claim) else None


async def queue(store: Store, *, status: Status | None, disputed: bool, limit: int) -> list[Claim]:
    """Claims by status, or those with a station's declaration HQ has not settled; oldest first."""
    where: dict[str, Any] = {"disputed": True} if disputed else {"status": (status or Status.PENDING_REVIEW).value}
    docs = await store.find(CLAIMS, Query(where=where, order_by="opened_ts", limit=limit))
    return [c for c in map(from_doc, docs) if isinstance(c, Claim)]


async def statement(store: Store, station: str, start: float, end: float) -> list[StatementEntry]:
    docs = await store.find(
        STATION_ENTRIES,
        Query(where={"station": station}, range_field="at_ts", gte=start, lt=end, order_by="at_ts", limit=10_000),
    )
    return [StatementEntry.model_validate(d) for d in docs]


async def chargeback_entry(store: Store, chargeback_id: str) -> StatementEntry | None:
    doc = await store.get(STATION_ENTRIES, chargeback_id)
    return None if doc is None else StatementEntry.model_validate(doc)
