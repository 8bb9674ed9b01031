"""Event in -> pending deliveries out. Handlers never send: the delivery worker does, after the commit."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from caseflow_contracts import Event, Topic
from caseflow_contracts.cases import CaseEscalated, CaseOpened, CaseProgressNoted, CaseResolved
from caseflow_contracts.claims import ClaimDecided, PayoutIssued
from caseflow_contracts.sla import SlaBreached
from caseflow_contracts.topics import CASES_LIFECYCLE, CLAIMS_EVENTS, SLA_BREACHES
from caseflow_kit import Context
from caseflow_kit.consumer import Handler
from caseflow_kit.logs import scrub

from .delivery import Deps
from .domain import contact_of, is_urgent, matching_rules, notification_id, recipient
from .policy import Policy
from .store import CASES, DELIVERIES, TRIGGERS, case_doc, delivery_doc, trigger_doc

Vars = dict[str, Any]


# -- what each event says to the customer (pure) -------------------------------------------------------


def opened_vars(event: CaseOpened, policy: Policy) -> Vars:
    p = event.payload
    callback_by = p.opened_at + timedelta(hours=policy.callback_hours)
    return {"case_id": p.case_id, "callback_by": callback_by.isoformat(), "waybill_no": p.waybill_no}


def escalated_vars(event: CaseEscalated, policy: Policy) -> Vars:
    p = event.payload
    callback_by = p.escalated_at + timedelta(hours=policy.callback_hours)
    return {"case_id": p.case_id, "station": p.holder, "level": p.level.value, "callback_by": callback_by.isoformat()}


def progress_vars(event: CaseProgressNoted, policy: Policy) -> Vars:
    p = event.payload
    return {"case_id": p.case_id, "station": p.station, "note": scrub(p.note).strip() or "-"}


def resolved_vars(event: CaseResolved, policy: Policy) -> Vars:
    p = event.payload
    return {"case_id": p.case_id, "result": p.result.value, "solution": scrub(p.solution).strip() or "-"}


def breached_vars(event: SlaBreached, policy: Policy) -> Vars:
    p = event.payload
    return {"case_id": p.case_id, "metric": p.metric.value, "deadline_at": p.deadline_at.isoformat()}


def claim_vars(event: ClaimDecided, policy: Policy) -> Vars:
    p = event.payload
    return {
        "case_id": p.case_id,
        "claim_id": p.claim_id,
        "decision": p.decision.value,
        "amount": p.amount.model_dump(mode="json"),
    }


def payout_vars(event: PayoutIssued, policy: Policy) -> Vars:
    p = event.payload
    return {"case_id": p.case_id, "claim_id": p.claim_id, "amount": p.amount.model_dump(mode="json")}


# -- recording ---------------------------------------------------------------------------------------


async def record(
    event: Event, ctx: Context[Deps], topic: Topic, case_id: str, variables: Vars, *, priority: str | None = None
) -> int:
    """One pending delivery per (case, event, channel) the policy asks for; returns how many were new."""
    deps = ctx.deps
    policy = deps.policy
    rules = matching_rules(policy, event.type, event.payload.model_dump(mode="json"))
    if not rules:
        return 0
    case = await ctx.uow.get(CASES, case_id)
    contact = contact_of(case) if case else None
    priority = priority or (case or {}).get("priority")
    added = 0
    for rule in rules:
        for channel in rule.channels:
            if contact is not None and recipient(channel, contact, deps.webhook_targets) is None:
                continue  # this customer cannot be reached on this channel (no phone, no e-mail, no webhook)
            nid = notification_id(case_id, event.event_id, channel)
            if await ctx.uow.get(DELIVERIES, nid) is not None:
                continue
            ctx.uow.add(
                DELIVERIES,
                delivery_doc(
                    notification_id=nid,
                    case_id=case_id,
                    channel=channel.value,
                    template=rule.template,
                    urgent=is_urgent(rule, priority, policy),
                    variables=variables,
                    trigger_event_id=event.event_id,
                    trigger_type=event.type,
                    trigger_topic=topic.name,
                    correlation_id=event.correlation_id,
                    slot=ctx.uow.owner_slot(case_id),
                ),
            )
            added += 1
    if added and await ctx.uow.get(TRIGGERS, event.event_id) is None:
        ctx.uow.add(TRIGGERS, trigger_doc(event.event_id, topic.name, event.model_dump_json()))
    if added and deps.worker is not None:
        deps.worker.wake()
    return added


async def on_case_opened(event: CaseOpened, ctx: Context[Deps]) -> None:
    p = event.payload
    if await ctx.uow.get(CASES, p.case_id) is None:
        ctx.uow.add(CASES, case_doc(p))
    await record(event, ctx, CASES_LIFECYCLE, p.case_id, opened_vars(event, ctx.deps.policy), priority=p.priority.value)


async def on_case_escalated(event: CaseEscalated, ctx: Context[Deps]) -> None:
    p = event.payload
    await record(
        event, ctx, CASES_LIFECYCLE, p.case_id, escalated_vars(event, ctx.deps.policy), priority=p.priority.value
    )


async def on_progress_noted(event: CaseProgressNoted, ctx: Context[Deps]) -> None:
    await record(event, ctx, CASES_LIFECYCLE, event.payload.case_id, progress_vars(event, ctx.deps.policy))


async def on_case_resolved(event: CaseResolved, ctx: Context[Deps]) -> None:
    await record(event, ctx, CASES_LIFECYCLE, event.payload.case_id, resolved_vars(event, ctx.deps.policy))


async def on_sla_breached(event: SlaBreached, ctx: Context[Deps]) -> None:
    p = event.payload
    await record(event, ctx, SLA_BREACHES, p.case_id, breached_vars(event, ctx.deps.policy), priority=p.priority.value)


async def on_claim_decided(event: ClaimDecided, ctx: Context[Deps]) -> None:
    await record(event, ctx, CLAIMS_EVENTS, event.payload.case_id, claim_vars(event, ctx.deps.policy))


async def on_payout_issued(event: PayoutIssued, ctx: Context[Deps]) -> None:
    await record(event, ctx, CLAIMS_EVENTS, event.payload.case_id, payout_vars(event, ctx.deps.policy))


LIFECYCLE_HANDLERS: dict[str, Handler] = {
    "case.opened": on_case_opened,
    "case.escalated": on_case_escalated,
    "case.progress_noted": on_progress_noted,
    "case.resolved": on_case_resolved,
}
SLA_HANDLERS: dict[str, Handler] = {"sla.breached": on_sla_breached}
CLAIMS_HANDLERS: dict[str, Handler] = {"claim.decided": on_claim_decided, "payout.issued": on_payout_issued}
