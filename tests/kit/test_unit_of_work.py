"""The unit of work on the real SQLite adapter: a lost creation race is a write conflict; a unit that does not
publish keeps its events without outbox rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from caseflow_contracts.stations import StationAcknowledged, StationUpdatePayload
from caseflow_dev.rig import EPOCH
from caseflow_kit.store import Collection, ConflictError
from caseflow_kit.store.sqlite import SqliteStore
from caseflow_kit.uow import UnitOfWork

REFS = "refs"


def _namer(topic: object) -> str:
    return str(topic)


async def test_a_lost_creation_race_is_a_conflict_and_keeps_the_winner(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "t.db")
    await store.open([Collection(REFS)])
    try:
        first, second = UnitOfWork(store, _namer), UnitOfWork(store, _namer)  # type: ignore[arg-type]
        assert await first.get(REFS, "wb:X") is None
        assert await second.get(REFS, "wb:X") is None
        first.create(REFS, {"_id": "wb:X", "who": "first"})
        second.create(REFS, {"_id": "wb:X", "who": "second"})
        # Later writes in the same unit see the new document at the version the store will give it.
        seen = await first.get(REFS, "wb:X")
        assert seen is not None
        first.update(REFS, {**seen, "n": 1})
        await first.commit()
        with pytest.raises(ConflictError):
            await second.commit()
        stored = await store.get(REFS, "wb:X")
        assert stored is not None
        assert (stored["who"], stored["n"], stored["_v"]) == ("first", 1, 2)
    finally:
        await store.close()


def _ack(case_id: str) -> StationAcknowledged:
    return StationAcknowledged.create(
        StationUpdatePayload(case_id=case_id, station="SH-01", at=EPOCH), key=case_id, producer="t"
    )


async def test_a_unit_that_does_not_publish_keeps_its_events_and_writes_no_outbox_row(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "t.db")
    await store.open([Collection(REFS)])
    try:
        allowed = frozenset({StationAcknowledged.event_type()})
        quiet = UnitOfWork(store, _namer, slot=0, may_emit=allowed, publishes=False)  # type: ignore[arg-type]
        child = quiet.child()
        child.emit(_ack("CF-000001"))
        quiet.absorb(child)
        quiet.add(REFS, {"_id": "r1"})
        assert [e.payload.case_id for e in quiet.events] == ["CF-000001"]
        await quiet.commit()
        assert await store.outbox_pending(10) == []
        assert await store.get(REFS, "r1") is not None
        # What a service may emit is checked all the same.
        with pytest.raises(RuntimeError, match="declares it emits"):
            UnitOfWork(store, _namer, slot=0, may_emit=frozenset(), publishes=False).emit(_ack("CF-000002"))  # type: ignore[arg-type]
        loud = UnitOfWork(store, _namer, slot=0, may_emit=allowed)  # type: ignore[arg-type]
        loud.emit(_ack("CF-000003"))
        await loud.commit()
        assert [r.message.key for r in await store.outbox_pending(10)] == ["CF-000003"]
    finally:
        await store.close()
