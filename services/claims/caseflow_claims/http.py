"""HTTP endpoints of claims: open a claim for a claimant; the reviewers' and HQ's queues and a claim; review,
second approval, appeals, arbitration; a station's chargeback statement; the audit trail for finance.
Who may call which is declared per route; each command is one call into `commands`."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from caseflow_contracts.claims import ClaimKind, EvidenceRef
from caseflow_contracts.common import Actor, CaseId, Claimant, ClaimantRole, Identifier, PayoutMethod, StationCode
from caseflow_contracts.errors import Refusal
from caseflow_kit.auth import Principal, Role
from caseflow_kit.http import Refused, caller, request_id

from . import commands, store
from .commands import Change, Rt
from .domain import Approval, Claim, ClaimRequest, Effect, FactsUpdate, LiableShare, Review, Stamp, Status
from .rules import CompensationRules

ClaimId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$", description="Claim id, CL-<case id>")]
READERS = (Role.CLAIMS_REVIEWER, Role.CLAIMS_APPROVER, Role.CLAIMS_ARBITER, Role.FINANCE_AUDITOR)
#: Refusal codes that are the caller's fault in the request itself (the rest conflict with the claim's state).
_STATUS = {"not_found": 404, "self_approval": 403, "reason_code": 422, "above_cap": 422, "cap_unknown": 422}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClaimantBody(_Body):
    role: ClaimantRole = Field(description="The sender who paid the freight, or the recipient")
    payout_method: PayoutMethod = PayoutMethod.ORIGINAL_PAYMENT

    def claimant(self) -> Claimant:
        return Claimant(role=self.role, payout_method=self.payout_method)


class OpenBody(_Body):
    """A claimant asks for compensation for a case (recorded by a reviewer: the claimant is not a caller)."""

    case_id: CaseId
    claimant: ClaimantBody = Field(description="Who claims and how they want to be paid")
    claim_kind: ClaimKind | None = Field(default=None, description="When the case does not say")
    facts: FactsUpdate | None = Field(default=None, description="What the claimant showed: days late, extent, value")
    evidence: list[EvidenceRef] = Field(default_factory=list, max_length=20)
    request_id: Identifier | None = Field(default=None, description="Idempotency key of the request")


class ReviewBody(_Body):
    """The reviewer is the token's subject, never a field of the body."""

    action: Literal["approve", "adjust", "reject"]
    reason_code: Identifier | None = Field(default=None, description="From the rules' list; adjust and reject need one")
    reason: str = Field(default="", max_length=4000)
    amount_minor: int | None = Field(default=None, ge=0, le=10**12, description="Adjust: the amount, within the cap")
    facts: FactsUpdate | None = None
    evidence: list[EvidenceRef] = Field(default_factory=list, max_length=20)
    request_id: Identifier | None = Field(default=None, description="Idempotency key of the request")
    claim_kind: ClaimKind | None = Field(default=None, description="Adjust: the kind, when the case did not say")


class ApprovalBody(_Body):
    decision: Literal["approve", "decline"]
    reason_code: Identifier | None = Field(default=None, description="From the rules' list; decline needs one")
    reason: str = Field(default="", max_length=4000)


class AppealBody(_Body):
    reason: str = Field(min_length=1, max_length=4000)


class ShareBody(_Body):
    station: StationCode
    share_bp: int = Field(ge=0, le=10_000)
    reason: str = Field(default="", max_length=4000)


class ArbitrationBody(_Body):
    liable: list[ShareBody] = Field(max_length=10, description="Empty: no station liable (无责)")
    reason: str = Field(min_length=1, max_length=4000)


def claim_view(claim: Claim) -> dict[str, Any]:
    data = claim.model_dump(
        mode="json", exclude={"customer_ref", "opened_ts", "lines", "missing", "ledger", "audit", "proposal"}
    )
    data["disputed"] = claim.disputed
    data["computation"] = {
        "amount_minor": claim.assessed_amount_minor,
        "currency": claim.currency,
        "missing": claim.missing,
        "lines": [x.model_dump() for x in claim.lines],
    }
    if claim.proposal is not None:
        p = claim.proposal
        data["proposal"] = {"proposed_by": p.proposed_by.subject, "amount_minor": p.amount_minor, "at": p.at}
    data["ledger"] = {**claim.ledger_summary(), "entries": [e.model_dump() for e in claim.ledger]}
    return data


