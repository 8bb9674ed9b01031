"""SQLite adapter: one file per service, WAL, every commit one IMMEDIATE transaction."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

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
    Store,
    StoreUnavailableError,
    Write,
    require_slot,
)

T = TypeVar("T")
#: What sqlite3 raises when the file cannot be used now (locked past the busy timeout, an I/O error, a
#: full disk, a file that cannot be opened): retry later. IntegrityError (a unique key) is mapped where
#: it can happen; anything else is a bug and surfaces as one.
_UNAVAILABLE = (sqlite3.OperationalError,)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


#: Turning a new file to WAL needs it alone, and while another connection holds a lock on it (a second replica
#: opening the same file at the same moment) SQLite answers "database is locked" at once, without its busy
#: handler (1 start in ~150 of two replicas at once, measured): try again, a bounded number of times.
WAL_ATTEMPTS = 200
WAL_RETRY_S = 0.01


def to_wal(db: sqlite3.Connection, *, pause: Callable[[float], None] = time.sleep) -> None:
    for attempt in range(1, WAL_ATTEMPTS + 1):
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == WAL_ATTEMPTS:
                raise
            pause(WAL_RETRY_S)


def _name(text: str) -> str:
    if not _NAME.match(text):
        raise ValueError(f"not a valid collection or field name: {text!r}")
    return text


def _field(name: str) -> str:
    return f"json_extract(doc, '$.{_name(name)}')"


def _row_to_doc(row: tuple[str, int, str]) -> Doc:
    doc: Doc = orjson.loads(row[2])
    doc["_id"], doc["_v"] = row[0], row[1]
    return doc


def _body(doc: Doc) -> str:
    body = {k: v for k, v in doc.items() if k not in ("_id", "_v")}
    return orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS).decode()


class SqliteStore(Store):
    def __init__(self, path: str | Path) -> None:
        self._path = str(path)
        # sqlite3 calls block: they run on one dedicated thread, in order.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._db: sqlite3.Connection | None = None
        # Point reads by primary key take microseconds: they run on the event loop through a second
        # connection (WAL lets it read while the writer writes), saving a thread hop per read.
        self._reader: sqlite3.Connection | None = None
        self._collections: set[str] = set()

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        db = self._db
        if db is None:
            raise StoreUnavailableError("store is not open")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn, db)
        except _UNAVAILABLE as exc:
            raise StoreUnavailableError(f"{type(exc).__name__}: {exc}") from exc

    async def open(self, collections: Sequence[Collection]) -> None:
        if self._path != ":memory:":
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        loop = asyncio.get_running_loop()
        self._db = await loop.run_in_executor(self._executor, self._connect)
        all_collections = [*collections, Collection(OUTBOX)]
        await self._run(lambda db: self._create(db, all_collections))
        self._collections = {c.name for c in all_collections}
        if self._path != ":memory:":
            self._reader = await loop.run_in_executor(self._executor, self._connect)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False, timeout=30)
        to_wal(db)
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=30000")
        return db

    @staticmethod
    def _create(db: sqlite3.Connection, collections: Sequence[Collection]) -> None:
        db.execute(
            f"CREATE TABLE IF NOT EXISTS {OUTBOX} (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
            " topic TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, headers TEXT NOT NULL,"
            " slot INTEGER NOT NULL DEFAULT 0)"
        )
        columns = {row[1] for row in db.execute(f"PRAGMA table_info({OUTBOX})")}
        if "slot" not in columns:  # a store written before outbox rows had owners: its leftovers go to slot 0
            db.execute(f"ALTER TABLE {OUTBOX} ADD COLUMN slot INTEGER NOT NULL DEFAULT 0")
        db.execute(f"CREATE INDEX IF NOT EXISTS ix_{OUTBOX}_slot ON {OUTBOX}(slot, seq)")
        for c in collections:
            if c.name == OUTBOX:
                continue
            table = _name(c.name)
            db.execute(
                f"CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY, v INTEGER NOT NULL, doc TEXT NOT NULL)"
            )
            for fields in c.index_fields():
                index, expressions = "_".join(map(_name, fields)), ", ".join(map(_field, fields))
                db.execute(f"CREATE INDEX IF NOT EXISTS ix_{table}_{index} ON {table}({expressions})")
            for f in c.unique:
                db.execute(
                    f"CREATE UNIQUE INDEX IF NOT EXISTS ux_{table}_{_name(f)} ON {table}({_field(f)})"
                    f" WHERE {_field(f)} IS NOT NULL"
                )

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._db is not None:
            db, self._db = self._db, None
            await asyncio.get_running_loop().run_in_executor(self._executor, db.close)
        self._executor.shutdown(wait=True)

    async def ping(self) -> None:
        await self._run(lambda db: db.execute("SELECT 1").fetchone())

    async def get(self, collection: str, key: str) -> Doc | None:
        table = self._table(collection)
        sql = f"SELECT id, v, doc FROM {table} WHERE id = ?"
        row = await self._read(lambda db: db.execute(sql, (key,)).fetchone())
        return _row_to_doc(row) if row else None

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Reads run on the event loop through the reading connection (WAL lets it read while the writer
        writes): a query takes microseconds, a hop to the writer's thread and back costs more than that."""
        if self._reader is None:
            return await self._run(fn)
        try:
            return fn(self._reader)
        except _UNAVAILABLE as exc:
            raise StoreUnavailableError(f"{type(exc).__name__}: {exc}") from exc

    def _table(self, collection: str) -> str:
        if collection not in self._collections:
            raise KeyError(f"unknown collection {collection!r}")
        return collection

    @staticmethod
    def _where(query: Query) -> tuple[str, list[Any]]:
        clauses, args = [], []
        for f, value in query.where.items():
            if value is None:
                clauses.append(f"{_field(f)} IS NULL")
            else:
                clauses.append(f"{_field(f)} = ?")
                args.append(value)
        if query.range_field:
            if query.gte is not None:
                clauses.append(f"{_field(query.range_field)} >= ?")
                args.append(query.gte)
            if query.lt is not None:
                clauses.append(f"{_field(query.range_field)} < ?")
                args.append(query.lt)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), args

    async def find(self, collection: str, query: Query) -> list[Doc]:
        table = self._table(collection)
        sql, args = self.select(table, query)
        rows = await self._read(lambda db: db.execute(sql, args).fetchall())
        return [_row_to_doc(r) for r in rows]

    @classmethod
    def select(cls, table: str, query: Query) -> tuple[str, list[Any]]:
        """The statement `find` runs. Ties of the order go by rowid, the order the documents were first written, in
        the order's direction: every index ends with the rowid, so the index of the field serves the order whole.
        By id, SQLite sorted every document sharing the value on each query (thousands due at one instant)."""
        where, args = cls._where(query)
        sql = f"SELECT id, v, doc FROM {table}{where}"
        if query.order_by:
            direction = "DESC" if query.descending else "ASC"
            sql += f" ORDER BY {_field(query.order_by)} {direction}, rowid {direction}"
        if query.limit is not None:
            sql += " LIMIT ?"
            args.append(query.limit)
        return sql, args

    async def count(self, collection: str, query: Query) -> int:
        if collection == OUTBOX:
            return int((await self._read(lambda db: db.execute(f"SELECT count(*) FROM {OUTBOX}").fetchone()))[0])
        table = self._table(collection)
        where, args = self._where(query)
        row = await self._read(lambda db: db.execute(f"SELECT count(*) FROM {table}{where}", args).fetchone())
        return int(row[0])

    async def delete_where(self, collection: str, query: Query) -> int:
        table = self._table(collection)
        where, args = self._where(query)
        return await self._run(lambda db: db.execute(f"DELETE FROM {table}{where}", args).rowcount)

    async def commit(self, writes: Sequence[Write]) -> list[OutboxRecord]:
        for w in writes:
            if not isinstance(w, OutboxMessage):
                self._table(w.collection)
        return await self._run(lambda db: self._commit(db, writes))

    @staticmethod
    def _commit(db: sqlite3.Connection, writes: Sequence[Write]) -> list[OutboxRecord]:
        outbox: list[OutboxRecord] = []
        db.execute("BEGIN IMMEDIATE")
        try:
            for w in writes:
                if isinstance(w, OutboxMessage):
                    cursor = db.execute(
                        f"INSERT INTO {OUTBOX} (topic, key, value, headers, slot) VALUES (?, ?, ?, ?, ?)",
                        (w.topic, w.key, w.value, json.dumps(dict(w.headers)), require_slot(w)),
                    )
                    outbox.append(OutboxRecord(str(cursor.lastrowid), w))
                else:
                    SqliteStore._apply(db, w)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return outbox

    @staticmethod
    def _apply(db: sqlite3.Connection, w: Insert | Replace | Put | Delete) -> None:
        if isinstance(w, Insert):
            try:
                db.execute(f"INSERT INTO {w.collection} (id, v, doc) VALUES (?, 1, ?)", (w.doc["_id"], _body(w.doc)))
            except sqlite3.IntegrityError as exc:
                raise DuplicateKeyError(w.collection, str(exc)) from None
        elif isinstance(w, Replace):
            if w.expected_version == 0:
                sql = f"INSERT INTO {w.collection} (id, v, doc) VALUES (?2, 1, ?1) ON CONFLICT(id) DO NOTHING"
                args: tuple[Any, ...] = (_body(w.doc), w.doc["_id"])
            else:
                sql = f"UPDATE {w.collection} SET v = v + 1, doc = ? WHERE id = ? AND v = ?"
                args = (_body(w.doc), w.doc["_id"], w.expected_version)
            try:
                cur = db.execute(sql, args)
            except sqlite3.IntegrityError as exc:
                raise DuplicateKeyError(w.collection, str(exc)) from None
            if cur.rowcount != 1:
                raise ConflictError(w.collection, w.doc["_id"])
        elif isinstance(w, Put):
            try:
                db.execute(
                    f"INSERT INTO {w.collection} (id, v, doc) VALUES (?, 1, ?)"
                    " ON CONFLICT(id) DO UPDATE SET v = v + 1, doc = excluded.doc",
                    (w.doc["_id"], _body(w.doc)),
                )
            except sqlite3.IntegrityError as exc:
                raise DuplicateKeyError(w.collection, str(exc)) from None
        elif isinstance(w, Delete):
            db.execute(f"DELETE FROM {w.collection} WHERE id = ?", (w.key,))

    async def outbox_pending(self, limit: int, slots: frozenset[int] | None = None) -> list[OutboxRecord]:
        if slots is not None and not slots:
            return []
        where, args = "", []
        if slots is not None:
            where = f" WHERE slot IN ({','.join('?' * len(slots))})"
            args = sorted(slots)
        sql = f"SELECT seq, topic, key, value, headers, slot FROM {OUTBOX}{where} ORDER BY seq LIMIT ?"
        rows = await self._read(lambda db: db.execute(sql, [*args, limit]).fetchall())
        return [
            OutboxRecord(str(r[0]), OutboxMessage(r[1], r[2], bytes(r[3]), json.loads(r[4]), slot=r[5])) for r in rows
        ]

    async def outbox_done(self, ids: Sequence[str]) -> None:
        if ids:
            args = [int(i) for i in ids]
            marks = ",".join("?" * len(args))
            await self._run(lambda db: db.execute(f"DELETE FROM {OUTBOX} WHERE seq IN ({marks})", args))
