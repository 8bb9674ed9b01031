"""notify's HTTP endpoints: a case's notification history (masked), and re-driving a failed delivery."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from caseflow_contracts.common import CaseId
from caseflow_kit import Runtime
from caseflow_kit.auth import Principal, Role
from caseflow_kit.http import Refused, caller
from caseflow_kit.store import ConflictError, Query, Store
from caseflow_kit.uow import UnitOfWork

from .delivery import Deps
from .domain import State
from .store import CASES, DELIVERIES, public_view

NotificationId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$")]


async def case_notifications(store: Store, case_id: str) -> dict[str, Any]:
    docs = await store.find(DELIVERIES, Query(where={"case_id": case_id}, order_by="created_at"))
    case = await store.get(CASES, case_id)
    if not docs and case is None:
        raise Refused(404, "not_found", f"no notifications of case {case_id}")
    contact = None
    if case is not None:
        contact = {
            "masked": case.get("masked", {}),
            "language": case.get("language"),
            "time_zone": case.get("time_zone"),
        }
    return {"case_id": case_id, "contact": contact, "notifications": [public_view(d) for d in docs]}


async def retry_failed(
    store: Store, unit_of_work: Callable[[], UnitOfWork], case_id: str, nid: str, by: str
) -> dict[str, Any]:
    """A person re-drives a failed delivery.

    Replaying the dead-lettered trigger would not do it (the trigger counts as handled);
    this puts the same delivery (same idempotency key) back to pending with fresh attempts.
    Who re-drove it is kept in the delivery's log.
    """
    doc = await store.get(DELIVERIES, nid)
    if doc is None or doc["case_id"] != case_id:
        raise Refused(404, "not_found", f"no notification {nid} of case {case_id}")
    if doc["state"] != State.FAILED.value:
        raise Refused(409, "not_failed", f"only failed deliveries are retried: {doc['state']}")
    now = time.time()
    entry = {"at": now, "attempt": doc["attempts"], "ok": None, "error": "manual retry", "by": by}
    uow = unit_of_work()
    uow.update(
        DELIVERIES,
        {
            **doc,
            "state": State.PENDING.value,
            "attempts": 0,
            "redrives": int(doc.get("redrives", 0)) + 1,
            "due_at": now,
            "rate_slot": None,
            "deferred": None,
            "log": [*doc.get("log", []), entry][-20:],
            "updated_at": now,
        },
    )
    try:
        await uow.commit()
    except ConflictError:
        raise Refused(409, "conflict", "changed meanwhile; read it again") from None
    return {"notification_id": nid, "state": State.PENDING.value}


def routers(runtime: Runtime[Any, Deps]) -> Sequence[APIRouter]:
    api = APIRouter(tags=["notifications"])

    @api.get("/cases/{case_id}/notifications", summary="What a case's customer was told, when and how (masked)")
    async def history(case_id: CaseId, who: Annotated[Principal, caller(Role.CASES_READER)]) -> dict[str, Any]:
        return await case_notifications(runtime.store, case_id)

    @api.post(
        "/cases/{case_id}/notifications/{notification_id}/retry",
        summary="Re-drive a failed delivery (same idempotency key, fresh attempts)",
        status_code=202,
    )
    async def retry(
        case_id: CaseId, notification_id: NotificationId, who: Annotated[Principal, caller(Role.OPS_ADMIN)]
    ) -> JSONResponse:
        body = await retry_failed(runtime.store, runtime.unit_of_work, case_id, notification_id, who.subject)
        if runtime.deps.worker is not None:
            runtime.deps.worker.wake()
        return JSONResponse(body, status_code=202)

    return [api]
