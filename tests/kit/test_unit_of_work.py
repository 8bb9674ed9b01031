"""The unit of work's create-if-absent on the real SQLite adapter: a lost creation race is a write conflict."""

from __future__ import annotations

from pathlib import Path

import pytest

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