def queue_entry(c: Claim) -> dict[str, Any]:
    return {
        "claim_id": c.claim_id,
        "case_id": c.case_id,
        "claim_kind": c.claim_kind.value,
        "status": c.status.value,
        "opened_at": c.opened_at,
        "assessed_amount_minor": c.assessed_amount_minor,
        "proposed_amount_minor": c.proposal.amount_minor if c.proposal else None,
        "currency": c.currency,
        "missing": c.missing,
        "fraud_flags": [f.value for f in c.fraud_flags],
        "reason": c.decisions[-1].reason if c.decisions else "",
    }


def actor_of(principal: Principal) -> Actor:
    return Actor(subject=principal.subject, roles=sorted(principal.roles)[:20])


def stamp(request: Request, principal: Principal) -> Stamp:
    return Stamp(actor_of(principal), request_id(request))


def refused(exc: Refusal) -> Refused:
    return Refused(_STATUS.get(exc.code, 409), exc.code, exc.message, field=getattr(exc, "field", None))


async def answer(call: Awaitable[Claim]) -> dict[str, Any]:
    """The claim after a command, or the domain's refusal as problem+json."""
    try:
        return claim_view(await call)
    except Refusal as exc:
        raise refused(exc) from None


def routers(runtime: Rt) -> Sequence[APIRouter]:
    return [claim_reads(runtime), claim_commands(runtime), station_routes(runtime)]


