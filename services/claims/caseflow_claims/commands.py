"""Commands in (from the HTTP edge) -> the claim decides -> stored, events out, through the kit's command runner
(re-run on fresh reads when another writer clashed)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from caseflow_contracts.common import Actor
from caseflow_kit import Runtime
from caseflow_kit.uow import UnitOfWork

from . import store
from .deps import ClaimsDeps
from .domain import Claim, ClaimRequest, Effect, ask
from .settings import ClaimsSettings

Rt = Runtime[ClaimsSettings, ClaimsDeps]
Change = Callable[[Claim, datetime], list[Effect]]


async def open_claim(runtime: Rt, case_id: str, request: ClaimRequest) -> tuple[Claim, bool]:
    """A person asks through the API for a claimant (True: the claim opened now, False: this very request
    opened it before); through the kit's command runner, re-run on a write clash."""

    async def work(uow: UnitOfWork) -> tuple[Claim, bool]:
        found, version = await store.load(uow, case_id)
        now = runtime.clock.now()
        claim, effects = ask(found, case_id, request, runtime.deps.rules, now)
        if effects:
            store.keep(uow, claim, version, effects, now=now, actor=request.stamp.actor if request.stamp else None)
        return claim, bool(effects)

    return await runtime.commands.run(work)


async def command(runtime: Rt, claim_id: str, actor: Actor, change: Change) -> Claim:
    """A person's command on a claim; every event it causes carries them as its actor."""

    async def work(uow: UnitOfWork) -> Claim:
        claim, version = await store.load_claim(uow, claim_id)
        now = runtime.clock.now()
        effects = change(claim, now)
        if effects:
            store.keep(uow, claim, version, effects, now=now, actor=actor)
        return claim

    return await runtime.commands.run(work)
