"""HTTP endpoints: read a claim and a station's statement; review, appeal and arbitrate."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from caseflow_contracts import Money
from caseflow_contracts.claims import ClaimFacts, ClaimKind, EvidenceRef
from caseflow_contracts.common import Identifier, StationCode
from caseflow_kit import Request, Response, Route, Runtime
from caseflow_kit.store import Query

from . import model, store
from .deps import ClaimsDeps
from .model import ClaimError, ClaimRecord, LiableShare
from .service import CommandPort, Mutation, execute
from .settings import ClaimsSettings

Rt = Runtime[ClaimsSettings, ClaimsDeps]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FactsPatch(_Body):
    actual_value: Money | None = None
    loss_share_bp: int | None = Field(default=None, ge=0, le=10_000)
    days_late: int | None = Field(default=None, ge=0, le=3650)
    service_scope: Literal["same_city", "domestic", "international"] | None = None
    outer_box_intact: bool | None = None


class ReviewBody(_Body):
    action: Literal["approve", "adjust", "reject"]
    reviewer_id: Identifier
    reason: str = Field(default="", max_length=4000)
    amount_minor: int | None = Field(default=None, ge=0, le=10**12)
    facts: FactsPatch | None = None
    evidence: list[EvidenceRef] = Field(default_factory=list, max_length=20)
    request_id: Identifier | None = Field(default=None, description="Idempotency key of the request")
    claim_kind: ClaimKind | None = Field(default=None, description="Adjust: the kind, when the case did not say")


class AppealBody(_Body):
    reason: str = Field(min_length=1, max_length=4000)


class ShareBody(_Body):
    station: StationCode
    share_bp: int = Field(ge=0, le=10_000)
    reason: str = Field(default="", max_length=4000)


class ArbitrationBody(_Body):
    liable: list[ShareBody] = Field(max_length=10, description="Empty: no station liable (无责)")
    reason: str = Field(min_length=1, max_length=4000)
    decided_by_id: Identifier


def merge_facts(facts: ClaimFacts, patch: FactsPatch) -> ClaimFacts:
    data = facts.model_dump(mode="json")
    data.update(patch.model_dump(mode="json", exclude_unset=True))
    return ClaimFacts.model_validate(data, strict=False)


def claim_view(claim: ClaimRecord) -> dict[str, Any]:
    data = claim.model_dump(mode="json", exclude={"customer_ref", "opened_ts", "lines", "missing", "ledger"})
    data["computation"] = {
        "amount_minor": claim.assessed_amount_minor,
        "currency": claim.currency,
        "missing": claim.missing,
        "lines": [x.model_dump() for x in claim.lines],
    }
    data["ledger"] = {**claim.ledger_summary(), "entries": [e.model_dump() for e in claim.ledger]}
    return data


def _error(exc: ClaimError) -> Response:
    status = {"not_found": 404, "reason_required": 400}.get(exc.code, 409)
    return Response(status, {"error": exc.code, "detail": exc.message})


def _parse(body_type: type[_Body], request: Request) -> Any:
    return body_type.model_validate_json(request.body or b"{}")


def _now() -> datetime:
    return datetime.now(UTC)


def _time(text: str | None, default: float) -> float:
    if not text:
        return default
    value = datetime.fromisoformat(text)
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def routes(runtime: Rt) -> list[Route]:
    def port() -> CommandPort:
        return CommandPort(runtime.unit_of_work, runtime.relay.flush, runtime.settings)

    async def command(claim_id: str, mutate: Mutation) -> Response:
        try:
            claim, _ = await execute(port(), claim_id, mutate)
        except ClaimError as exc:
            return _error(exc)
        return Response(200, claim_view(claim))

    def with_body(
        body_type: type[_Body], act: Callable[[Request, Any], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                body = _parse(body_type, request)
            except ValidationError as exc:
                return Response.bad_request("; ".join(e["msg"] for e in exc.errors(include_input=False)[:5]))
            return await act(request, body)

        return endpoint

    async def get_claim(request: Request) -> Response:
        claim = store.parse(await runtime.store.get(store.CLAIMS, request.params["claim_id"]))
        if claim is None:
            return Response.not_found(request.params["claim_id"])
        return Response(200, claim_view(claim))

    async def queue(request: Request) -> Response:
        """Claims by status, oldest first: `?status=pending_review` is the reviewers' queue."""
        status = request.query.get("status", model.Status.PENDING_REVIEW.value)
        if status not in {x.value for x in model.Status}:
            return Response.bad_request(f"status is one of {', '.join(x.value for x in model.Status)}")
        try:
            limit = min(max(int(request.query.get("limit", "100")), 1), 1000)
        except ValueError:
            return Response.bad_request("limit is a number")
        docs = await runtime.store.find(
            store.CLAIMS, Query(where={"status": status}, order_by="opened_ts", limit=limit)
        )
        claims = [c for c in (store.parse(d) for d in docs) if c is not None]
        return Response(
            200,
            {
                "status": status,
                "claims": [
                    {
                        "claim_id": c.claim_id,
                        "case_id": c.case_id,
                        "claim_kind": c.claim_kind.value,
                        "opened_at": c.opened_at,
                        "assessed_amount_minor": c.assessed_amount_minor,
                        "currency": c.currency,
                        "missing": c.missing,
                        "fraud_flags": [f.value for f in c.fraud_flags],
                        "reason": c.decisions[-1].reason if c.decisions else "",
                    }
                    for c in claims
                ],
            },
        )

    async def review(request: Request, body: ReviewBody) -> Response:
        rules = runtime.deps.rules

        def mutate(claim: ClaimRecord) -> list[model.Effect]:
            facts = merge_facts(claim.facts, body.facts) if body.facts else None
            effects = model.review(
                claim,
                model.Review(
                    body.action,
                    body.reviewer_id,
                    body.reason,
                    body.amount_minor,
                    facts,
                    body.request_id,
                    body.claim_kind,
                ),
                rules,
                _now(),
            )
            if effects:
                claim.evidence += list(body.evidence)[: 50 - len(claim.evidence)]
            return effects

        return await command(request.params["claim_id"], mutate)

    async def appeal(request: Request, body: AppealBody) -> Response:
        rules = runtime.deps.rules
        return await command(request.params["claim_id"], lambda c: model.appeal(c, body.reason, rules, _now()))

    async def arbitrate(request: Request, body: ArbitrationBody) -> Response:
        rules = runtime.deps.rules
        liable = [LiableShare(station=x.station, share_bp=x.share_bp, reason=x.reason) for x in body.liable]
        reason = f"HQ arbitration ({body.decided_by_id}): {body.reason}"
        return await command(request.params["claim_id"], lambda c: model.hq_decide(c, liable, reason, rules, _now()))

    async def appeal_chargeback(request: Request, body: AppealBody) -> Response:
        station, cb_id = request.params["code"], request.params["chargeback_id"]
        entry = await runtime.store.get(store.STATION_ENTRIES, cb_id)
        if entry is None or entry.get("station") != station:
            return Response.not_found(f"chargeback {cb_id} of {station}")
        rules = runtime.deps.rules
        return await command(
            str(entry["claim_id"]),
            lambda c: model.appeal_chargeback(c, cb_id, station, body.reason, rules=rules, now=_now()),
        )

    async def statement(request: Request) -> Response:
        station = request.params["code"]
        try:
            start = _time(request.query.get("from"), 0.0)
            end = _time(request.query.get("to"), _now().timestamp() + 86400)
        except ValueError:
            return Response.bad_request("from and to are ISO-8601 date-times")
        entries = await runtime.store.find(
            store.STATION_ENTRIES,
            Query(where={"station": station}, range_field="at_ts", gte=start, lt=end, order_by="at_ts", limit=10_000),
        )
        rows = [{k: v for k, v in e.items() if k not in ("_id", "_v", "at_ts")} for e in entries]
        totals = {f: sum(int(r[f]) for r in rows) for f in ("payout_share_minor", "penalty_minor", "total_minor")}
        return Response(
            200,
            {
                "station": station,
                "from": datetime.fromtimestamp(start, UTC).isoformat(),
                "to": datetime.fromtimestamp(end, UTC).isoformat(),
                "currency": runtime.deps.rules.currency,
                "entries": rows,
                "totals": {**totals, "count": len(rows)},
            },
        )

    return [
        Route("GET", "/claims", queue),
        Route("GET", "/claims/{claim_id}", get_claim),
        Route("POST", "/claims/{claim_id}/review", with_body(ReviewBody, review)),
        Route("POST", "/claims/{claim_id}/appeal", with_body(AppealBody, appeal)),
        Route("POST", "/claims/{claim_id}/arbitration", with_body(ArbitrationBody, arbitrate)),
        Route("GET", "/stations/{code}/chargebacks", statement),
        Route("POST", "/stations/{code}/chargebacks/{chargeback_id}/appeal", with_body(AppealBody, appeal_chargeback)),
    ]
