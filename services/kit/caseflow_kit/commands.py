"""The command runner: one decision in one unit of work, committed, re-run while concurrent writers clash.

Everything that changes state outside a consumer goes through it (sla's timers, claims' HTTP commands,
notify's delivery worker), and the consumer uses it to re-run a record alone after a write clash. The
work reads through the unit of work and writes into it; on a compare-and-set that lost (ConflictError)
or a natural key another writer took first (DuplicateKeyError) it runs again from fresh reads. Its
events go out through the outbox like a handler's.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from . import logs
from .store import ConflictError, DuplicateKeyError
from .uow import UnitOfWork

T = TypeVar("T")
Work = Callable[[UnitOfWork], Awaitable[T]]
log = logging.getLogger("caseflow.commands")
ATTEMPTS = 10


class CommandRunner:
    def __init__(self, unit_of_work: Callable[[], UnitOfWork], *, attempts: int = ATTEMPTS) -> None:
        self._unit_of_work = unit_of_work
        self._attempts = max(1, attempts)

    async def run(self, work: Work[T]) -> T:
        """Run `work` and commit what it wrote; the last clash propagates if it never stops clashing."""
        attempt = 0
        while True:
            attempt += 1
            uow = self._unit_of_work()
            result = await work(uow)
            try:
                await uow.commit()
            except (ConflictError, DuplicateKeyError) as exc:
                if attempt >= self._attempts:
                    raise
                log.debug("write clash; running again", extra=logs.log_fields(attempt=attempt, error=str(exc)))
                continue
            return result
