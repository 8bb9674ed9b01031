"""Unit of work: reads see this unit's own writes; state, tracking and outgoing events commit together."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from caseflow_contracts import Event, Topic, topic_for

from .store import Delete, Doc, Insert, OutboxMessage, OutboxRecord, Put, Replace, Store, Write

TopicNamer = Callable[[Topic], str]
OnCommit = Callable[[Sequence[OutboxRecord]], None]
SlotOf = Callable[[str], int]
_DELETED = object()


#: Prefix of the headers that carry an event's facets (`Event.FACET_FIELDS`): consumers filter on them unparsed.
FACET_HEADER = "x-facet-"


def event_headers(event: Event) -> dict[str, str]:
    headers = {
        "content-type": "application/json",
        "x-event-type": event.type,
        "x-schema-version": event.schema_version,
        "x-event-id": event.event_id,
        "x-correlation-id": event.correlation_id,
    }
    if event.causation_id:
        headers["x-causation-id"] = event.causation_id
    for name, value in event.facets().items():
        headers[FACET_HEADER + name] = value
    return headers


class UnitOfWork:
    """Reads, writes and events of one decision, committed together.

    Events it emits belong to an owner slot (see caseflow_kit.ownership): `slot` when the unit works
    for one consumed record (the record's slot), else the slot of each event's key (`slot_of`).
    `publishes=False`: its events stay in `events`, with no outbox row (a what-if replay runs the handlers
    in-process and hands their events on itself; serialising each one for an outbox row it then dropped was
    a tenth of a replay).
    """

    def __init__(
        self,
        store: Store,
        topic_name: TopicNamer,
        parent: UnitOfWork | None = None,
        *,
        on_commit: OnCommit | None = None,
        behind: UnitOfWork | None = None,
        slot: int | None = None,
        slot_of: SlotOf | None = None,
        may_emit: frozenset[str] | None = None,
        publishes: bool = True,
    ) -> None:
        self._store = store
        self._topic_name = topic_name
        self._parent = parent
        self._on_commit = on_commit
        self._slot = slot
        self._slot_of = slot_of
        self._may_emit = may_emit
        self._publishes = publishes
        # A unit still committing when this one started: reads see its writes until they are in the store.
        self._behind = behind
        self._writes: list[Write] = []
        self._overlay: dict[tuple[str, str], Any] = {}
        self.events: list[Event] = []

    def child(self, *, slot: int | None = None) -> UnitOfWork:
        """A nested unit that sees this one's writes; `absorb` keeps its writes, dropping it discards them."""
        return UnitOfWork(
            self._store,
            self._topic_name,
            self,
            slot=self._slot if slot is None else slot,
            slot_of=self._slot_of,
            may_emit=self._may_emit,
            publishes=self._publishes,
        )

    def absorb(self, child: UnitOfWork) -> None:
        self._writes += child._writes
        self._overlay.update(child._overlay)
        self.events += child.events

    async def get(self, collection: str, key: str) -> Doc | None:
        unit: UnitOfWork | None = self
        while unit is not None:  # this unit, its parents, then a unit still committing before it
            if (collection, key) in unit._overlay:
                doc = unit._overlay[(collection, key)]
                # A copy, so that a caller changing what it read does not change what this unit will write.
                return None if doc is _DELETED else orjson.loads(orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS))
            unit = unit._parent if unit._parent is not None else unit._behind
        return await self._store.get(collection, key)

    def add(self, collection: str, doc: Doc) -> None:
        """Insert a new document; the commit fails with DuplicateKeyError if its `_id` or a unique field exists."""
        self._writes.append(Insert(collection, doc))
        self._overlay[(collection, doc["_id"])] = {**doc, "_v": 1}

    def create(self, collection: str, doc: Doc) -> None:
        """Insert a document this unit found absent; the commit fails with ConflictError if another writer
        created it first, a write clash the kit re-runs with fresh reads (not a unique-key error)."""
        self.update(collection, {**doc, "_v": 0})

    def update(self, collection: str, doc: Doc) -> None:
        """Replace a document read in this unit; the commit fails with ConflictError if it changed meanwhile."""
        version = int(doc["_v"])
        self._writes.append(Replace(collection, doc, version))
        self._overlay[(collection, doc["_id"])] = {**doc, "_v": version + 1}

    def put(self, collection: str, doc: Doc) -> None:
        """Insert or overwrite without a version check: for projections rebuilt from events."""
        self._writes.append(Put(collection, doc))
        self._overlay[(collection, doc["_id"])] = doc

    def delete(self, collection: str, key: str) -> None:
        self._writes.append(Delete(collection, key))
        self._overlay[(collection, key)] = _DELETED

    def emit(self, event: Event) -> None:
        """Publish the event once this unit commits (transactional outbox)."""
        if self._may_emit is not None and event.type not in self._may_emit:
            raise RuntimeError(f"{event.type} is not among the events this service declares it emits")
        if self._publishes:
            topic = self._topic_name(topic_for(type(event)))
            key, slot = event.key, self._owner(event.key)
            self._writes.append(OutboxMessage(topic, key, event.to_bytes(), event_headers(event), slot=slot))
        self.events.append(event)

    def emit_raw(self, message: OutboxMessage) -> None:
        if message.slot is None:
            message = dataclasses.replace(message, slot=self._owner(message.key))
        self._writes.append(message)

    def owner_slot(self, key: str) -> int:
        """The slot that events (and work) about `key` written in this unit belong to."""
        return self._owner(key)

    def _owner(self, key: str) -> int:
        if self._slot is not None:
            return self._slot
        if self._slot_of is None:
            raise RuntimeError("this unit of work cannot emit: it knows no owner slot for its events")
        return self._slot_of(key)

    @property
    def writes(self) -> list[Write]:
        return list(self._writes)

    async def commit(self) -> None:
        if self._parent is not None:
            raise RuntimeError("a nested unit of work is absorbed by its parent, not committed")
        if self._writes:
            outbox = await self._store.commit(self._writes)
            if self._on_commit is not None:
                self._on_commit(outbox)
        self._behind = None
        self._writes.clear()
        self._overlay.clear()
