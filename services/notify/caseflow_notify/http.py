"""notify's HTTP endpoints: a case's notification history (masked), and re-driving a failed delivery."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from caseflow_contracts.common import CaseId
from caseflow_kit import Runtime
from caseflow_kit.auth import Principal, Role
from caseflow_kit.http import Refused, caller
from caseflow_kit.store import ConflictError
from caseflow_kit.uow import UnitOfWork

from . import store
from .deps import Deps
from .domain import State

NotificationId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$")]


async def case_notifications(runtime: Runtime[Any, Deps], case_id: str) -> dict[str, Any]:
    deliveries = await store.of_case(runtime.store, case_id)
    case = await store.case(runtime.store, case_id)
    if not deliveries and case is None:
        raise Refused(404, "not_found", f"no notifications of case {case_id}")
    contact = None
    if case is not None:
        c = case.contact
        masked = {k: v for k, v in (("phone", c.masked_phone), ("email", c.masked_email)) if v}
        contact = {"masked": masked, "language": c.language, "time_zone": c.time_zone, "status": case.status.value}
    return {"case_id": case_id, "contact": contact, "notifications": [store.public_view(d) for d in deliveries]}


async def retry_failed(runtime: Runtime[Any, Deps], case_id: str, nid: str, by: str) -> dict[str, Any]:
    """A person re-drives a failed delivery.

    Replaying the dead-lettered trigger would not do it (the trigger counts as handled);
    this puts the same delivery (same idempotency key) back to pending with fresh attempts.
    Who re-drove it is kept in the delivery's log.
    """

    async def work(uow: UnitOfWork) -> None:
        found = await store.delivery(uow, nid)
        if found is None or found.case_id != case_id:
            raise Refused(404, "not_found", f"no notification {nid} of case {case_id}")
        if found.state is not State.FAILED:
            raise Refused(409, "not_failed", f"only failed deliveries are retried: {found.state.value}")
        store.save_delivery(uow, found.redriven(by, runtime.clock.time()))

    try:
        await runtime.commands.run(work)
    except ConflictError:
        raise Refused(409, "conflict", "changed meanwhile; read it again") from None
    return {"notification_id": nid, "state": State.PENDING.value}


def routers(runtime: Runtime[Any, Deps]) -> Sequence[APIRouter]:
    api = APIRouter(tags=["notifications"])

    @api.get("/cases/{case_id}/notifications", summary="What a case's customer was told, when and how (masked)")
    async def history(case_id: CaseId, who: Annotated[Principal, caller(Role.CASES_READER)]) -> dict[str, Any]:
        return await case_notifications(runtime, case_id)

    @api.post(
        "/cases/{case_id}/notifications/{notification_id}/retry",
        summary="Re-drive a failed delivery (same idempotency key, fresh attempts)",
        status_code=202,
    )
    async def retry(
        case_id: CaseId, notification_id: NotificationId, who: Annotated[Principal, caller(Role.OPS_ADMIN)]
    ) -> JSONResponse:
        body = await retry_failed(runtime, case_id, notification_id, who.subject)
        if runtime.deps.worker is not None:
            runtime.deps.worker.wake()
        return JSONResponse(body, status_code=202)

    return [api]
