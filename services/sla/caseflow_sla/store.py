"""sla's persistence through the kit's store port: typed records in and out, documents only here.

- `sla_clocks`: one document per clock; `timer` ("<slot>|<due time>") indexes the clocks a timer must look at,
  so each replica finds its own slots' due clocks with one index range per slot.
- `sla_cases`: what sla knows of each case (CaseFacts), with its clocks' ids.
- `sla_qa`: the QA scorecard, one line per charge (reversed in place).
- `sla_chargebacks`: chargebacks (and their reversals) per station, from claims.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from caseflow_kit.store import Collection, Query, Store
from caseflow_kit.uow import UnitOfWork

from .domain import CaseClocks, CaseFacts, Chargeback, Clock, Outcome, QaEntry, QaMark, State

CLOCKS = "sla_clocks"
CASES = "sla_cases"
QA = "sla_qa"
CHARGEBACKS = "sla_chargebacks"

COLLECTIONS = [
    Collection(CLOCKS, indexes=("timer", "started_at")),
    Collection(CASES, indexes=("received_at",)),
    Collection(QA, indexes=("station", "at")),
    Collection(CHARGEBACKS, indexes=("at",)),
]


# clocks ---------------------------------------------------------------------------------------------

_CLOCK_NAMES = tuple(f.name for f in fields(Clock))
_MARK_NAMES = tuple(f.name for f in fields(QaMark))
_CLOCK_FIELDS = frozenset(_CLOCK_NAMES)


def timer_key(slot: int, due_at: float) -> str:
    """Sorts by slot, then due time: due clocks of one slot are one index range."""
    return f"{slot:04d}|{due_at:020.6f}"


def _fields_of(record: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """A record's fields, shallow (dataclasses.asdict deep-copies every value: most of the timers' time)."""
    return {name: value for name in names if (value := getattr(record, name)) is not None}


def clock_doc(clock: Clock, slot: int, version: int | None = None) -> dict[str, Any]:
    doc = _fields_of(clock, _CLOCK_NAMES)
    if clock.qa is not None:
        doc["qa"] = _fields_of(clock.qa, _MARK_NAMES)
    doc["_id"] = clock.id
    if clock.due_at is not None:
        doc["timer"] = timer_key(slot, clock.due_at)
    if version is not None:
        doc["_v"] = version
    return doc


def clock_of(doc: dict[str, Any]) -> Clock:
    values = {k: v for k, v in doc.items() if k in _CLOCK_FIELDS}
    for name in ("channel", "station", "calendar"):  # absent when None
        values.setdefault(name, None)
    values["state"] = State(values["state"])
    if values.get("outcome") is not None:
        values["outcome"] = Outcome(values["outcome"])
    if values.get("qa") is not None:
        values["qa"] = QaMark(**values["qa"])
    if "correlation_id" not in values and isinstance(doc.get("extra"), dict):  # stored before 1.2
        values["correlation_id"] = doc["extra"].get("correlation_id")
    return Clock(**values)


def save_clock(uow: UnitOfWork, clock: Clock, version: int | None) -> None:
    """A new clock is inserted (unique id); a clock read before is replaced if its version still holds."""
    doc = clock_doc(clock, uow.owner_slot(clock.case_id), version)
    if version is None:
        uow.add(CLOCKS, doc)
    else:
        uow.update(CLOCKS, doc)


async def due_clocks(store: Store, now: float, limit: int, slots: frozenset[int]) -> list[dict[str, Any]]:
    """Clocks of these slots due before `now`, soonest first."""
    found: list[dict[str, Any]] = []
    for slot in sorted(slots):
        query = Query(
            range_field="timer", gte=timer_key(slot, 0), lt=timer_key(slot, now), order_by="timer", limit=limit
        )
        found += await store.find(CLOCKS, query)
    found.sort(key=lambda d: float(d["due_at"]))
    return found[:limit]


async def next_due(store: Store, now: float, slots: frozenset[int]) -> float | None:
    soonest: float | None = None
    for slot in sorted(slots):
        query = Query(range_field="timer", gte=timer_key(slot, now), lt=f"{slot:04d}|~", order_by="timer", limit=1)
        for doc in await store.find(CLOCKS, query):
            due = float(doc["due_at"])
            soonest = due if soonest is None else min(soonest, due)
    return soonest


# cases ----------------------------------------------------------------------------------------------

_FACT_NAMES = tuple(f.name for f in fields(CaseFacts))
_FACT_FIELDS = frozenset(_FACT_NAMES)


def facts_doc(facts: CaseFacts) -> dict[str, Any]:
    doc = _fields_of(facts, _FACT_NAMES)
    doc["payouts"] = {k: list(v) for k, v in facts.payouts.items()}
    doc["clock_ids"] = list(facts.clock_ids)
    doc["_id"] = facts.case_id
    return doc


def facts_of(doc: dict[str, Any]) -> CaseFacts:
    # Lists copied: the aggregate appends to them, and the document read must stay as read (change detection).
    values: dict[str, Any] = {k: list(v) if isinstance(v, list) else v for k, v in doc.items() if k in _FACT_FIELDS}
    values["payouts"] = {k: (int(v[0]), str(v[1])) for k, v in values.get("payouts", {}).items()}
    return CaseFacts(**values)


@dataclass
class StoredCase:
    """A case as read: its facts and clocks, and the documents they came from (versions, change detection)."""

    facts: CaseFacts
    clocks: dict[str, Clock]
    docs: dict[str, dict[str, Any]] = field(default_factory=dict)


async def load_case(uow: UnitOfWork, case_id: str) -> StoredCase:
    """The case and its clocks, read through the unit of work (earlier records of the same batch are seen)."""
    doc = await uow.get(CASES, case_id)
    if doc is None:
        return StoredCase(CaseFacts(case_id), {})
    stored = StoredCase(facts_of(doc), {}, {case_id: doc})
    for key in stored.facts.clock_ids:
        clock_doc_ = await uow.get(CLOCKS, key)
        if clock_doc_ is not None:
            stored.clocks[key] = clock_of(clock_doc_)
            stored.docs[key] = clock_doc_
    return stored


def _changed(new: dict[str, Any], old: dict[str, Any] | None) -> bool:
    return old is None or {k: v for k, v in old.items() if k != "_v"} != new


def save_case(uow: UnitOfWork, stored: StoredCase, case: CaseClocks) -> list[Clock]:
    """Write what changed (compare-and-set on the versions read) and the case's QA lines and chargebacks;
    return the clocks written."""
    slot = uow.owner_slot(case.facts.case_id)
    written = []
    for key, clock in case.clocks.items():
        old = stored.docs.get(key)
        doc = clock_doc(clock, slot)
        if _changed(doc, old):
            written.append(clock)
            if old is None:
                uow.add(CLOCKS, doc)
            else:
                uow.update(CLOCKS, {**doc, "_v": old["_v"]})
    old_case = stored.docs.get(case.facts.case_id)
    doc = facts_doc(case.facts)
    if old_case is None:
        if doc != facts_doc(CaseFacts(case.facts.case_id)):  # nothing learnt of an unknown case: nothing kept
            uow.create(CASES, doc)
    elif _changed(doc, old_case):
        uow.update(CASES, {**doc, "_v": old_case["_v"]})
    put_entries(uow, [*case.charges, *case.reversals])
    for chargeback in case.chargebacks:
        uow.put(CHARGEBACKS, {"_id": chargeback.entry_id, **_fields_of(chargeback, _CHARGEBACK_NAMES)})
    return written


_CHARGEBACK_NAMES = tuple(f.name for f in fields(Chargeback))


def chargeback_of(doc: dict[str, Any]) -> Chargeback:
    """The inverse of `_fields_of`: a field it left out was None (the kind of a case sla never saw opened)."""
    values: dict[str, Any] = {name: doc.get(name) for name in _CHARGEBACK_NAMES}
    return Chargeback(**values)


# the QA scorecard ---------------------------------------------------------------------------------

_ENTRY_NAMES = tuple(f.name for f in fields(QaEntry))
_ENTRY_FIELDS = frozenset(_ENTRY_NAMES)


def put_entries(uow: UnitOfWork, entries: list[QaEntry]) -> None:
    """Scorecard lines are a projection of the charges and reversals: written whole, idempotently."""
    for entry in entries:
        uow.put(QA, {"_id": entry.entry_id, **_fields_of(entry, _ENTRY_NAMES)})


def entry_of(doc: dict[str, Any]) -> QaEntry:
    return QaEntry(**{k: v for k, v in doc.items() if k in _ENTRY_FIELDS})


async def scorecard(store: Store, station: str | None, period: str) -> list[QaEntry]:
    where = {"period": period} | ({"station": station} if station else {})
    return sorted((entry_of(d) for d in await store.find(QA, Query(where=where))), key=lambda e: (e.at, e.case_id))


# reads for the KPIs ---------------------------------------------------------------------------------


async def window(
    store: Store, start: float, end: float
) -> tuple[list[CaseFacts], list[Clock], list[QaEntry], list[Chargeback]]:
    """Cases received, clocks started, QA points and chargebacks charged in [start, end)."""
    cases = await store.find(CASES, Query(range_field="received_at", gte=start, lt=end))
    clocks = await store.find(CLOCKS, Query(range_field="started_at", gte=start, lt=end))
    entries = await store.find(QA, Query(range_field="at", gte=start, lt=end))
    chargebacks = await store.find(CHARGEBACKS, Query(range_field="at", gte=start, lt=end))
    return (
        [facts_of(d) for d in cases],
        [clock_of(d) for d in clocks],
        [entry_of(d) for d in entries],
        [chargeback_of(d) for d in chargebacks],
    )
