"""HTTP endpoints of claims: the reviewers' queue and a claim; review, second approval, appeals, arbitration;
a station's chargeback statement; the audit trail for finance. Who may call which is declared per route."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from caseflow_contracts import Money
from caseflow_contracts.claims import AuditAction, ClaimFacts, ClaimKind, EvidenceRef
from caseflow_contracts.common import Actor, Identifier, StationCode
from caseflow_kit import Runtime
from caseflow_kit.auth import Principal, Role
from caseflow_kit.http import Refused, caller, request_id
from caseflow_kit.store import Query as StoreQuery

from . import model, store
from .deps import ClaimsDeps
from .model import ClaimError, ClaimRecord, LiableShare, Stamp
from .service import CommandPort, Mutation, execute
from .settings import ClaimsSettings

Rt = Runtime[ClaimsSettings, ClaimsDeps]
ClaimId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$", description="Claim id, CL-<case id>")]
READERS = (Role.CLAIMS_REVIEWER, Role.CLAIMS_APPROVER, Role.CLAIMS_ARBITER, Role.FINANCE_AUDITOR)
#: ClaimError codes that are the caller's fault in the request itself (the rest are conflicts with the claim's state).
_STATUS = {"not_found": 404, "self_approval": 403, "reason_code": 422, "above_cap": 422, "cap_unknown": 422}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FactsPatch(_Body):
    actual_value: Money | None = None
    loss_share_bp: int | None = Field(default=None, ge=0, le=10_000)
    days_late: int | None = Field(default=None, ge=0, le=3650)
    service_scope: Literal["same_city", "domestic", "international"] | None = None
    outer_box_intact: bool | None = None


class ReviewBody(_Body):
    """The reviewer is the token's subject, never a field of the body."""

    action: Literal["approve", "adjust", "reject"]
    reason_code: Identifier | None = Field(default=None, description="From the rules' list; adjust and reject need one")
    reason: str = Field(default="", max_length=4000)
    amount_minor: int | None = Field(default=None, ge=0, le=10**12, description="Adjust: the amount, within the cap")
    facts: FactsPatch | None = None
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


def merge_facts(facts: ClaimFacts, patch: FactsPatch) -> ClaimFacts:
    data = facts.model_dump(mode="json")
    data.update(patch.model_dump(mode="json", exclude_unset=True))
    return ClaimFacts.model_validate(data, strict=False)


def claim_view(claim: ClaimRecord) -> dict[str, Any]:
    data = claim.model_dump(
        mode="json", exclude={"customer_ref", "opened_ts", "lines", "missing", "ledger", "audit", "proposal"}
    )
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


def actor_of(principal: Principal) -> Actor:
    return Actor(subject=principal.subject, roles=sorted(principal.roles)[:20])


def stamp(request: Request, principal: Principal) -> Stamp:
    return Stamp(actor_of(principal), request_id(request))


def _now() -> datetime:
    return datetime.now(UTC)


def refusal(exc: ClaimError) -> Refused:
    return Refused(_STATUS.get(exc.code, 409), exc.code, exc.message, field=exc.field)


async def run_command(runtime: Rt, claim_id: str, mutate: Mutation, principal: Principal) -> dict[str, Any]:
    """Run one command on a claim (one unit of work, re-run on a conflict, then published)."""
    port = CommandPort(runtime.unit_of_work, runtime.relay.flush, runtime.settings)
    try:
        claim, _ = await execute(port, claim_id, mutate, actor_of(principal))
    except ClaimError as exc:
        raise refusal(exc) from None
    return claim_view(claim)


def routers(runtime: Rt) -> Sequence[APIRouter]:
    return [claim_routes(runtime), station_routes(runtime)]


