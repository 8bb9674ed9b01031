"""What each event tells the customer (the template's variables), and which deliveries it causes.

Pure: the variables come from the event alone (the station and agent that speak, the appeal window the
claim's rules set, the survey's reply keyword and link), never from another service's copy of the case.
`from_station` / `from_agent` name who speaks in the opening line (seed 000 开场白); None: the
customer-service centre speaks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from caseflow_contracts import Event
from caseflow_contracts.cases import (
    CaseEscalatedPayload,
    CaseOpenedPayload,
    CaseResolvedPayload,
    CaseStationActionPayload,
    CaseTransferredPayload,
)
from caseflow_contracts.claims import ClaimDecidedPayload, PayoutIssuedPayload
from caseflow_contracts.notify import NotifyChannel
from caseflow_contracts.sla import SlaClockPayload

from .cases import NotifyCase
from .delivery import CUSTOMER, Delivery, Trigger
from .rules import CUSTOMER_CHANNELS, DeliveryPolicy, FanOut, Rule

Vars = dict[str, Any]


@dataclass(frozen=True)
class Says:
    """What an event says: the template's variables, and the priority it carries (None: the case's)."""

    variables: Vars
    priority: str | None = None


class Scrub(Protocol):
    """Takes personal data out of free text (the kit's `logs.scrub` fits)."""

    def __call__(self, text: str, /) -> str: ...


def _speaker(station: str | None = None, agent_id: str | None = None) -> Vars:
    return {"from_station": station, "from_agent": agent_id}


def _by(at: datetime, policy: DeliveryPolicy) -> str:
    return (at + timedelta(hours=policy.callback_hours)).isoformat()


def opened(p: CaseOpenedPayload, policy: DeliveryPolicy) -> Says:
    variables = {"case_id": p.case_id, "callback_by": _by(p.opened_at, policy), "waybill_no": p.waybill_no}
    return Says({**variables, **_speaker()}, p.priority.value)


def escalated(p: CaseEscalatedPayload, policy: DeliveryPolicy) -> Says:
    variables = {
        "case_id": p.case_id,
        "station": p.holder,
        "supervisor": p.supervisor or p.holder,
        "level": p.level.value,
        "callback_by": _by(p.escalated_at, policy),
    }
    return Says({**variables, **_speaker()}, p.priority.value)


def transferred(p: CaseTransferredPayload, policy: DeliveryPolicy) -> Says:
    variables = {"case_id": p.case_id, "station": p.to_station, "callback_by": _by(p.transferred_at, policy)}
    return Says({**variables, **_speaker()}, p.priority.value)


def progress(p: CaseStationActionPayload, scrub: Scrub) -> Says:
    variables = {"case_id": p.case_id, "station": p.station, "note": scrub(p.note).strip() or "-"}
    return Says({**variables, **_speaker(p.station, p.agent_id)})


def resolved(p: CaseResolvedPayload, event_id: str, policy: DeliveryPolicy, scrub: Scrub) -> Says:
    """The result, and the satisfaction question with how to answer it (an SMS reply or the survey link)."""
    survey = policy.satisfaction
    variables = {
        "case_id": p.case_id,
        "result": p.result.value,
        "solution": scrub(p.solution).strip() or "-",
        "reply_keyword": survey.sms_keyword,
        "survey_link": survey.link.format(case_id=p.case_id, ref=event_id),
    }
    return Says({**variables, **_speaker(p.station, p.agent_id)})


def breached(p: SlaClockPayload) -> Says:
    variables = {"case_id": p.case_id, "metric": p.metric.value, "deadline_at": p.deadline_at.isoformat()}
    return Says({**variables, **_speaker()}, p.priority.value)


def claim_decided(p: ClaimDecidedPayload) -> Says:
    """The appeal window is the one the claim's rules set (claims enforces it), never a constant of ours."""
    variables = {
        "case_id": p.case_id,
        "claim_id": p.claim_id,
        "decision": p.decision.value,
        "amount": p.amount.model_dump(mode="json"),
        "appeal_until": p.appeal_until.isoformat() if p.appeal_until else None,
    }
    return Says({**variables, **_speaker()})


def payout_issued(p: PayoutIssuedPayload) -> Says:
    variables = {"case_id": p.case_id, "claim_id": p.claim_id, "amount": p.amount.model_dump(mode="json")}
    return Says({**variables, **_speaker()})


#: What each step says, from the event alone.
_SAYS: dict[str, Callable[[Any, DeliveryPolicy, Scrub], Says]] = {
    "case.opened": lambda e, policy, scrub: opened(e.payload, policy),
    "case.escalated": lambda e, policy, scrub: escalated(e.payload, policy),
    "case.transferred": lambda e, policy, scrub: transferred(e.payload, policy),
    "case.progress_noted": lambda e, policy, scrub: progress(e.payload, scrub),
    "case.resolved": lambda e, policy, scrub: resolved(e.payload, e.event_id, policy, scrub),
    "sla.breached": lambda e, policy, scrub: breached(e.payload),
    "claim.decided": lambda e, policy, scrub: claim_decided(e.payload),
    "payout.issued": lambda e, policy, scrub: payout_issued(e.payload),
}


def says(event: Event, policy: DeliveryPolicy, scrub: Scrub) -> Says:
    """What `event` tells the customer; KeyError for an event that tells nothing."""
    return _SAYS[event.type](event, policy, scrub)


# -- which deliveries an event causes --------------------------------------------------------------


@dataclass(frozen=True)
class Told:
    deliveries: list[Delivery]
    #: Of those, the ones only worth sending while the case stays open.
    while_open: list[str]


def deliveries_for(
    policy: DeliveryPolicy,
    trigger: Trigger,
    says: Says,
    case: NotifyCase | None,
    *,
    payload: Mapping[str, Any],
    webhook_targets: frozenset[str],
    slot: int,
    now: float,
) -> Told:
    """One delivery per audience and rule: the customer once on their preferred channel (or on every
    listed channel, for `fan_out: all`), the platform's webhook when the rule lists it and the platform
    has one. With the case not yet known (an event of another topic overtook case.opened) nothing is
    left out: the worker decides when the contact arrives."""
    found: list[Delivery] = []
    while_open: list[str] = []
    priority = says.priority or (case.priority if case else None)
    for rule in policy.matching(trigger.type, dict(payload)):
        urgent = rule.urgent or (priority is not None and priority in policy.urgent_priorities)
        made = [
            Delivery.new(
                case_id=str(payload["case_id"]),
                key=key,
                channel=channel,
                candidates=candidates,
                template=rule.template,
                urgent=urgent,
                variables=says.variables,
                trigger=trigger,
                slot=slot,
                now=now,
            )
            for key, channel, candidates in _audiences(rule, policy, case, webhook_targets)
        ]
        if case is not None and rule.while_open and not case.is_open:
            made = [d.skipped(f"case {case.status.value} before this was said", now) for d in made]
        elif rule.while_open:
            while_open += [d.id for d in made]
        found += made
    return Told(found, while_open)


def _audiences(
    rule: Rule, policy: DeliveryPolicy, case: NotifyCase | None, targets: frozenset[str]
) -> list[tuple[NotifyChannel | str, NotifyChannel | None, tuple[NotifyChannel, ...]]]:
    contact = case.contact if case is not None else None

    def reaches(channel: NotifyChannel) -> bool:
        return contact is None or contact.recipient(channel, targets) is not None

    customer = tuple(c for c in rule.channels if c in CUSTOMER_CHANNELS)
    found: list[tuple[NotifyChannel | str, NotifyChannel | None, tuple[NotifyChannel, ...]]] = []
    if policy.fan_out_of(rule) is FanOut.ALL:
        found += [(c, c, (c,)) for c in customer if reaches(c)]
    elif customer and any(reaches(c) for c in customer):
        found.append((CUSTOMER, None, customer))
    if NotifyChannel.WEBHOOK in rule.channels and reaches(NotifyChannel.WEBHOOK):
        found.append((NotifyChannel.WEBHOOK, NotifyChannel.WEBHOOK, (NotifyChannel.WEBHOOK,)))
    return found
