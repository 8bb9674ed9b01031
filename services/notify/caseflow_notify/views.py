"""Endpoints: a case's notification history (masked), and re-driving a failed delivery."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from caseflow_kit import Request, Response
from caseflow_kit.store import ConflictError, Query, Store
from caseflow_kit.uow import UnitOfWork

from .domain import State
from .store import CASES, DELIVERIES, public_view

_CASE_ID = re.compile(r"^CF-[0-9A-Z]{6,40}$")


def case_notifications(store: Callable[[], Store]) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        case_id = request.params["case_id"]
        if not _CASE_ID.match(case_id):
            return Response.bad_request("a case id is CF- and 6 to 40 of 0-9, A-Z")
        docs = await store().find(DELIVERIES, Query(where={"case_id": case_id}, order_by="created_at"))
        case = await store().get(CASES, case_id)
        if not docs and case is None:
            return Response.not_found(f"case {case_id}")
        contact = None
        if case is not None:
            contact = {
                "masked": case.get("masked", {}),
                "language": case.get("language"),
                "time_zone": case.get("time_zone"),
            }
        return Response(200, {"case_id": case_id, "contact": contact, "notifications": [public_view(d) for d in docs]})

    return endpoint


def retry_failed(
    store: Callable[[], Store], unit_of_work: Callable[[], UnitOfWork], wake: Callable[[], None]
) -> Callable[[Request], Any]:
    """`POST /cases/{case_id}/notifications/{notification_id}/retry`: a person re-drives a failed delivery.

    Replaying the dead-lettered trigger would not do it (the trigger counts as handled);
    this puts the same delivery (same idempotency key) back to pending with fresh attempts.
    """

    async def endpoint(request: Request) -> Response:
        case_id, nid = request.params["case_id"], request.params["notification_id"]
        doc = await store().get(DELIVERIES, nid)
        if doc is None or doc["case_id"] != case_id:
            return Response.not_found(f"notification {nid} of case {case_id}")
        if doc["state"] != State.FAILED.value:
            return Response(409, {"error": "conflict", "detail": f"only failed deliveries are retried: {doc['state']}"})
        now = time.time()
        entry = {"at": now, "attempt": doc["attempts"], "ok": None, "error": "manual retry"}
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
            return Response(409, {"error": "conflict", "detail": "changed meanwhile; read it again"})
        wake()
        return Response(202, {"notification_id": nid, "state": State.PENDING.value})

    return endpoint