def claim_routes(runtime: Rt) -> APIRouter:
    api = APIRouter(tags=["claims"])

    async def command(claim_id: str, mutate: Mutation, principal: Principal) -> dict[str, Any]:
        return await run_command(runtime, claim_id, mutate, principal)

    async def load(claim_id: str) -> ClaimRecord:
        claim = store.parse(await runtime.store.get(store.CLAIMS, claim_id))
        if claim is None:
            raise Refused(404, "not_found", f"no claim {claim_id}")
        return claim

    @api.get("/claims", summary="Claims by status, oldest first (the reviewers' and approvers' queues)")
    async def queue(
        who: Annotated[Principal, caller(*READERS)],
        status: model.Status = model.Status.PENDING_REVIEW,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        docs = await runtime.store.find(
            store.CLAIMS, StoreQuery(where={"status": status.value}, order_by="opened_ts", limit=limit)
        )
        claims = [c for c in (store.parse(d) for d in docs) if c is not None]
        return {
            "status": status.value,
            "claims": [
                {
                    "claim_id": c.claim_id,
                    "case_id": c.case_id,
                    "claim_kind": c.claim_kind.value,
                    "opened_at": c.opened_at,
                    "assessed_amount_minor": c.assessed_amount_minor,
                    "proposed_amount_minor": c.proposal.amount_minor if c.proposal else None,
                    "currency": c.currency,
                    "missing": c.missing,
                    "fraud_flags": [f.value for f in c.fraud_flags],
                    "reason": c.decisions[-1].reason if c.decisions else "",
                }
                for c in claims
            ],
        }

    @api.get("/claims/{claim_id}", summary="A claim: computation, decisions, payouts, liability, ledger")
    async def get_claim(claim_id: ClaimId, who: Annotated[Principal, caller(*READERS)]) -> dict[str, Any]:
        return claim_view(await load(claim_id))

    @api.get("/claims/{claim_id}/audit", summary="Every decision people took on a claim: who, when, what, amounts")
    async def get_audit(claim_id: ClaimId, who: Annotated[Principal, caller(Role.FINANCE_AUDITOR)]) -> dict[str, Any]:
        claim = await load(claim_id)
        return {
            "claim_id": claim.claim_id,
            "currency": claim.currency,
            "records": [r.model_dump(mode="json") for r in claim.audit],
        }

    @api.post(
        "/claims/{claim_id}/review",
        summary="Approve, adjust (within the rules' cap) or reject a claim; above the threshold, propose",
    )
    async def review(
        claim_id: ClaimId,
        body: ReviewBody,
        request: Request,
        who: Annotated[Principal, caller(Role.CLAIMS_REVIEWER)],
    ) -> dict[str, Any]:
        rules = runtime.deps.rules
        by = stamp(request, who)

        def mutate(claim: ClaimRecord) -> list[model.Effect]:
            facts = merge_facts(claim.facts, body.facts) if body.facts else None
            command = model.Review(
                body.action,
                by,
                body.reason_code,
                body.reason,
                body.amount_minor,
                facts,
                body.request_id,
                body.claim_kind,
            )
            effects = model.review(claim, command, rules, _now())
            if effects:
                claim.evidence += list(body.evidence)[: 50 - len(claim.evidence)]
            return effects

        return await command(claim_id, mutate, who)

    @api.post("/claims/{claim_id}/approval", summary="Second approval of a proposal: a different approver decides")
    async def approval(
        claim_id: ClaimId,
        body: ApprovalBody,
        request: Request,
        who: Annotated[Principal, caller(Role.CLAIMS_APPROVER)],
    ) -> dict[str, Any]:
        rules = runtime.deps.rules
        decision = model.Approval(body.decision, stamp(request, who), body.reason_code, body.reason)
        return await command(claim_id, lambda c: model.second_approval(c, decision, rules, _now()), who)

    @api.post("/claims/{claim_id}/appeal", summary="Record the customer's appeal of a decision (back to review)")
    async def appeal(
        claim_id: ClaimId, body: AppealBody, request: Request, who: Annotated[Principal, caller(Role.CLAIMS_REVIEWER)]
    ) -> dict[str, Any]:
        rules, by = runtime.deps.rules, stamp(request, who)

        def mutate(claim: ClaimRecord) -> list[model.Effect]:
            before, now = claim.granted_minor, _now()
            effects = model.appeal(claim, body.reason, rules, now)
            return model.audited(claim, effects, AuditAction.APPEALED, by, before_minor=before, now=now)

        return await command(claim_id, mutate, who)

    @api.post("/claims/{claim_id}/arbitration", summary="HQ decides which stations are liable, and for what share")
    async def arbitrate(
        claim_id: ClaimId,
        body: ArbitrationBody,
        request: Request,
        who: Annotated[Principal, caller(Role.CLAIMS_ARBITER)],
    ) -> dict[str, Any]:
        rules, by = runtime.deps.rules, stamp(request, who)
        liable = [LiableShare(station=x.station, share_bp=x.share_bp, reason=x.reason) for x in body.liable]
        reason = f"HQ arbitration ({who.subject}): {body.reason}"

        def mutate(claim: ClaimRecord) -> list[model.Effect]:
            before, now = claim.granted_minor, _now()
            effects = model.hq_decide(claim, liable, reason, rules, now)
            return model.audited(claim, effects, AuditAction.ARBITRATED, by, before_minor=before, now=now)

        return await command(claim_id, mutate, who)

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
        hi = end.timestamp() if end else _now().timestamp() + 86400
        entries = await runtime.store.find(
            store.STATION_ENTRIES,
            StoreQuery(where={"station": code}, range_field="at_ts", gte=lo, lt=hi, order_by="at_ts", limit=10_000),
        )
        rows = [{k: v for k, v in e.items() if k not in ("_id", "_v", "at_ts")} for e in entries]
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
        entry = await runtime.store.get(store.STATION_ENTRIES, chargeback_id)
        if entry is None or entry.get("station") != code:
            raise Refused(404, "not_found", f"no chargeback {chargeback_id} of {code}")
        rules, by = runtime.deps.rules, stamp(request, who)

        def mutate(claim: ClaimRecord) -> list[model.Effect]:
            before, now = claim.granted_minor, _now()
            effects = model.appeal_chargeback(claim, chargeback_id, code, body.reason, rules=rules, now=now)
            return model.audited(claim, effects, AuditAction.CHARGEBACK_APPEALED, by, before_minor=before, now=now)

        return await run_command(runtime, str(entry["claim_id"]), mutate, who)

    return api
