"""Routing's persistence through the shared store port: one document per case, one open-case counter per station.

Counters change in the same unit of work as the case (so a batch sees its own
assignments) and by compare-and-set (so replicas never lose an update).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from caseflow_kit.store import Collection, DuplicateKeyError, Query, Store
from caseflow_kit.uow import UnitOfWork

from .domain import CaseFile

CASES = "cases"
LOADS = "station_loads"
COLLECTIONS = [Collection(CASES), Collection(LOADS)]


async def load_case(uow: UnitOfWork, case_id: str) -> tuple[CaseFile, dict[str, Any]] | None:
    doc = await uow.get(CASES, case_id)
    return None if doc is None else (CaseFile.from_doc(doc), doc)


async def save_case(
    uow: UnitOfWork, case: CaseFile, read: dict[str, Any] | None, counters: Counters | None = None
) -> None:
    """Insert a new case, or compare-and-set the one read; move the open-case count with the holder.

    `counters` are counter documents this unit of work already read (saves a second store round trip)."""
    doc = {"_id": case.case_id, **case.to_doc()}
    if read is None:
        uow.add(CASES, doc)
    elif any(read.get(k) != v for k, v in doc.items()):
        uow.update(CASES, {**doc, "_v": read["_v"]})
    before = read.get("open_holder") if read else None
    after = doc["open_holder"]
    if before != after:
        known = counters or Counters()
        if before:
            await _count(uow, before, -1, known)
        if after:
            await _count(uow, after, +1, known)


async def _count(uow: UnitOfWork, code: str, delta: int, known: Counters) -> None:
    doc = known.docs[code] if code in known.docs else await uow.get(LOADS, code)
    if doc is None:  # a station added since the counters were seeded
        uow.put(LOADS, {"_id": code, "open": max(0, delta)})
    else:
        uow.update(LOADS, {**doc, "open": max(0, int(doc["open"]) + delta)})


@dataclass
class Counters:
    """Open-case counter documents as one unit of work read them."""

    docs: dict[str, dict[str, Any] | None] = field(default_factory=dict)

    def loads(self) -> dict[str, int]:
        return {code: int(doc["open"]) if doc else 0 for code, doc in self.docs.items()}


async def read_counters(uow: UnitOfWork, codes: Iterable[str]) -> Counters:
    """The open-case counters of these stations, as this unit of work sees them."""
    ordered = list(codes)
    if len(ordered) == 1:  # the usual case: no task to spawn
        return Counters({ordered[0]: await uow.get(LOADS, ordered[0])})
    docs = await asyncio.gather(*(uow.get(LOADS, code) for code in ordered))
    return Counters(dict(zip(ordered, docs, strict=True)))


async def seed_loads(store: Store, unit_of_work: Callable[[], UnitOfWork], codes: Iterable[str]) -> int:
    """Create a zero counter for every station that has none (at start-up and after a directory reload)."""
    for _ in range(3):
        existing = {doc["_id"] for doc in await store.find(LOADS, Query())}
        missing = [code for code in codes if code not in existing]
        if not missing:
            return 0
        uow = unit_of_work()
        for code in missing:
            uow.add(LOADS, {"_id": code, "open": 0})
        try:
            await uow.commit()
        except DuplicateKeyError:
            continue  # another replica seeded some meanwhile: look again
        return len(missing)
    return 0


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


async def station_load(store: Store, code: str) -> int:
    doc = await store.get(LOADS, code)
    return int(doc["open"]) if doc else 0
