"""Read endpoint: a case's notification history, masked."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from caseflow_kit import Request, Response
from caseflow_kit.store import Query, Store

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
