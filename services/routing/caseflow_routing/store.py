"""Routing's persistence through the shared store port: one document per case."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from caseflow_kit.store import Collection, Query, Store
from caseflow_kit.uow import UnitOfWork

from .domain import CaseFile

CASES = "cases"
COLLECTIONS = [Collection(CASES, indexes=("open_holder",))]


async def load_case(uow: UnitOfWork, case_id: str) -> tuple[CaseFile, dict[str, Any]] | None:
    doc = await uow.get(CASES, case_id)
    return None if doc is None else (CaseFile.from_doc(doc), doc)


def save_case(uow: UnitOfWork, case: CaseFile, read: dict[str, Any] | None) -> None:
    """Insert a new case, or compare-and-set the one read (a concurrent change retries the handler)."""
    doc = {"_id": case.case_id, **case.to_doc()}
    if read is None:
        uow.add(CASES, doc)
    elif any(read.get(k) != v for k, v in doc.items()):
        uow.update(CASES, {**doc, "_v": read["_v"]})


async def open_loads(store: Store, codes: Iterable[str]) -> dict[str, int]:
    """How many open cases each of these stations holds now."""
    return {code: await store.count(CASES, Query(where={"open_holder": code})) for code in codes}


async def case_view(store: Store, case_id: str) -> dict[str, Any] | None:
    doc = await store.get(CASES, case_id)
    if doc is None:
        return None
    case = CaseFile.from_doc(doc)
    return {
        "case_id": case.case_id,
        "holder": case.holder,
        "level": str(case.level),
        "state": str(case.state),
        "kind": str(case.kind),
        "priority": str(case.priority),
        "opened_at": case.opened_at,
        "reopen_count": case.reopen_count,
        "triggers": case.triggers,
        "history": case.history,
    }
