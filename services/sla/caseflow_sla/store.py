"""Sla persistence through the shared store port: clocks (with their due-time index) and per-case facts."""

from __future__ import annotations

from typing import Any

from caseflow_kit.store import Collection, Query, Store
from caseflow_kit.uow import UnitOfWork

from .domain import Clock

CLOCKS = "sla_clocks"
CASES = "sla_cases"

COLLECTIONS = [
    Collection(CLOCKS, indexes=("due_at", "started_at", "slot")),
    Collection(CASES),
]


class Loaded:
    """A clock as read, with the version its compare-and-set write must match (None: new)."""

    __slots__ = ("clock", "dirty", "version")

    def __init__(self, clock: Clock, version: int | None) -> None:
        self.clock = clock
        self.version = version
        self.dirty = version is None


def clock_doc(uow: UnitOfWork, clock: Clock, version: int | None = None) -> dict[str, Any]:
    """A clock as stored, with the slot of its case: only the replica holding that slot fires it."""
    return {**clock.to_doc(version), "slot": uow.owner_slot(clock.case_id)}


def save_clocks(uow: UnitOfWork, clocks: dict[str, Loaded]) -> None:
    """Write what changed: new clocks are inserted (unique id), changed ones compare-and-set on their version."""
    for loaded in clocks.values():
        if not loaded.dirty:
            continue
        if loaded.version is None:
            uow.add(CLOCKS, clock_doc(uow, loaded.clock))
        else:
            uow.update(CLOCKS, clock_doc(uow, loaded.clock, loaded.version))


async def due_clocks(store: Store, now: float, limit: int, slots: frozenset[int]) -> list[dict[str, Any]]:
    """Clocks of these slots due before `now`, soonest first."""
    found: list[dict[str, Any]] = []
    for slot in sorted(slots):
        query = Query(where={"slot": slot}, range_field="due_at", lt=now, order_by="due_at", limit=limit)
        found += await store.find(CLOCKS, query)
    found.sort(key=lambda d: float(d["due_at"]))
    return found[:limit]


async def next_due(store: Store, now: float, slots: frozenset[int]) -> float | None:
    soonest: float | None = None
    for slot in sorted(slots):
        query = Query(where={"slot": slot}, range_field="due_at", gte=now, order_by="due_at", limit=1)
        for doc in await store.find(CLOCKS, query):
            due = float(doc["due_at"])
            soonest = due if soonest is None else min(soonest, due)
    return soonest
