"""intake's HTTP endpoint: a case's intake record and contact history, masked (no sealed token, no plain data)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter

from caseflow_contracts.common import CaseId
from caseflow_kit import Runtime
from caseflow_kit.auth import Principal, Role
from caseflow_kit.http import Refused, caller

from .store import CASES

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


def routers(runtime: Runtime[Any, Any]) -> Sequence[APIRouter]:
    api = APIRouter(tags=["cases"])

    @api.get("/cases/{case_id}", summary="A case's intake record and contact history, personal data masked")
    async def get_case(case_id: CaseId, who: Annotated[Principal, caller(Role.CASES_READER)]) -> dict[str, Any]:
        doc = await runtime.store.get(CASES, case_id)
        if doc is None:
            raise Refused(404, "not_found", f"no case {case_id}")
        return present(doc)

    return [api]
