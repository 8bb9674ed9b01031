"""Sla persistence through the shared store port: clocks (with their due-time index) and per-case facts."""

from __future__ import annotations

from typing import Any

from caseflow_kit.store import Collection, Query, Store
from caseflow_kit.uow import UnitOfWork

from .domain import Clock

CLOCKS = "sla_clocks"
CASES = "sla_cases"

COLLECTIONS = [
    Collection(CLOCKS, indexes=("due_at", "started_at")),
    Collection(CASES),
]


class Loaded:
    """A clock as read, with the version its compare-and-set write must match (None: new)."""

    __slots__ = ("clock", "dirty", "version")

    def __init__(self, clock: Clock, version: int | None) -> None:
        self.clock = clock
        self.version = version
        self.dirty = version is None


def save_clocks(uow: UnitOfWork, clocks: dict[str, Loaded]) -> None:
    """Write what changed: new clocks are inserted (unique id), changed ones compare-and-set on their version."""
    for loaded in clocks.values():
        if not loaded.dirty:
            continue
        if loaded.version is None:
            uow.add(CLOCKS, loaded.clock.to_doc())
        else:
            uow.update(CLOCKS, loaded.clock.to_doc(loaded.version))


async def due_clocks(store: Store, now: float, limit: int) -> list[dict[str, Any]]:
    return await store.find(CLOCKS, Query(range_field="due_at", lt=now, order_by="due_at", limit=limit))


async def next_due(store: Store, now: float) -> float | None:
    docs = await store.find(CLOCKS, Query(range_field="due_at", gte=now, order_by="due_at", limit=1))
    return float(docs[0]["due_at"]) if docs else None