def claim_reads(runtime: Rt) -> APIRouter:
    api = APIRouter(tags=["claims"])

    async def load(claim_id: str) -> Claim:
        claim = await store.claim(runtime.store, claim_id)
        if claim is None:
            raise Refused(404, "not_found", f"no claim {claim_id}")
        return claim

    @api.get("/claims", summary="Claims by status, or with a dispute HQ has not settled; oldest first (the queues)")
    async def queue(
        who: Annotated[Principal, caller(*READERS)],
        status: Status = Status.PENDING_REVIEW,
        disputed: Annotated[bool, Query(description="HQ's queue: declarations neither trail nor HQ settled")] = False,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        claims = await store.queue(runtime.store, status=status, disputed=disputed, limit=limit)
        return {"status": None if disputed else status.value, "claims": [queue_entry(c) for c in claims]}

    @api.get("/claims/{claim_id}", summary="A claim: claimant, computation, decisions, payouts, liability, ledger")
    async def get_claim(claim_id: ClaimId, who: Annotated[Principal, caller(*READERS)]) -> dict[str, Any]:
        return claim_view(await load(claim_id))

    @api.get("/claims/{claim_id}/audit", summary="Every decision people took on a claim: who, when, what, amounts")
    async def get_audit(claim_id: ClaimId, who: Annotated[Principal, caller(Role.FINANCE_AUDITOR)]) -> dict[str, Any]:
        claim = await load(claim_id)
        records = [r.model_dump(mode="json") for r in claim.audit]
        return {"claim_id": claim.claim_id, "currency": claim.currency, "records": records}

    return api


def claim_commands(runtime: Rt) -> APIRouter:
    api = APIRouter(tags=["claims"])

    def rules() -> CompensationRules:
        return runtime.deps.rules  # the rules in force when the command runs

    def run(claim_id: str, who: Principal, change: Change) -> Awaitable[dict[str, Any]]:
        return answer(commands.command(runtime, claim_id, actor_of(who), change))

    @api.post("/claims", status_code=201, summary="Open a claim for a case: who claims and how they are paid")
    async def open_claim(
        body: OpenBody, request: Request, response: Response, who: Annotated[Principal, caller(Role.CLAIMS_REVIEWER)]
    ) -> dict[str, Any]:
        ask = ClaimRequest(
            body.claimant.claimant(),
            "api",
            stamp(request, who),
            body.claim_kind,
            body.facts,
            tuple(body.evidence),
            body.request_id,
        )
        try:
            claim, opened = await commands.open_claim(runtime, body.case_id, ask)
        except Refusal as exc:
            raise refused(exc) from None
        response.status_code = 201 if opened else 200  # 200: this very request opened it before (a retry)
        return claim_view(claim)

    @api.post(
        "/claims/{claim_id}/review",
        summary="Approve, adjust (within the rules' cap) or reject a claim; above the threshold, propose",
    )
    async def review(
        claim_id: ClaimId, body: ReviewBody, request: Request, who: Annotated[Principal, caller(Role.CLAIMS_REVIEWER)]
    ) -> dict[str, Any]:
        command = Review(
            body.action,
            stamp(request, who),
            body.reason_code,
            body.reason,
            body.amount_minor,
            body.facts,
            body.request_id,
            body.claim_kind,
            tuple(body.evidence),
        )
        return await run(claim_id, who, lambda claim, now: claim.review(command, rules(), now))

    @api.post("/claims/{claim_id}/approval", summary="Second approval of a proposal: a different approver decides")
    async def approval(
        claim_id: ClaimId,
        body: ApprovalBody,
        request: Request,
        who: Annotated[Principal, caller(Role.CLAIMS_APPROVER)],
    ) -> dict[str, Any]:
        decision = Approval(body.decision, stamp(request, who), body.reason_code, body.reason)
        return await run(claim_id, who, lambda claim, now: claim.second_approval(decision, rules(), now))

    @api.post("/claims/{claim_id}/appeal", summary="Record the customer's appeal of a decision (back to review)")
    async def appeal(
        claim_id: ClaimId, body: AppealBody, request: Request, who: Annotated[Principal, caller(Role.CLAIMS_REVIEWER)]
    ) -> dict[str, Any]:
        by = stamp(request, who)
        return await run(claim_id, who, lambda claim, now: claim.appeal(body.reason, by, rules(), now))

    @api.post("/claims/{claim_id}/arbitration", summary="HQ decides which stations are liable, and for what share")
    async def arbitrate(
        claim_id: ClaimId,
        body: ArbitrationBody,
        request: Request,
        who: Annotated[Principal, caller(Role.CLAIMS_ARBITER)],
    ) -> dict[str, Any]:
        by = stamp(request, who)
        liable = [LiableShare(station=x.station, share_bp=x.share_bp, reason=x.reason) for x in body.liable]
        return await run(claim_id, who, lambda claim, now: claim.arbitrate(liable, body.reason, by, rules(), now))

    return api


def station_routes(runtime: Rt) -> APIRouter:
    api = APIRouter(tags=["stations"])

    @api.get("/stations/{code}/chargebacks", summary="A station's chargeback statement over a period")
    async def statement(
        code: StationCode,
        who: Annotated[
            Principal, caller(Role.STATION_AGENT, Role.CLAIMS_ARBITER, Role.FINANCE_AUDITOR, station_param="code")
        ],
        start: Annotated[AwareDatetime | None, Query(alias="from")] = None,
        end: Annotated[AwareDatetime | None, Query(alias="to")] = None,
    ) -> dict[str, Any]:
        lo = start.timestamp() if start else 0.0
        hi = end.timestamp() if end else runtime.clock.time() + 86400
        rows = [e.model_dump(exclude_none=True) for e in await store.statement(runtime.store, code, lo, hi)]
        totals = {f: sum(int(r[f]) for r in rows) for f in ("payout_share_minor", "penalty_minor", "total_minor")}
        return {
            "station": code,
            "from": datetime.fromtimestamp(lo, UTC).isoformat(),
            "to": datetime.fromtimestamp(hi, UTC).isoformat(),
            "currency": runtime.deps.rules.currency,
            "entries": rows,
            "totals": {**totals, "count": len(rows)},
        }

    @api.post("/stations/{code}/chargebacks/{chargeback_id}/appeal", summary="A station appeals its own chargeback")
    async def appeal_chargeback(
        code: StationCode,
        chargeback_id: ClaimId,
        body: AppealBody,
        request: Request,
        who: Annotated[Principal, caller(Role.STATION_AGENT, station_param="code")],
    ) -> dict[str, Any]:
        entry = await store.chargeback_entry(runtime.store, chargeback_id)
        if entry is None or entry.station != code:
            raise Refused(404, "not_found", f"no chargeback {chargeback_id} of {code}")
        by, rules = stamp(request, who), runtime.deps.rules

        def change(claim: Claim, now: datetime) -> list[Effect]:
            return claim.appeal_chargeback(chargeback_id, code, body.reason, by, rules=rules, now=now)

        return await answer(commands.command(runtime, entry.claim_id, actor_of(who), change))

    return api
