"""The document-store port: the few operations the services need, no more.

Documents are JSON-compatible dicts keyed by `_id` (a string). Every stored
document carries `_v`, its version, which `Replace` uses for compare-and-set.
Writes are applied by `commit`, atomically: all of them or none.

Errors are the port's, whatever the driver raised: `StoreUnavailableError` when
the store cannot answer now (unreachable, failing over, timed out: retry, never
dead-letter), `ConflictError` when a concurrent writer got there first (re-run
with fresh reads), `DuplicateKeyError` for a unique key taken.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import CaseflowError

Doc = dict[str, Any]
Scalar = str | int | float | bool | None

OUTBOX = "_outbox"


class StoreError(CaseflowError):
    """Base of store errors."""


class DuplicateKeyError(StoreError):
    def __init__(self, collection: str, detail: str = "") -> None:
        super().__init__(f"duplicate key in {collection} {detail}".strip())
        self.collection = collection


class ConflictError(StoreError):
    """A compare-and-set lost, or the store aborted a transaction that clashed with another: re-run it."""

    def __init__(self, collection: str, key: str) -> None:
        super().__init__(f"{collection}/{key} changed concurrently")
        self.collection = collection
        self.key = key


class StoreUnavailableError(StoreError):
    """The store cannot be reached; the caller should back off and retry."""


@dataclass(frozen=True)
class Collection:
    """A collection and the top-level fields it is queried by; unique fields hold strings (absent or null never collide).

    An index is one field, or a tuple of fields for a query with equality on the first ones and a range
    or order on the last (`("slot", "due_at")`): without it a store picks one single-field index and
    filters every document that index finds.
    """

    name: str
    indexes: tuple[str | tuple[str, ...], ...] = ()
    unique: tuple[str, ...] = ()

    def index_fields(self) -> list[tuple[str, ...]]:
        """Each index as its tuple of fields."""
        return [(f,) if isinstance(f, str) else f for f in self.indexes]


@dataclass(frozen=True)
class Query:
    """Equality on some fields, an optional range on one, an order and a limit.

    Ties of the order come in the order the documents were first written (in the order's direction where the
    adapter can): that is the order of the entries of an index of the field, so an ordered range is read from
    the index alone however many documents share a value (thousands deferred to one opening hour).
    """

    where: Mapping[str, Scalar] = field(default_factory=dict)
    range_field: str | None = None
    gte: Scalar = None
    lt: Scalar = None
    order_by: str | None = None
    descending: bool = False
    limit: int | None = None


@dataclass(frozen=True)
class Insert:
    collection: str
    doc: Doc


@dataclass(frozen=True)
class Replace:
    """Replace when the stored version is still `expected_version`, else ConflictError.

    Version 0 means "not there yet": the document is created (version 1), and ConflictError is
    raised if another writer created it first, so a racing creator re-reads instead of failing.
    """

    collection: str
    doc: Doc
    expected_version: int


@dataclass(frozen=True)
class Put:
    """Insert or overwrite, whatever is there."""

    collection: str
    doc: Doc


@dataclass(frozen=True)
class Delete:
    collection: str
    key: str


@dataclass(frozen=True)
class OutboxMessage:
    """An event to publish once its commit is in the store.

    `slot` says whose it is to publish: the replica that holds the slot's partitions (see
    caseflow_kit.ownership). The unit of work fills it in; a store refuses a message without one.
    """

    topic: str
    key: str
    value: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    slot: int | None = None


@dataclass(frozen=True)
class OutboxRecord:
    id: str
    message: OutboxMessage


Write = Insert | Replace | Put | Delete | OutboxMessage


class Store(ABC):
    """One port, two adapters (SQLite, MongoDB), one contract test suite."""

    @abstractmethod
    async def open(self, collections: Sequence[Collection]) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def ping(self) -> None:
        """Raise StoreUnavailableError unless the store answers."""

    @abstractmethod
    async def get(self, collection: str, key: str) -> Doc | None: ...

    @abstractmethod
    async def find(self, collection: str, query: Query) -> list[Doc]: ...

    @abstractmethod
    async def count(self, collection: str, query: Query) -> int: ...

    @abstractmethod
    async def commit(self, writes: Sequence[Write]) -> list[OutboxRecord]:
        """Apply every write atomically, in order; raise DuplicateKeyError or ConflictError and apply none.

        Returns the outbox records written, with their ids, so the relay can publish them without reading back.
        """

    @abstractmethod
    async def delete_where(self, collection: str, query: Query) -> int:
        """Delete what the query matches (housekeeping); return how many."""

    @abstractmethod
    async def outbox_pending(self, limit: int, slots: frozenset[int] | None = None) -> list[OutboxRecord]:
        """Unpublished messages of these slots (all when None), in commit order within each slot."""

    @abstractmethod
    async def outbox_done(self, ids: Sequence[str]) -> None:
        """Forget published messages."""

    async def outbox_backlog(self) -> int:
        return await self.count(OUTBOX, Query())


def require_slot(message: OutboxMessage) -> int:
    if message.slot is None or message.slot < 0:
        raise ValueError(f"an outbox message for {message.topic} has no owner slot")
    return message.slot
