"""ONE behaviour suite for the store port, run against every adapter.

SQLite and the in-memory adapter always; the MongoDB adapter on pymongo-async-mock always;
a real MongoDB when CASEFLOW_TEST_MONGODB_URL is set (transactions need a replica set).
The driver-error half of the suite is in test_store_errors.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from caseflow_kit.store import (
    Collection,
    ConflictError,
    Delete,
    DuplicateKeyError,
    Insert,
    OutboxMessage,
    Put,
    Query,
    Replace,
    Store,
)
from caseflow_kit.store.memory import MemoryStore
from caseflow_kit.store.mongo import MongoStore
from caseflow_kit.store.sqlite import SqliteStore

COLLECTIONS = [
    Collection("cases", indexes=("status", "due_at", "station", ("station", "due_at")), unique=("dedupe_key",)),
    Collection("ledger", indexes=("claim_id",)),
]


async def sqlite_store(tmp_path: Path) -> Store:
    return SqliteStore(tmp_path / "contract.db")


async def memory_store(tmp_path: Path) -> Store:
    return MemoryStore()


async def mock_mongo_store(tmp_path: Path) -> Store:
    from pymongo_async_mock import AsyncMongoMockClient

    return MongoStore(AsyncMongoMockClient(), f"contract_{uuid.uuid4().hex[:8]}", transactions=False)


async def real_mongo_store(tmp_path: Path) -> Store:
    from pymongo import AsyncMongoClient

    url = os.environ["CASEFLOW_TEST_MONGODB_URL"]
    return MongoStore(AsyncMongoClient(url, tz_aware=True), f"contract_{uuid.uuid4().hex[:8]}")


#: Adapters whose commit is atomic (the mock has no transactions; the adapter says so).
ATOMIC = [
    pytest.param(sqlite_store, id="sqlite"),
    pytest.param(memory_store, id="memory"),
]
if os.environ.get("CASEFLOW_TEST_MONGODB_URL"):
    ATOMIC.append(pytest.param(real_mongo_store, id="mongo-real"))
ADAPTERS = [*ATOMIC, pytest.param(mock_mongo_store, id="mongo-mock")]


async def opened(factory: object, tmp_path: Path) -> Store:
    adapter: Store = await factory(tmp_path)  # type: ignore[operator]
    await adapter.open(COLLECTIONS)
    return adapter


@pytest.fixture(params=ADAPTERS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    adapter = await opened(request.param, tmp_path)
    yield adapter
    await adapter.close()


@pytest.fixture(params=ATOMIC)
async def atomic_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    adapter = await opened(request.param, tmp_path)
    yield adapter
    await adapter.close()


def case(key: str, **fields: object) -> dict[str, object]:
    return {"_id": key, "status": "open", **fields}


async def test_insert_then_get_returns_the_document_with_version_1(store: Store) -> None:
    await store.commit([Insert("cases", case("c1", title="破损", amount=1250, tags=["a", "b"], nested={"x": 1}))])
    doc = await store.get("cases", "c1")
    assert doc is not None
    assert doc["_v"] == 1
    assert doc["title"] == "破损"
    assert doc["amount"] == 1250
    assert isinstance(doc["amount"], int)
    assert doc["tags"] == ["a", "b"]
    assert doc["nested"] == {"x": 1}
    assert await store.get("cases", "missing") is None


async def test_insert_with_an_existing_id_fails(store: Store) -> None:
    await store.commit([Insert("cases", case("c1"))])
    with pytest.raises(DuplicateKeyError) as caught:
        await store.commit([Insert("cases", case("c1"))])
    assert caught.value.collection == "cases"


async def test_unique_field_is_enforced_but_absent_values_do_not_collide(store: Store) -> None:
    await store.commit([Insert("cases", case("c1", dedupe_key="BE1|damage"))])
    with pytest.raises(DuplicateKeyError):
        await store.commit([Insert("cases", case("c2", dedupe_key="BE1|damage"))])
    await store.commit([Insert("cases", case("c3")), Insert("cases", case("c4"))])
    assert await store.count("cases", Query()) == 3


async def test_replace_is_compare_and_set_on_the_version(store: Store) -> None:
    await store.commit([Insert("cases", case("c1"))])
    doc = await store.get("cases", "c1")
    assert doc is not None
    await store.commit([Replace("cases", {**doc, "status": "closed"}, doc["_v"])])
    updated = await store.get("cases", "c1")
    assert updated is not None
    assert updated["status"] == "closed"
    assert updated["_v"] == 2
    with pytest.raises(ConflictError):
        await store.commit([Replace("cases", {**doc, "status": "reopened"}, doc["_v"])])
    latest = await store.get("cases", "c1")
    assert latest is not None
    assert latest["status"] == "closed"


async def test_replace_on_version_0_creates_once(store: Store) -> None:
    await store.commit([Replace("cases", case("c1", n=1), 0)])
    doc = await store.get("cases", "c1")
    assert doc is not None
    assert doc["n"] == 1
    assert doc["_v"] == 1
    with pytest.raises(ConflictError):
        await store.commit([Replace("cases", case("c1", n=2), 0), Insert("cases", case("c2"))])
    assert await store.get("cases", "c2") is None
    kept = await store.get("cases", "c1")
    assert kept is not None
    assert kept["n"] == 1


async def test_put_inserts_or_overwrites(store: Store) -> None:
    await store.commit([Put("cases", case("c1", n=1))])
    await store.commit([Put("cases", case("c1", n=2))])
    doc = await store.get("cases", "c1")
    assert doc is not None
    assert doc["n"] == 2
    assert doc["_v"] == 2


async def test_delete(store: Store) -> None:
    await store.commit([Insert("cases", case("c1"))])
    await store.commit([Delete("cases", "c1")])
    assert await store.get("cases", "c1") is None


async def test_find_by_equality_range_order_and_limit(store: Store) -> None:
    await store.commit(
        [Insert("cases", case(f"c{i}", due_at=1000 + i, station="S1" if i % 2 else "S2")) for i in range(10)]
    )
    due = await store.find(
        "cases", Query(where={"station": "S1"}, range_field="due_at", gte=1002, lt=1008, order_by="due_at")
    )
    assert [d["_id"] for d in due] == ["c3", "c5", "c7"]
    latest = await store.find("cases", Query(order_by="due_at", descending=True, limit=2))
    assert [d["_id"] for d in latest] == ["c9", "c8"]
    assert await store.count("cases", Query(where={"station": "S2"})) == 5
    assert await store.count("cases", Query(range_field="due_at", lt=1005)) == 5


async def test_find_with_string_range_orders_iso_timestamps(store: Store) -> None:
    stamps = ["2026-11-24T10:00:00+00:00", "2026-11-24T09:00:00+00:00", "2026-11-25T00:00:00+00:00"]
    await store.commit([Insert("cases", case(f"c{i}", due_at=s)) for i, s in enumerate(stamps)])
    due = await store.find("cases", Query(range_field="due_at", lt="2026-11-24T12:00:00+00:00", order_by="due_at"))
    assert [d["_id"] for d in due] == ["c1", "c0"]


async def test_a_failed_commit_applies_nothing(atomic_store: Store) -> None:
    store = atomic_store
    await store.commit([Insert("cases", case("c1"))])
    with pytest.raises(DuplicateKeyError):
        await store.commit(
            [
                Insert("cases", case("c2")),
                OutboxMessage("cases.lifecycle", "c2", b"{}", slot=0),
                Insert("cases", case("c1")),
            ]
        )
    assert await store.get("cases", "c2") is None
    assert await store.outbox_pending(10) == []


async def test_outbox_keeps_commit_order_and_forgets_what_was_published(store: Store) -> None:
    for i in range(5):
        await store.commit(
            [
                Insert("ledger", {"_id": f"l{i}", "claim_id": "k"}),
                OutboxMessage("t", f"key{i}", f"v{i}".encode(), {"h": str(i)}, slot=0),
            ]
        )
    pending = await store.outbox_pending(3)
    assert [r.message.value for r in pending] == [b"v0", b"v1", b"v2"]
    assert pending[0].message.headers == {"h": "0"}
    assert pending[0].message.key == "key0"
    await store.outbox_done([r.id for r in pending])
    rest = await store.outbox_pending(10)
    assert [r.message.value for r in rest] == [b"v3", b"v4"]
    assert await store.outbox_backlog() == 2


async def test_outbox_rows_are_read_by_owner_slot_in_commit_order(store: Store) -> None:
    await store.commit([OutboxMessage("t", f"k{i}", f"v{i}".encode(), slot=i % 3) for i in range(9)])
    mine = await store.outbox_pending(100, frozenset({0, 2}))
    assert [(r.message.value, r.message.slot) for r in mine] == [
        (b"v0", 0),
        (b"v2", 2),
        (b"v3", 0),
        (b"v5", 2),
        (b"v6", 0),
        (b"v8", 2),
    ]
    assert await store.outbox_pending(100, frozenset()) == []
    assert [r.message.value for r in await store.outbox_pending(2, frozenset({1}))] == [b"v1", b"v4"]
    assert len(await store.outbox_pending(100)) == 9


async def test_an_outbox_message_without_an_owner_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="no owner slot"):
        await store.commit([OutboxMessage("t", "k", b"v")])


async def test_delete_where_purges_by_range(store: Store) -> None:
    await store.commit([Insert("cases", case(f"c{i}", due_at=i)) for i in range(6)])
    assert await store.delete_where("cases", Query(range_field="due_at", lt=4)) == 4
    assert await store.count("cases", Query()) == 2


async def test_concurrent_compare_and_set_lets_exactly_one_win(store: Store) -> None:
    await store.commit([Insert("cases", case("c1", n=0))])
    doc = await store.get("cases", "c1")
    assert doc is not None

    async def bump(n: int) -> bool:
        try:
            await store.commit([Replace("cases", {**doc, "n": n}, doc["_v"])])
        except ConflictError:
            return False
        return True

    results = await asyncio.gather(*(bump(n) for n in range(1, 6)))
    assert results.count(True) == 1


async def test_data_survives_reopening(tmp_path: Path) -> None:
    first = SqliteStore(tmp_path / "persist.db")
    await first.open(COLLECTIONS)
    await first.commit([Insert("cases", case("c1")), OutboxMessage("t", "k", b"v", slot=0)])
    await first.close()
    second = SqliteStore(tmp_path / "persist.db")
    await second.open(COLLECTIONS)
    assert await second.get("cases", "c1") is not None
    assert len(await second.outbox_pending(10)) == 1
    await second.close()


def query_plan(path: Path, query: Query) -> str:
    """How SQLite runs the statement the adapter's find runs for `query` on cases."""
    sql, args = SqliteStore.select("cases", query)
    with contextlib.closing(sqlite3.connect(path)) as db:
        return " ".join(str(row[-1]) for row in db.execute("EXPLAIN QUERY PLAN " + sql, args))


