"""Routing's persistence through the shared store port: one document per case, one open-case counter per unit.

Cases go in and out as `CaseFile`s (the codec is here); counters change in the same unit of work as the case
(so a batch sees its own assignments) and by compare-and-set (so replicas never lose an update). A unit's
counter is created the first time it holds a case: a new unit in the directory needs no seeding.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from caseflow_contracts.common import Area, CaseKind, Channel, LadderLevel, Priority
from caseflow_contracts.errors import Refusal
from caseflow_kit.store import Collection, Doc, Store
from caseflow_kit.uow import UnitOfWork

from .domain.case import BreachSeen, CaseFile, Entry, Oversight, Request
from .domain.workflow import State

CASES = "cases"
LOADS = "station_loads"
COLLECTIONS = [Collection(CASES), Collection(LOADS)]


# -- the codec -------------------------------------------------------------------------------------------------


def to_doc(case: CaseFile) -> Doc:
    return {
        "_id": case.case_id,
        "case_id": case.case_id,
        "kind": str(case.kind),
        "priority": str(case.priority),
        "channel": str(case.channel),
        "holder": case.holder,
        "holder_level": str(case.holder_level),
        "level": str(case.level),  # derived, kept for readers of the store
        "supervisor": case.supervisor,
        "state": str(case.state),
        # Indexed: counts the open cases a unit holds (its load).
        "open_holder": case.holder if case.state is not State.CLOSED else None,
        "opened_at": case.opened_at.isoformat(),
        "assigned_at": case.assigned_at.isoformat(),
        "area": case.area.model_dump(mode="json") if case.area else None,
        "epoch": case.epoch,
        "reopen_count": case.reopen_count,
        "closed_at": case.closed_at.isoformat() if case.closed_at else None,
        "oversight": [
            {"level": str(s.level), "supervisor": s.supervisor, "trigger_key": s.trigger_key, "at": s.at.isoformat()}
            for s in case.oversight
        ],
        "breaches": [
            {
                "metric": b.metric,
                "level": str(b.level),
                "deadline_at": b.deadline_at.isoformat(),
                "event_id": b.event_id,
                "withdrawn": b.withdrawn,
            }
            for b in case.breaches
        ],
        "pending": _request_doc(case.pending),
        "triggers": list(case.triggers),
        "history": [
            {"at": e.at.isoformat(), "action": e.action, "holder": e.holder, "level": str(e.level), **e.details}
            for e in case.history
        ],
    }


def _request_doc(request: Request | None) -> Doc | None:
    if request is None:
        return None
    return {**vars(request), "at": request.at.isoformat()}


def from_doc(doc: Doc) -> CaseFile:
    level = LadderLevel(doc.get("holder_level") or doc["level"])
    pending = doc.get("pending")
    return CaseFile(
        case_id=doc["case_id"],
        kind=CaseKind(doc["kind"]),
        priority=Priority(doc["priority"]),
        channel=Channel(doc["channel"]),
        holder=doc["holder"],
        holder_level=level,
        state=State(doc["state"]),
        opened_at=datetime.fromisoformat(doc["opened_at"]),
        assigned_at=datetime.fromisoformat(doc.get("assigned_at") or doc["opened_at"]),
        area=Area.model_validate(doc["area"]) if doc.get("area") else None,
        epoch=int(doc.get("epoch", 0)),
        reopen_count=int(doc.get("reopen_count", 0)),
        closed_at=datetime.fromisoformat(doc["closed_at"]) if doc.get("closed_at") else None,
        oversight=[
            Oversight(LadderLevel(s["level"]), s["supervisor"], s["trigger_key"], datetime.fromisoformat(s["at"]))
            for s in doc.get("oversight", [])
        ],
        breaches=[
            BreachSeen(
                b["metric"],
                LadderLevel(b["level"]),
                datetime.fromisoformat(b["deadline_at"]),
                b["event_id"],
                b["withdrawn"],
            )
            for b in doc.get("breaches", [])
        ],
        pending=Request(**{**pending, "at": datetime.fromisoformat(pending["at"])}) if pending else None,
        triggers=list(doc.get("triggers", [])),
        history=[_entry(e) for e in doc.get("history", [])],
    )


def _entry(doc: Doc) -> Entry:
    details = {k: v for k, v in doc.items() if k not in ("at", "action", "holder", "level")}
    return Entry(datetime.fromisoformat(doc["at"]), doc["action"], doc["holder"], LadderLevel(doc["level"]), details)


# -- cases -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Loaded:
    """A case as one unit of work read it (the document is kept for the compare-and-set)."""

    case: CaseFile
    doc: Doc


async def load_case(uow: UnitOfWork, case_id: str) -> Loaded:
    doc = await uow.get(CASES, case_id)
    if doc is None:
        raise Refusal("unknown_case", f"routing has no case {case_id}")
    return Loaded(from_doc(doc), doc)


async def save_case(uow: UnitOfWork, case: CaseFile, read: Loaded | None, counters: Counters | None = None) -> None:
    """Insert a new case, or compare-and-set the one read; move the open-case count with the holder.

    `counters` are counter documents this unit of work already read (saves a second store round trip)."""
    doc = to_doc(case)
    before = read.doc if read else None
    if before is None:
        uow.add(CASES, doc)
    elif any(before.get(k) != v for k, v in doc.items()):
        uow.update(CASES, {**doc, "_v": before["_v"]})
    was, now = (before or {}).get("open_holder"), doc["open_holder"]
    if was != now:
        known = counters or Counters()
        if was:
            await _count(uow, was, -1, known)
        if now:
            await _count(uow, now, +1, known)


async def _count(uow: UnitOfWork, code: str, delta: int, known: Counters) -> None:
    doc = known.docs[code] if code in known.docs else await uow.get(LOADS, code)
    if doc is None:  # the unit's first case: another writer creating it too is a clash the kit re-runs
        uow.create(LOADS, {"_id": code, "open": max(0, delta)})
    else:
        uow.update(LOADS, {**doc, "open": max(0, int(doc["open"]) + delta)})


@dataclass
class Counters:
    """Open-case counter documents as one unit of work read them."""

    docs: dict[str, Doc | None] = field(default_factory=dict)

    def loads(self) -> dict[str, int]:
        return {code: int(doc["open"]) if doc else 0 for code, doc in self.docs.items()}


async def read_counters(uow: UnitOfWork, codes: Iterable[str]) -> Counters:
    """The open-case counters of these units, as this unit of work sees them."""
    ordered = list(codes)
    if len(ordered) == 1:  # the usual case: no task to spawn
        return Counters({ordered[0]: await uow.get(LOADS, ordered[0])})
    docs = await asyncio.gather(*(uow.get(LOADS, code) for code in ordered))
    return Counters(dict(zip(ordered, docs, strict=True)))


# -- reads for the HTTP edge -----------------------------------------------------------------------------------


async def case_view(store: Store, case_id: str) -> dict[str, Any] | None:
    doc = await store.get(CASES, case_id)
    if doc is None:
        return None
    case = from_doc(doc)
    view = to_doc(case)
    for internal in ("_id", "open_holder", "oversight", "breaches", "epoch"):
        view.pop(internal)
    view["oversight"] = [{"level": str(s.level), "supervisor": s.supervisor} for s in case.oversight]
    return view


async def station_load(store: Store, code: str) -> int:
    doc = await store.get(LOADS, code)
    return int(doc["open"]) if doc else 0
