"""intake's HTTP endpoint: a case's intake record and contact history, masked (no sealed token, no plain data)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter

from caseflow_contracts.common import CaseId
from caseflow_kit import Runtime
from caseflow_kit.auth import Principal, Role
from caseflow_kit.http import Refused, caller

from . import store
from .domain.case import IntakeCase


def present(case: IntakeCase) -> dict[str, Any]:
    doc = store.case_doc(case)
    record = {**doc["opening"], **{k: v for k, v in doc.items() if k not in ("_id", "opening", "problem", "ref")}}
    history = record.pop("history")
    record.pop("answers")
    c = case.opening.customer
    record["customer"] = {
        "masked": c.masked.model_dump(mode="json"),
        "language": c.language,
        "time_zone": c.time_zone,
        "email_present": c.email_present,
        "phone_present": c.phone_present,
    }
    return {"case": record, "contact_history": history}


def routers(runtime: Runtime[Any, Any]) -> Sequence[APIRouter]:
    api = APIRouter(tags=["cases"])

    @api.get("/cases/{case_id}", summary="A case's intake record and contact history, personal data masked")
    async def get_case(case_id: CaseId, who: Annotated[Principal, caller(Role.CASES_READER)]) -> dict[str, Any]:
        case = await store.load_case(runtime.unit_of_work(), case_id)
        if case is None:
            raise Refused(404, "not_found", f"no case {case_id}")
        return present(case)

    return [api]
