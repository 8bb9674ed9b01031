"""Replicas sharing one SQLite file start together: opening it never fails on the other's lock."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from caseflow_kit.store import Collection, Insert
from caseflow_kit.store.sqlite import WAL_ATTEMPTS, SqliteStore, to_wal

COLLECTIONS = [Collection("cases")]


class LockedAtFirst:
    """A connection whose switch to WAL finds the file locked `times` times (as SQLite says it, at once)."""

    def __init__(self, times: int) -> None:
        self.left = times
        self.tries = 0

    def execute(self, sql: str) -> None:
        assert sql == "PRAGMA journal_mode=WAL"
        self.tries += 1
        if self.left:
            self.left -= 1
            raise sqlite3.OperationalError("database is locked")


def test_switching_to_wal_tries_again_while_the_file_is_locked() -> None:
    pauses: list[float] = []
    db = LockedAtFirst(3)
    to_wal(db, pause=pauses.append)  # type: ignore[arg-type]
    assert db.tries == 4
    assert len(pauses) == 3


def test_switching_to_wal_gives_up_after_its_attempts_and_never_hides_other_errors() -> None:
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        to_wal(LockedAtFirst(WAL_ATTEMPTS), pause=lambda _: None)  # type: ignore[arg-type]

    class Broken(LockedAtFirst):
        def execute(self, sql: str) -> None:
            self.tries += 1
            raise sqlite3.OperationalError("disk I/O error")

    broken = Broken(0)
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        to_wal(broken, pause=lambda _: None)  # type: ignore[arg-type]
    assert broken.tries == 1


async def test_two_replicas_opening_a_new_file_at_once_both_open(tmp_path: Path) -> None:
    # Before the retry, about 1 start in 150 of two at once failed with "database is locked".
    for n in range(100):
        stores = [SqliteStore(tmp_path / f"shared-{n}.db") for _ in range(2)]
        await asyncio.gather(*(store.open(COLLECTIONS) for store in stores))
        await stores[0].commit([Insert("cases", {"_id": "c1"})])
        assert await stores[1].get("cases", "c1") is not None
        for store in stores:
            await store.close()
