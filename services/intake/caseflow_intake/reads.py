"""Read endpoint: a case's intake record and contact history, masked (no sealed token, no plain data)."""

from __future__ import annotations

import re
from typing import Any

from caseflow_kit import Request, Response
from caseflow_kit.store import Store
from caseflow_kit.web import Endpoint

from .store import CASES

_CASE_ID = re.compile(r"^CF-[0-9A-Z]{6,40}$")
_INTERNAL = ("_id", "_v", "problem", "ref")


def present(doc: dict[str, Any]) -> dict[str, Any]:
    record = {k: v for k, v in doc.items() if k not in _INTERNAL and k != "history"}
    customer = dict(record.pop("customer"))
    record["customer"] = {
        "masked": customer["masked"],
        "language": customer["language"],
        "time_zone": customer["time_zone"],
        "email_present": customer["email_present"],
        "phone_present": customer["phone_present"],
    }
    return {"case": record, "contact_history": doc["history"]}


def case_endpoint(store: Store) -> Endpoint:
    async def get_case(request: Request) -> Response:
        case_id = request.params["case_id"]
        if not _CASE_ID.match(case_id):
            return Response.bad_request("a case id looks like CF-20261124ABCDEF1234")
        doc = await store.get(CASES, case_id)
        if doc is None:
            return Response.not_found(f"case {case_id}")
        return Response(200, present(doc))

    return get_case