@pytest.mark.parametrize("descending", [False, True], ids=["ascending", "descending"])
async def test_an_ordered_range_is_read_from_its_index_alone(tmp_path: Path, descending: bool) -> None:
    """Equality on station and a range on due_at read one index range, in order, ties included: a sort of the
    matching documents would read every one of them on each query (thousands due at one opening hour)."""
    db = SqliteStore(tmp_path / "plan.db")
    await db.open(COLLECTIONS)
    await db.close()
    query = Query(
        where={"station": "S1"}, range_field="due_at", lt=5, order_by="due_at", descending=descending, limit=50
    )
    plan = query_plan(tmp_path / "plan.db", query)
    assert "USING INDEX ix_cases_station_due_at (<expr>=? AND <expr><?)" in plan
    assert "TEMP B-TREE" not in plan


async def test_ties_of_an_order_come_in_the_order_first_written(store: Store) -> None:
    written = ["c3", "c1", "c4", "c0", "c2"]
    for key in written:
        await store.commit([Insert("cases", case(key, due_at=1000, station="S1"))])
    await store.commit([Insert("cases", case("c5", due_at=999, station="S1"))])
    await store.commit([Replace("cases", case("c3", due_at=1000, station="S1", note="kept"), 1)])
    ordered = Query(where={"station": "S1"}, range_field="due_at", lt=2000, order_by="due_at")
    assert [d["_id"] for d in await store.find("cases", ordered)] == ["c5", *written]
