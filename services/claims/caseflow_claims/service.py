"""Commands from the HTTP edge (review, appeals, HQ arbitration): load, change, commit, publish.

Outside a handler there is no kit to commit: each command is its own unit of
work, retried on a lost compare-and-set, then the outbox is flushed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from caseflow_contracts.common import Actor
from caseflow_kit.store import ConflictError
from caseflow_kit.uow import UnitOfWork

from . import store
from .handlers import publish
from .model import ClaimError, ClaimRecord, Effect
from .settings import ClaimsSettings

log = logging.getLogger("caseflow.claims")
Mutation = Callable[[ClaimRecord], list[Effect]]


@dataclass
class CommandPort:
    """What a command needs of the runtime (a Runtime provides it; tests can give their own)."""

    unit_of_work: Callable[[], UnitOfWork]
    flush: Callable[[], Awaitable[int]]
    settings: ClaimsSettings


async def execute(port: CommandPort, claim_id: str, mutate: Mutation, actor: Actor) -> tuple[ClaimRecord, list[Effect]]:
    """Load the claim, apply the command, commit it with its events (carrying the actor), publish."""
    for _ in range(20):
        uow = port.unit_of_work()
        loaded = await store.load(uow, claim_id)
        if loaded is None:
            raise ClaimError("not_found", f"no claim {claim_id}")
        claim, version = loaded
        effects = mutate(claim)
        if not effects:
            return claim, effects
        store.save(uow, claim, version, effects)
        publish(uow, claim, effects, None, actor)
        try:
            await uow.commit()
        except ConflictError:
            continue  # someone changed the claim meanwhile: re-read and re-apply
        await port.flush()
        return claim, effects
    raise ClaimError("busy", f"claim {claim_id} kept changing; try again")
