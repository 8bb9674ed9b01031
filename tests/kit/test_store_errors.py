"""The store contract's error half: whatever the driver raises, every adapter answers with the port's errors.

Unreachable or failing over -> StoreUnavailableError (the kit retries, never dead-letters); a transaction
the server aborted because it clashed -> ConflictError (the kit re-runs the record with fresh reads); a
commit whose outcome is unknown -> committed again. Faults are injected into the drivers themselves, on
every operation of the port.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from pymongo.errors import (
    AutoReconnect,
    ExecutionTimeout,
    NetworkTimeout,
    NotPrimaryError,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)

from caseflow_kit.store import (
    Collection,
    ConflictError,
    Insert,
    OutboxMessage,
    Query,
    Store,
    StoreUnavailableError,
)
from caseflow_kit.store.mongo import COMMIT_ATTEMPTS, MongoStore
from caseflow_kit.store.sqlite import SqliteStore

COLLECTIONS = [Collection("cases", indexes=("status",))]
Operation = Callable[[Store], Awaitable[object]]
OPERATIONS: dict[str, Operation] = {
    "get": lambda s: s.get("cases", "c1"),
    "find": lambda s: s.find("cases", Query(where={"status": "open"})),
    "count": lambda s: s.count("cases", Query()),
    "delete_where": lambda s: s.delete_where("cases", Query(where={"status": "gone"})),
    "outbox_pending": lambda s: s.outbox_pending(10, frozenset({0})),
    "outbox_done": lambda s: s.outbox_done(["1"]),
    "commit": lambda s: s.commit([Insert("cases", {"_id": "c2"}), OutboxMessage("t", "c2", b"{}", slot=0)]),
    "ping": lambda s: s.ping(),
}


def labelled(error: PyMongoError, *labels: str) -> PyMongoError:
    for label in labels:
        error._add_error_label(label)
    return error


# -- SQLite -------------------------------------------------------------------------------------------


class FailingConnection:
    """A sqlite3 connection that fails every statement the way a locked or broken file does."""

    def __init__(self, error: sqlite3.Error) -> None:
        self.error = error

    def execute(self, *args: Any) -> Any:
        raise self.error

    def close(self) -> None:
        return None


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(tmp_path / "faults.db")
    await store.open(COLLECTIONS)
    await store.commit([Insert("cases", {"_id": "c1", "status": "open"})])
    healthy = (store._db, store._reader)
    yield store
    store._db, store._reader = healthy
    await store.close()


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize(
    "error",
    [sqlite3.OperationalError("database is locked"), sqlite3.OperationalError("disk I/O error")],
    ids=["locked", "io"],
)
async def test_sqlite_unavailable_on_every_operation(sqlite: SqliteStore, operation: str, error: sqlite3.Error) -> None:
    sqlite._db = sqlite._reader = FailingConnection(error)  # type: ignore[assignment]
    with pytest.raises(StoreUnavailableError):
        await OPERATIONS[operation](sqlite)


# -- MongoDB --------------------------------------------------------------------------------------------


class FakeSession:
    """A driver session whose commit fails as scripted (the in-memory mock has no transactions)."""

    def __init__(self, commit_errors: list[PyMongoError]) -> None:
        self.commit_errors = commit_errors
        self.commits = 0
        self.aborted = False

    async def __aenter__(self) -> FakeSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def start_transaction(self) -> None:
        return None

    async def commit_transaction(self) -> None:
        self.commits += 1
        if self.commit_errors:
            raise self.commit_errors.pop(0)

    async def abort_transaction(self) -> None:
        self.aborted = True


class Driver:
    """The mock client with sessions (enough to drive the adapter's transaction path) and a fault switch:
    while `failure` is set, every collection operation and database command raises it."""

    def __init__(self, session: FakeSession) -> None:
        from pymongo_async_mock import AsyncMongoMockClient

        self.mock = AsyncMongoMockClient()
        self.session = session
        self.failure: Exception | None = None

    def __getitem__(self, name: str) -> DriverDatabase:
        return DriverDatabase(self, self.mock[name])

    def start_session(self) -> FakeSession:
        return self.session

    def close(self) -> None:
        self.mock.close()

    def call(self, method: Any, *args: Any, session: object = None, **kwargs: Any) -> Any:
        if self.failure is not None:
            raise self.failure
        return method(*args, **kwargs)  # the mock does not take a session


class DriverDatabase:
    def __init__(self, driver: Driver, database: Any) -> None:
        self.driver = driver
        self.database = database

    def __getitem__(self, name: str) -> DriverCollection:
        return DriverCollection(self.driver, self.database[name])

    async def command(self, *args: Any, **kwargs: Any) -> Any:
        return await self.driver.call(self.database.command, *args, **kwargs)


class DriverCollection:
    def __init__(self, driver: Driver, collection: Any) -> None:
        self.driver = driver
        self.collection = collection

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.collection, name)
        return lambda *args, **kwargs: self.driver.call(method, *args, **kwargs)


@pytest.fixture
def session() -> FakeSession:
    return FakeSession([])


@pytest.fixture
def driver(session: FakeSession) -> Driver:
    return Driver(session)


@pytest.fixture
async def mongo(driver: Driver) -> AsyncIterator[MongoStore]:
    store = MongoStore(driver, f"faults_{uuid.uuid4().hex[:8]}", transactions=True)
    await store.open(COLLECTIONS)
    await store.commit([Insert("cases", {"_id": "c1", "status": "open"})])
    yield store
    await store.close()


UNAVAILABLE = [
    AutoReconnect("connection reset"),
    NotPrimaryError("not primary"),
    NetworkTimeout("timed out"),
    ServerSelectionTimeoutError("no primary available"),
    ExecutionTimeout("operation exceeded time limit", code=50),
    OperationFailure("primary stepped down", code=189),
    OperationFailure("interrupted due to repl state change", code=11602),
]


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("error", UNAVAILABLE, ids=lambda e: type(e).__name__ + str(getattr(e, "code", "") or ""))
async def test_mongo_unavailable_on_every_operation(
    mongo: MongoStore, driver: Driver, operation: str, error: Exception
) -> None:
    driver.failure = error
    with pytest.raises(StoreUnavailableError):
        await OPERATIONS[operation](mongo)


@pytest.mark.parametrize(
    "error",
    [
        OperationFailure("WriteConflict", code=112),
        labelled(OperationFailure("transaction aborted", code=251), "TransientTransactionError"),
        labelled(AutoReconnect("network error in a transaction"), "TransientTransactionError"),
    ],
    ids=["write-conflict", "transient-operation", "transient-network"],
)
async def test_mongo_transaction_clashes_are_conflicts_to_rerun(
    mongo: MongoStore, session: FakeSession, driver: Driver, error: Exception
) -> None:
    driver.failure = error
    with pytest.raises(ConflictError):
        await OPERATIONS["commit"](mongo)
    assert session.aborted


async def test_mongo_a_commit_with_an_unknown_outcome_is_committed_again(
    mongo: MongoStore, session: FakeSession
) -> None:
    session.commits = 0
    session.commit_errors = [
        labelled(AutoReconnect("lost the reply"), "UnknownTransactionCommitResult") for _ in range(2)
    ]
    records = await mongo.commit([Insert("cases", {"_id": "c2"}), OutboxMessage("t", "c2", b"{}", slot=0)])
    assert session.commits == 3
    assert len(records) == 1
    assert await mongo.get("cases", "c2") is not None


async def test_mongo_a_commit_that_never_learns_its_outcome_stops_progress(
    mongo: MongoStore, session: FakeSession
) -> None:
    session.commits = 0
    session.commit_errors = [
        labelled(NetworkTimeout("lost the reply"), "UnknownTransactionCommitResult") for _ in range(COMMIT_ATTEMPTS)
    ]
    with pytest.raises(StoreUnavailableError):
        await OPERATIONS["commit"](mongo)
    assert session.commits == COMMIT_ATTEMPTS


async def test_mongo_a_commit_refused_outright_surfaces_as_it_is(mongo: MongoStore, session: FakeSession) -> None:
    """Neither transient nor unknown: a bug or a misconfiguration, not something to retry blindly."""
    session.commit_errors = [OperationFailure("not authorized", code=13)]
    with pytest.raises(OperationFailure):
        await OPERATIONS["commit"](mongo)
