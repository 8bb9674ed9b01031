"""MongoDB adapter over PyMongo's asyncio API (AsyncMongoClient).

On a replica set (production) a commit is one multi-document transaction.
A standalone server or the in-memory mock has no transactions: writes are then
applied in order without atomicity, which is acceptable only outside production.
"""

from __future__ import annotations

import inspect
import itertools
import time
from collections.abc import Sequence
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import ConnectionFailure, ServerSelectionTimeoutError
from pymongo.errors import DuplicateKeyError as MongoDuplicateKeyError

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
    Store,
    StoreUnavailableError,
    Write,
)

_sequence = itertools.count()


def _outbox_id() -> str:
    """Sortable id: wall-clock nanoseconds, then a process-local counter."""
    return f"{time.time_ns():020d}{next(_sequence) % 10**6:06d}"


class MongoStore(Store):
    def __init__(self, client: Any, database: str, *, transactions: bool | None = None) -> None:
        self._client = client
        self._db = client[database]
        self._transactions = transactions

    async def open(self, collections: Sequence[Collection]) -> None:
        try:
            if self._transactions is None:
                hello = await self._db.command("hello")
                self._transactions = bool(hello.get("setName") or hello.get("msg") == "isdbgrid")
            for c in collections:
                for f in c.indexes:
                    await self._db[c.name].create_index([(f, ASCENDING)])
                for f in c.unique:
                    # Unique fields hold strings; documents without one (absent or null) never collide.
                    await self._db[c.name].create_index(
                        [(f, ASCENDING)],
                        unique=True,
                        partialFilterExpression={f: {"$type": "string"}},
                    )
        except (ConnectionFailure, ServerSelectionTimeoutError) as exc:
            raise StoreUnavailableError(str(exc)) from exc

    async def close(self) -> None:
        closing = self._client.close()
        if inspect.isawaitable(closing):  # the in-memory mock closes synchronously
            await closing

    async def ping(self) -> None:
        try:
            await self._db.command("ping")
        except (ConnectionFailure, ServerSelectionTimeoutError) as exc:
            raise StoreUnavailableError(str(exc)) from exc

    async def get(self, collection: str, key: str) -> Doc | None:
        doc: Doc | None = await self._db[collection].find_one({"_id": key})
        return doc

    @staticmethod
    def _filter(query: Query) -> dict[str, Any]:
        flt: dict[str, Any] = dict(query.where)
        if query.range_field:
            bounds = {}
            if query.gte is not None:
                bounds["$gte"] = query.gte
            if query.lt is not None:
                bounds["$lt"] = query.lt
            if bounds:
                flt[query.range_field] = bounds
        return flt

    async def find(self, collection: str, query: Query) -> list[Doc]:
        cursor = self._db[collection].find(self._filter(query))
        if query.order_by:
            direction = DESCENDING if query.descending else ASCENDING
            cursor = cursor.sort([(query.order_by, direction), ("_id", ASCENDING)])
        if query.limit is not None:
            cursor = cursor.limit(query.limit)
        return list(await cursor.to_list(None))

    async def count(self, collection: str, query: Query) -> int:
        return int(await self._db[collection].count_documents(self._filter(query)))

    async def delete_where(self, collection: str, query: Query) -> int:
        result = await self._db[collection].delete_many(self._filter(query))
        return int(result.deleted_count)

    async def commit(self, writes: Sequence[Write]) -> list[OutboxRecord]:
        outbox: list[OutboxRecord] = []
        try:
            if not self._transactions:
                for w in writes:
                    await self._apply(w, None, outbox)
                return outbox
            async with self._client.start_session() as session, await session.start_transaction():
                for w in writes:
                    await self._apply(w, session, outbox)
        except (ConnectionFailure, ServerSelectionTimeoutError) as exc:
            raise StoreUnavailableError(str(exc)) from exc
        return outbox

    async def _apply(self, w: Write, session: Any, outbox: list[OutboxRecord]) -> None:
        if isinstance(w, OutboxMessage):
            outbox_id = _outbox_id()
            record = {"_id": outbox_id, "topic": w.topic, "key": w.key, "value": w.value, "headers": dict(w.headers)}
            await self._db[OUTBOX].insert_one(record, session=session)
            outbox.append(OutboxRecord(outbox_id, w))
            return
        coll = self._db[w.collection]
        try:
            if isinstance(w, Insert):
                await coll.insert_one({**w.doc, "_v": 1}, session=session)
            elif isinstance(w, Replace) and w.expected_version == 0:
                doc = {**w.doc, "_v": 1}
                created = await coll.update_one(
                    {"_id": w.doc["_id"]}, {"$setOnInsert": doc}, upsert=True, session=session
                )
                if created.upserted_id is None:
                    raise ConflictError(w.collection, w.doc["_id"])
            elif isinstance(w, Replace):
                doc = {**w.doc, "_v": w.expected_version + 1}
                result = await coll.replace_one({"_id": w.doc["_id"], "_v": w.expected_version}, doc, session=session)
                if result.matched_count != 1:
                    raise ConflictError(w.collection, w.doc["_id"])
            elif isinstance(w, Put):
                existing = await coll.find_one({"_id": w.doc["_id"]}, {"_v": 1}, session=session)
                doc = {**w.doc, "_v": (existing["_v"] + 1) if existing else 1}
                await coll.replace_one({"_id": w.doc["_id"]}, doc, upsert=True, session=session)
            elif isinstance(w, Delete):
                await coll.delete_one({"_id": w.key}, session=session)
        except MongoDuplicateKeyError as exc:
            raise DuplicateKeyError(w.collection, str(exc)) from None

    async def outbox_pending(self, limit: int) -> list[OutboxRecord]:
        docs = await self._db[OUTBOX].find({}).sort([("_id", ASCENDING)]).limit(limit).to_list(None)
        return [
            OutboxRecord(d["_id"], OutboxMessage(d["topic"], d["key"], bytes(d["value"]), d.get("headers", {})))
            for d in docs
        ]

    async def outbox_done(self, ids: Sequence[str]) -> None:
        if ids:
            await self._db[OUTBOX].delete_many({"_id": {"$in": list(ids)}})
