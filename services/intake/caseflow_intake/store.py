"""intake's persistence through the kit's store port: typed records in and out, documents only in here.

Collections: `cases` (IntakeCase), `refs` (Reference, one per waybill or order), `claimants` (ClaimHistory,
by pseudonym), `followups` (FollowUp: a merged customer contact's draft, by case and source). Every record
but a follow-up is written with compare-and-set on the version it was read at (a new one on version 0, "not
there yet"), so concurrent writers serialise and a lost race is a write conflict the kit re-runs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from caseflow_contracts.cases import CaseOpenedPayload
from caseflow_contracts.common import CaseKind, Channel, Priority
from caseflow_contracts.upstream import ContactCategory
from caseflow_kit.store import Collection
from caseflow_kit.uow import UnitOfWork

from .domain.case import CaseDraft, Change, ClaimHistory, FollowUp, HistoryEntry, IntakeCase, Status
from .domain.fraud import PastClaim
from .domain.privacy import Sealed
from .domain.reference import CaseRef, Reference

CASES = "cases"
REFS = "refs"
CLAIMANTS = "claimants"
FOLLOWUPS = "followups"

COLLECTIONS = [Collection(CASES), Collection(REFS), Collection(CLAIMANTS), Collection(FOLLOWUPS)]

#: Bounds on what one document keeps: the newest are kept.
MAX_SOURCES = 500
MAX_CLOSED = 20
MAX_HISTORY = 200
MAX_CLAIMS = 100
MAX_ANSWERS = 50

Doc = dict[str, Any]


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _write(uow: UnitOfWork, collection: str, body: Doc, version: int) -> None:
    if version == 0:
        uow.create(collection, body)
    else:
        uow.update(collection, {**body, "_v": version})


# -- references ----------------------------------------------------------------------------------


def _refs(items: list[Doc]) -> list[CaseRef]:
    return [CaseRef(i["case_id"], i["problem"], datetime.fromisoformat(i["at"])) for i in items]


def _ref_docs(refs: list[CaseRef]) -> list[Doc]:
    return [{"case_id": r.case_id, "problem": r.problem, "at": r.at.isoformat()} for r in refs]


async def load_reference(uow: UnitOfWork, key: str) -> Reference:
    doc = await uow.get(REFS, key)
    if doc is None:
        return Reference(key)
    return Reference(key, _refs(doc["open"]), _refs(doc["closed"]), list(doc["sources"]), doc["_v"])


def _save_reference(uow: UnitOfWork, ref: Reference) -> None:
    body = {
        "_id": ref.key,
        "open": _ref_docs(ref.open),
        "closed": _ref_docs(sorted(ref.closed, key=lambda c: c.at)[-MAX_CLOSED:]),
        "sources": ref.sources[-MAX_SOURCES:],
    }
    _write(uow, REFS, body, ref.version)


# -- cases ----------------------------------------------------------------------------------------


def _entry_doc(e: HistoryEntry) -> Doc:
    return {
        "action": e.action,
        "at": e.at.isoformat(),
        "source": e.source,
        "source_event_id": e.source_event_id,
        "channel": e.channel.value,
        "category": e.category.value if e.category else None,
        "kind": e.kind.value if e.kind else None,
        "summary": e.summary,
        "received_at": e.received_at.isoformat(),
        "score": e.score,
    }


def _entry(d: Doc) -> HistoryEntry:
    return HistoryEntry(
        action=d["action"],
        at=datetime.fromisoformat(d["at"]),
        source=d["source"],
        source_event_id=d["source_event_id"],
        channel=Channel(d["channel"]),
        kind=CaseKind(d["kind"]) if d.get("kind") else None,
        summary=d["summary"],
        received_at=datetime.fromisoformat(d["received_at"]),
        category=ContactCategory(d["category"]) if d.get("category") else None,
        score=d.get("score"),
    )


def case_doc(case: IntakeCase) -> Doc:
    return {
        "_id": case.case_id,
        "opening": case.opening.model_dump(mode="json"),
        "problem": case.problem,
        "ref": case.ref,
        "status": case.status.value,
        "priority": case.priority.value,
        "contacts": case.contacts,
        "repeat_contacts": case.repeat_contacts,
        "reopen_count": case.reopen_count,
        "reopened_at": _iso(case.reopened_at),
        "closed_at": _iso(case.closed_at),
        "reopened_from": _iso(case.reopened_from),
        "episode_from": _iso(case.episode_from),
        "station": case.station,
        "complaint": case.complaint,
        "answers": case.answers[-MAX_ANSWERS:],
        "history": [_entry_doc(e) for e in case.history[-MAX_HISTORY:]],
    }


def case_of(doc: Doc) -> IntakeCase:
    # Cases stored before the opening was kept apart carried its fields at the top level.
    opening = doc.get("opening") or {k: doc[k] for k in CaseOpenedPayload.model_fields if k in doc}
    return IntakeCase(
        opening=CaseOpenedPayload.model_validate(opening, strict=False),
        problem=doc["problem"],
        ref=doc["ref"],
        priority=Priority(doc["priority"]),
        contacts=doc["contacts"],
        history=[_entry(e) for e in doc["history"]],
        status=Status(doc["status"]),
        repeat_contacts=doc["repeat_contacts"],
        reopen_count=doc["reopen_count"],
        reopened_at=_time(doc.get("reopened_at")),
        closed_at=_time(doc.get("closed_at")),
        reopened_from=_time(doc.get("reopened_from")),
        episode_from=_time(doc.get("episode_from")),
        station=doc.get("station"),
        complaint=doc.get("complaint", False),
        answers=list(doc.get("answers", [])),
        version=doc["_v"],
    )


async def load_case(uow: UnitOfWork, case_id: str) -> IntakeCase | None:
    doc = await uow.get(CASES, case_id)
    return case_of(doc) if doc is not None else None


# -- follow-up drafts ---------------------------------------------------------------------------------


def _followup_key(case_id: str, source_event_id: str) -> str:
    return f"{case_id}|{source_event_id}"


def _followup_doc(f: FollowUp) -> Doc:
    return {
        "_id": _followup_key(f.case_id, f.source_event_id),
        "case_id": f.case_id,
        "source_key": f.source_key,
        "source_event_id": f.source_event_id,
        "contact": f.contact.token,
        "key_id": f.contact.key_id,
        "at": f.at.isoformat(),
        "priority_before": f.priority_before.value,
    }


async def load_followup(uow: UnitOfWork, case_id: str, source_event_id: str) -> FollowUp | None:
    doc = await uow.get(FOLLOWUPS, _followup_key(case_id, source_event_id))
    if doc is None:
        return None
    sealed = Sealed(doc["contact"], doc["key_id"])
    at, before = datetime.fromisoformat(doc["at"]), Priority(doc["priority_before"])
    return FollowUp(doc["case_id"], doc["source_key"], doc["source_event_id"], sealed, at, before)


# -- claimants -----------------------------------------------------------------------------------------


async def claims_of(uow: UnitOfWork, draft: CaseDraft) -> ClaimHistory | None:
    """The customer's claim history, when the draft is a claim (the frequent-claimant flag needs it)."""
    if not draft.claim:
        return None
    ref = draft.payload.customer_ref
    doc = await uow.get(CLAIMANTS, ref)
    if doc is None:
        return ClaimHistory(ref)
    claims = [PastClaim(c["case_id"], datetime.fromisoformat(c["at"])) for c in doc["claims"]]
    return ClaimHistory(ref, claims, doc["_v"])


def _save_claims(uow: UnitOfWork, history: ClaimHistory) -> None:
    claims = [{"case_id": c.case_id, "at": c.at.isoformat()} for c in history.claims[-MAX_CLAIMS:]]
    _write(uow, CLAIMANTS, {"_id": history.customer_ref, "claims": claims}, history.version)


# -- one decision's writes -----------------------------------------------------------------------------------


def save(uow: UnitOfWork, change: Change) -> None:
    for case in change.cases:
        _write(uow, CASES, case_doc(case), case.version)
    for ref in change.refs:
        _save_reference(uow, ref)
    for followup in change.followups:
        uow.put(FOLLOWUPS, _followup_doc(followup))
    if change.claims is not None:
        _save_claims(uow, change.claims)
