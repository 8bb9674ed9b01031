"""The claims service's moving parts without the broker: real store and handlers, commands, a crashing relay."""

from __future__ import annotations

import contextlib
from typing import Any

from caseflow_claims.deps import ClaimsDeps
from caseflow_claims.handlers import on_arbitration_declared, on_case_opened, on_case_resolved
from caseflow_claims.model import ClaimError
from caseflow_claims.rules import CompensationRules
from caseflow_claims.service import CommandPort, execute
from caseflow_claims.settings import DEFAULT_RULES, ClaimsSettings
from caseflow_contracts import Event, parse_event
from caseflow_contracts.common import Actor
from caseflow_kit import Context
from caseflow_kit.rules import RulesFile
from caseflow_kit.store import ConflictError
from caseflow_kit.store.sqlite import SqliteStore
from caseflow_kit.uow import UnitOfWork

HANDLERS: dict[str, Any] = {
    "case.opened": on_case_opened,
    "case.resolved": on_case_resolved,
    "station.arbitration_declared": on_arbitration_declared,
}


class Rig:
    """The service's moving parts without the broker: store, handlers, commands, a crashing relay."""

    def __init__(self, db: SqliteStore) -> None:
        self.store = db
        settings_ = ClaimsSettings()
        self.deps = ClaimsDeps(RulesFile(DEFAULT_RULES, CompensationRules), settings_)
        self.port = CommandPort(self.uow, self.flush, settings_)
        self.published: list[Event] = []
        self.crash_next_flush = False

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.store, lambda topic: topic.name, slot=0)

    async def deliver(self, event: Event) -> None:
        while True:
            uow = self.uow()
            try:
                await HANDLERS[event.type](
                    event, Context(uow=uow, deps=self.deps, event=event, producer="claims", now=event.occurred_at)
                )
                await uow.commit()
                return
            except ConflictError:
                continue

    async def flush(self) -> int:
        pending = await self.store.outbox_pending(1000)
        self.published += [parse_event(r.message.value) for r in pending]
        if self.crash_next_flush:
            self.crash_next_flush = False
            return 0  # published, then died before forgetting: the next flush publishes them again
        await self.store.outbox_done([r.id for r in pending])
        return len(pending)

    async def command(self, claim_id: str, mutate: Any) -> None:
        # not applicable in the claim's present state: refused, nothing written
        with contextlib.suppress(ClaimError):
            await execute(self.port, claim_id, mutate, Actor(subject="reviewer-1"))
