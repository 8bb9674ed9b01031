"""MongoDB adapter over PyMongo's asyncio API (AsyncMongoClient).

On a replica set (production) a commit is one multi-document transaction.
A standalone server or the in-memory mock has no transactions: writes are then
applied in order without atomicity, which is acceptable only outside production.

Every driver error is translated into the port's (see `_translated`): a server
that cannot be reached or is failing over stops progress (retry), a transaction
that clashed with another is re-run with fresh reads, and a commit whose result
is unknown is committed again (MongoDB makes that retry idempotent).
"""

from __future__ import annotations

import contextlib
import inspect
import os
import time
from collections.abc import Iterator, Sequence
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import ConnectionFailure, ExecutionTimeout, OperationFailure, PyMongoError, WriteConcernError
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
    require_slot,
)

#: Server error codes of a node that cannot serve now (stepping down, shutting down, not primary).
_NOT_SERVING = frozenset({91, 189, 10107, 11600, 11602, 13435, 13436})
_WRITE_CONFLICT = 112
#: How often a commit whose outcome the driver could not learn is committed again.
COMMIT_ATTEMPTS = 5


@contextlib.contextmanager
def _translated(collection: str = "transaction") -> Iterator[None]:
    try:
        yield
    except MongoDuplicateKeyError as exc:
        raise DuplicateKeyError(collection, str(exc)) from None
    except PyMongoError as exc:
        # The server aborted the transaction (a clash, or a network error mid-transaction): MongoDB's own
        # advice is to run the whole transaction again, which for us is re-running the record.
        if exc.has_error_label("TransientTransactionError") or getattr(exc, "code", None) == _WRITE_CONFLICT:
            raise ConflictError(collection, f"transaction aborted by the server: {type(exc).__name__}") from exc
        if isinstance(exc, ConnectionFailure | ExecutionTimeout | WriteConcernError) or (
            isinstance(exc, OperationFailure)
            and (exc.code in _NOT_SERVING or exc.has_error_label("RetryableWriteError"))
        ):
            raise StoreUnavailableError(f"{type(exc).__name__}: {exc}") from exc
        raise


class _OutboxIds:
    """Outbox ids that sort in this process's commit order: wall-clock nanoseconds, never repeating,
    then a random process tag so that two processes never collide."""

    def __init__(self) -> None:
        self._last = 0
        self._tag = os.urandom(4).hex()

    def next(self) -> str:
        self._last = max(self._last + 1, time.time_ns())
        return f"{self._last:020d}-{self._tag}"


class MongoStore(Store):
    def __init__(self, client: Any, database: str, *, transactions: bool | None = None) -> None:
        self._client = client
        self._db = client[database]
        self._transactions = transactions
        self._ids = _OutboxIds()

    async def open(self, collections: Sequence[Collection]) -> None:
        with _translated():
            if self._transactions is None:
                hello = await self._db.command("hello")
                self._transactions = bool(hello.get("setName") or hello.get("msg") == "isdbgrid")
            await self._db[OUTBOX].create_index([("slot", ASCENDING), ("_id", ASCENDING)])
            for c in collections:
                for fields in c.index_fields():
                    await self._db[c.name].create_index([(f, ASCENDING) for f in fields])
                for f in c.unique:
                    # Unique fields hold strings; documents without one (absent or null) never collide.
                    await self._db[c.name].create_index(
                        [(f, ASCENDING)],
                        unique=True,
                        partialFilterExpression={f: {"$type": "string"}},
                    )

    async def close(self) -> None:
        closing = self._client.close()
        if inspect.isawaitable(closing):  # the in-memory mock closes synchronously
            await closing

    async def ping(self) -> None:
        with _translated():
            await self._db.command("ping")

    async def get(self, collection: str, key: str) -> Doc | None:
        with _translated(collection):
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
        with _translated(collection):
            cursor = self._db[collection].find(self._filter(query))
            if query.order_by:
                direction = DESCENDING if query.descending else ASCENDING
                # By the field alone, which its index serves whole: ties come in the index's order, the order the
                # documents were first written (WiredTiger ends every key of a non-unique index with the record id).
                cursor = cursor.sort([(query.order_by, direction)])
            if query.limit is not None:
                cursor = cursor.limit(query.limit)
            return list(await cursor.to_list(None))

    async def count(self, collection: str, query: Query) -> int:
        with _translated(collection):
            return int(await self._db[collection].count_documents(self._filter(query)))

    async def delete_where(self, collection: str, query: Query) -> int:
        with _translated(collection):
            result = await self._db[collection].delete_many(self._filter(query))
        return int(result.deleted_count)

    async def commit(self, writes: Sequence[Write]) -> list[OutboxRecord]:
        outbox: list[OutboxRecord] = []
        with _translated():
            if not self._transactions:
                for w in writes:
                    await self._apply(w, None, outbox)
                return outbox
            async with self._client.start_session() as session:
                await session.start_transaction()
                try:
                    for w in writes:
                        await self._apply(w, session, outbox)
                except BaseException:
                    with contextlib.suppress(PyMongoError):
                        await session.abort_transaction()
                    raise
                await self._commit_transaction(session)
        return outbox

    @staticmethod
    async def _commit_transaction(session: Any) -> None:
        """Commit; when the driver cannot tell whether the commit took, commit again (idempotent on the server)."""
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            try:
                await session.commit_transaction()
                return
            except PyMongoError as exc:
                if not exc.has_error_label("UnknownTransactionCommitResult"):
                    raise
                if attempt == COMMIT_ATTEMPTS:
                    raise StoreUnavailableError(f"commit outcome unknown after {attempt} attempts: {exc}") from exc

    async def _apply(self, w: Write, session: Any, outbox: list[OutboxRecord]) -> None:
        if isinstance(w, OutboxMessage):
            outbox_id = self._ids.next()
            record = {
                "_id": outbox_id,
                "topic": w.topic,
                "key": w.key,
                "value": w.value,
                "headers": dict(w.headers),
                "slot": require_slot(w),
            }
            await self._db[OUTBOX].insert_one(record, session=session)
            outbox.append(OutboxRecord(outbox_id, w))
            return
        coll = self._db[w.collection]
        with _translated(w.collection):
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

    async def outbox_pending(self, limit: int, slots: frozenset[int] | None = None) -> list[OutboxRecord]:
        flt: dict[str, Any] = {} if slots is None else {"slot": {"$in": sorted(slots)}}
        with _translated(OUTBOX):
            docs = await self._db[OUTBOX].find(flt).sort([("_id", ASCENDING)]).limit(limit).to_list(None)
        return [
            OutboxRecord(
                d["_id"],
                OutboxMessage(d["topic"], d["key"], bytes(d["value"]), d.get("headers", {}), slot=d.get("slot", 0)),
            )
            for d in docs
        ]

    async def outbox_done(self, ids: Sequence[str]) -> None:
        if ids:
            with _translated(OUTBOX):
                await self._db[OUTBOX].delete_many({"_id": {"$in": list(ids)}})
