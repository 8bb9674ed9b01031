"""Intake's persistence through the kit's store port: cases, references (waybill / order), claimants."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from caseflow_kit.store import Collection
from caseflow_kit.uow import UnitOfWork

from .domain import CaseRef, Reference

CASES = "cases"
REFS = "refs"
CLAIMANTS = "claimants"

COLLECTIONS = [
    Collection(CASES),
    Collection(REFS),
    Collection(CLAIMANTS),
]

MAX_SOURCES = 500
MAX_CLOSED = 20
MAX_HISTORY = 200
MAX_CLAIMS = 100


def ref_key(waybill_no: str | None, platform: str | None, order_id: str | None, source_key: str) -> str:
    """Cases merge per waybill, else per platform order; a contact with neither is its own reference."""
    if waybill_no:
        return f"wb:{waybill_no.upper()}"
    if order_id:
        return f"order:{platform or '-'}:{order_id}"
    return f"src:{source_key}"


def _refs(items: list[dict[str, Any]]) -> list[CaseRef]:
    return [CaseRef(i["case_id"], i["problem"], datetime.fromisoformat(i["at"])) for i in items]


def _docs(refs: list[CaseRef]) -> list[dict[str, Any]]:
    return [{"case_id": r.case_id, "problem": r.problem, "at": r.at.isoformat()} for r in refs]


class ReferenceRecord:
    """One reference document, read in a unit of work and written back with compare-and-set."""

    def __init__(self, key: str, doc: dict[str, Any] | None) -> None:
        self.key = key
        self.doc = doc
        self.state = Reference(_refs(doc["open"]), _refs(doc["closed"]), list(doc["sources"])) if doc else Reference()

    @classmethod
    async def load(cls, uow: UnitOfWork, key: str) -> ReferenceRecord:
        return cls(key, await uow.get(REFS, key))

    def save(self, uow: UnitOfWork) -> None:
        s = self.state
        body = {
            "_id": self.key,
            "open": _docs(s.open),
            "closed": _docs(sorted(s.closed, key=lambda c: c.at)[-MAX_CLOSED:]),
            "sources": s.sources[-MAX_SOURCES:],
        }
        if self.doc is None:
            uow.create(REFS, body)
        else:
            uow.update(REFS, {**body, "_v": self.doc["_v"]})


async def load_case(uow: UnitOfWork, case_id: str) -> dict[str, Any] | None:
    return await uow.get(CASES, case_id)


def save_case(uow: UnitOfWork, doc: dict[str, Any], *, new: bool) -> None:
    doc["history"] = doc["history"][-MAX_HISTORY:]
    if new:
        uow.create(CASES, doc)
    else:
        uow.update(CASES, doc)


async def record_claim(uow: UnitOfWork, customer_ref: str) -> tuple[dict[str, Any] | None, list[tuple[str, datetime]]]:
    doc = await uow.get(CLAIMANTS, customer_ref)
    claims = [(c["case_id"], datetime.fromisoformat(c["at"])) for c in (doc or {}).get("claims", [])]
    return doc, claims


def save_claims(
    uow: UnitOfWork, customer_ref: str, doc: dict[str, Any] | None, claims: list[tuple[str, datetime]]
) -> None:
    body = {"_id": customer_ref, "claims": [{"case_id": c, "at": at.isoformat()} for c, at in claims[-MAX_CLAIMS:]]}
    if doc is None:
        uow.create(CLAIMANTS, body)
    else:
        uow.update(CLAIMANTS, {**body, "_v": doc["_v"]})
