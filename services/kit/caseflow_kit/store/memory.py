"""In-memory adapter: the port's behaviour with nothing persisted.

For fast tests of a service's handlers and for replays that run the domains in-process
(no broker, no store file). It passes the same contract suite as SQLite and MongoDB.
Documents are kept as JSON text, so a caller never shares state with the store, and what it reads back is
what a real store would give (tuples as lists, keys as strings): a write encodes once, a read decodes once.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import orjson

from .port import (
    OUTBOX,
    Collection,
    ConflictError,
    Delete,
    Doc,
    DuplicateKeyError,
    Insert,
    OutboxMessage,
    OutboxRecord,
    Put,
    Query,
    Replace,
    Scalar,
    Store,
    StoreUnavailableError,
    Write,
    require_slot,
)

#: A stored document: its version, and the document (its `_v` included) as JSON.
_Stored = tuple[int, str]


def _encode(doc: Doc) -> str:
    # As text: the bytes orjson returns keep the whole buffer it wrote into (4 KiB for a small document), and a
    # replay holds every open case's documents.
    return orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS).decode()


def _decode(stored: _Stored) -> Doc:
    doc: Doc = orjson.loads(stored[1])
    return doc


def _sort_key(value: Any) -> tuple[int, Any]:
    """None first, then numbers, then strings: one total order, like the other adapters' indexes."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool | int | float):
        return (1, value)
    return (2, str(value))


class MemoryStore(Store):
    def __init__(self) -> None:
        self._collections: dict[str, Collection] = {}
        self._docs: dict[str, dict[str, _Stored]] = {}
        self._outbox: dict[int, OutboxRecord] = {}
        self._seq = itertools.count(1)
        self._open = False

    async def open(self, collections: Sequence[Collection]) -> None:
        for c in collections:
            self._collections[c.name] = c
            self._docs.setdefault(c.name, {})
        self._open = True

    async def close(self) -> None:
        self._open = False

    async def ping(self) -> None:
        if not self._open:
            raise StoreUnavailableError("store is not open")

    def _table(self, collection: str) -> dict[str, _Stored]:
        if not self._open:
            raise StoreUnavailableError("store is not open")
        if collection not in self._docs:
            raise KeyError(f"unknown collection {collection!r}")
        return self._docs[collection]

    async def get(self, collection: str, key: str) -> Doc | None:
        stored = self._table(collection).get(key)
        return _decode(stored) if stored is not None else None

    def _docs_of(self, collection: str) -> list[Doc]:
        return [_decode(stored) for stored in self._table(collection).values()]

    @staticmethod
    def _matches(doc: Doc, query: Query) -> bool:
        if any(doc.get(f) != v for f, v in query.where.items()):
            return False
        if query.range_field:
            value: Scalar = doc.get(query.range_field)
            if value is None:
                return query.gte is None and query.lt is None
            if query.gte is not None and _sort_key(value) < _sort_key(query.gte):
                return False
            if query.lt is not None and _sort_key(value) >= _sort_key(query.lt):
                return False
        return True

    async def find(self, collection: str, query: Query) -> list[Doc]:
        found = [d for d in self._docs_of(collection) if self._matches(d, query)]
        if query.order_by:
            # Ties in the order the documents were first written (a dict keeps it; the sort is stable), reversed
            # with the order, as the other adapters' indexes give them.
            order_by = query.order_by
            if query.descending:
                found.reverse()
            found.sort(key=lambda d: _sort_key(d.get(order_by)), reverse=query.descending)
        else:
            found.sort(key=lambda d: d["_id"])
        if query.limit is not None:
            found = found[: query.limit]
        return found

    async def count(self, collection: str, query: Query) -> int:
        if collection == OUTBOX:
            return len(self._outbox)
        return sum(1 for d in self._docs_of(collection) if self._matches(d, query))

    async def delete_where(self, collection: str, query: Query) -> int:
        table = self._table(collection)
        doomed = [d["_id"] for d in self._docs_of(collection) if self._matches(d, query)]
        for key in doomed:
            del table[key]
        return len(doomed)

    async def commit(self, writes: Sequence[Write]) -> list[OutboxRecord]:
        # All or nothing: each write remembers what it replaced, and a failing write undoes the ones before it.
        # (Copying the tables per commit cost time in proportion to everything stored: a replay of a long period
        # spent most of its time there.)
        undo: list[tuple[dict[str, _Stored], str, _Stored | None]] = []
        outbox: list[OutboxRecord] = []
        try:
            for w in writes:
                if isinstance(w, OutboxMessage):
                    require_slot(w)
                    outbox.append(OutboxRecord(str(next(self._seq)), w))
                else:
                    self._apply(w, undo)
        except BaseException:
            for table, key, before in reversed(undo):
                if before is None:
                    table.pop(key, None)
                else:
                    table[key] = before
            raise
        self._outbox.update((int(r.id), r) for r in outbox)
        return outbox

    def _apply(
        self, w: Insert | Replace | Put | Delete, undo: list[tuple[dict[str, _Stored], str, _Stored | None]]
    ) -> None:
        table = self._table(w.collection)
        if isinstance(w, Delete):
            if w.key in table:
                undo.append((table, w.key, table.pop(w.key)))
            return
        key = w.doc["_id"]
        current = table.get(key)
        if isinstance(w, Insert):
            if current is not None:
                raise DuplicateKeyError(w.collection, f"_id {key}")
            version = 1
        elif isinstance(w, Replace):
            if (current[0] if current is not None else 0) != w.expected_version:
                raise ConflictError(w.collection, key)
            version = w.expected_version + 1
        else:
            version = current[0] + 1 if current is not None else 1
        for unique in self._collections[w.collection].unique:
            value = w.doc.get(unique)
            if isinstance(value, str) and any(
                other.get(unique) == value for other in self._docs_of(w.collection) if other["_id"] != key
            ):
                raise DuplicateKeyError(w.collection, f"{unique} {value}")
        undo.append((table, key, current))
        table[key] = (version, _encode({**w.doc, "_v": version}))

    async def outbox_pending(self, limit: int, slots: frozenset[int] | None = None) -> list[OutboxRecord]:
        rows = [r for _, r in sorted(self._outbox.items()) if slots is None or r.message.slot in slots]
        return rows[:limit]

    async def outbox_done(self, ids: Sequence[str]) -> None:
        for i in ids:
            self._outbox.pop(int(i), None)
