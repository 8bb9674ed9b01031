"""intake's case: how it opens, takes further exceptions and contacts, closes, reopens and records answers.

Each operation changes the aggregates it is given and returns a `Change`: what to store, which event payloads
to emit (with the parts their deterministic event ids are made of) and what to count. Times come in as
parameters: `now` is when intake acts (the service's clock), input times are event times (inputs.happened_at).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from caseflow_contracts.cases import (
    CaseMergedPayload,
    CaseOpenedPayload,
    CaseReopenedPayload,
    CaseSatisfactionRecordedPayload,
    FraudFlag,
    StationHint,
)
from caseflow_contracts.common import CaseKind, Channel, Claimant, Priority
from caseflow_contracts.upstream import ContactCategory

from ..rules import IntakeRules
from . import classify, fraud
from .inputs import Incoming
from .privacy import Privacy, Sealed
from .reference import Action, Decision, Reference

SUMMARY_LIMIT = 4000
HISTORY_SUMMARY_LIMIT = 2000


class Status(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class HistoryEntry:
    """One line of a case's contact history (shown, masked, by GET /cases/{case_id})."""

    action: str  # opened, merged, reopened, rejoined, satisfaction
    at: datetime  # when intake recorded it
    source: str  # exc, contact, answer
    source_event_id: str
    channel: Channel
    kind: CaseKind | None
    summary: str
    received_at: datetime  # when it happened (event time)
    category: ContactCategory | None = None
    score: int | None = None


@dataclass(frozen=True)
class CaseDraft:
    """A case as it would open, before the claim history and the moment it opens."""

    payload: CaseOpenedPayload
    problem: str
    ref: str
    at: datetime  # when the input happened
    claim: bool  # counts toward the frequent-claimant flag
    contacts: int  # 1 for a customer contact, 0 for an exception
    entry: HistoryEntry


@dataclass(frozen=True)
class FollowUp:
    """A customer contact merged into a case, kept sealed as it came for routing's word on it: if routing had
    closed the case (case.contact_after_closure), the contact may still open its own follow-up case."""

    case_id: str
    source_key: str
    source_event_id: str  # the contact's id in its channel, as case.merged and routing's notice name it
    contact: Sealed
    at: datetime  # when the contact was made (Incoming.at)
    priority_before: Priority  # the case's priority before this contact merged (what a reopening raises)


@dataclass
class ClaimHistory:
    """One customer's recent claims (by pseudonym), for the frequent-claimant flag."""

    customer_ref: str
    claims: list[fraud.PastClaim] = field(default_factory=list)
    version: int = 0  # the stored version (0: not stored yet)


@dataclass
class IntakeCase:
    """intake's record of a case: how it opened, what joined it, and intake's copy of whether it is closed."""

    opening: CaseOpenedPayload
    problem: str
    ref: str
    priority: Priority
    contacts: int
    history: list[HistoryEntry]
    status: Status = Status.OPEN
    repeat_contacts: int = 0
    reopen_count: int = 0
    reopened_at: datetime | None = None
    closed_at: datetime | None = None
    #: The close the last reopening ended; a close stamped at or before `episode_from` (that close, or the
    #: contact that reopened it, whichever is later) belongs to an earlier episode.
    reopened_from: datetime | None = None
    episode_from: datetime | None = None
    station: str | None = None  # the station that held the case when it last closed (case.resolved)
    complaint: bool = False
    answers: list[str] = field(default_factory=list)  # satisfaction answers recorded (source keys)
    version: int = 0  # the stored version (0: not stored yet)

    @property
    def case_id(self) -> str:
        return self.opening.case_id


Payload = CaseOpenedPayload | CaseMergedPayload | CaseReopenedPayload | CaseSatisfactionRecordedPayload


@dataclass(frozen=True)
class Emit:
    """An event payload to publish; `basis` (with the event type) makes its deterministic event id."""

    payload: Payload
    basis: tuple[str, ...]


@dataclass(frozen=True)
class Reopening:
    """A customer contact after a close, counted per station and platform: reopened, follow_up or rejoined."""

    outcome: str
    station: str
    platform: str


@dataclass
class Change:
    """What one decision changed: records to store, events to emit, what to count."""

    emits: list[Emit] = field(default_factory=list)
    cases: list[IntakeCase] = field(default_factory=list)
    refs: list[Reference] = field(default_factory=list)
    followups: list[FollowUp] = field(default_factory=list)
    claims: ClaimHistory | None = None
    reopening: Reopening | None = None


@dataclass(frozen=True)
class Joining:
    """What a merge or a reopening needs of the input that causes it."""

    source_event_id: str
    channel: Channel
    contact: bool
    at: datetime  # when the input happened
    priority: Priority  # the input's own priority
    summary: str
    complaint: bool = False
    claimant: Claimant | None = None

    @classmethod
    def of_draft(cls, draft: CaseDraft, source_event_id: str, at: datetime) -> Joining:
        p = draft.payload
        return cls(source_event_id, p.channel, True, at, p.priority, p.summary, p.complaint, p.claimant)


# -- opening ----------------------------------------------------------------------------------------


def case_id_for(source_key: str, at: datetime) -> str:
    """CF-<yyyymmdd><10 base32 chars of the source>: the same source always gives the same case number."""
    # Ten characters need the first 50 bits: base32 of 10 bytes starts as that of the whole digest does.
    digest = base64.b32encode(hashlib.sha256(source_key.encode()).digest()[:10]).decode()[:10]
    return f"CF-{at:%Y%m%d}{digest}"


def _entry(item: Incoming, action: str, at: datetime, summary: str) -> HistoryEntry:
    return HistoryEntry(
        action=action,
        at=at,
        source=item.source,
        source_event_id=item.source_event_id,
        channel=item.channel,
        kind=item.kind,
        summary=summary[:HISTORY_SUMMARY_LIMIT],
        received_at=item.at,
        category=item.category,
    )


def draft_case(
    item: Incoming, *, rules: IntakeRules, privacy: Privacy, now: datetime, linked: str | None = None
) -> CaseDraft:
    """Everything the case's opening says, from the input alone (personal data sealed and scrubbed here)."""
    summary = privacy.scrub(item.text, item.customer, SUMMARY_LIMIT)
    priority, reasons = _priority_of(item, rules)
    # Only a customer's own words say which language they speak; an exception's text is the upstream system's.
    language = classify.language_of(item.language, item.text if item.contact else "", rules)
    station, reason = classify.station_hint(item.kind, item.stations, rules)
    payload = CaseOpenedPayload(
        case_id=case_id_for(item.source_key, item.stated_at),
        kind=item.kind,
        priority=priority,
        priority_reasons=[r[:200] for r in reasons][:20],
        channel=item.channel,
        category=item.category,
        sale_stage=item.sale_stage,
        waybill_no=item.waybill_no,
        platform=item.platform,
        platform_order_id=item.platform_order_id,
        language=language,
        cross_border=item.cross_border,
        area=item.area,
        station_hint=StationHint(station=station, reason=reason),
        customer=privacy.seal(item.customer, language),
        customer_ref=privacy.customer_ref(item.customer, item.source_key),
        vip=item.customer.vip,
        fraud_flags=fraud.order_fraud_flags(item.order_amount, item.shipping_address, item.billing_address, rules),
        parcel=item.parcel,
        summary=summary,
        linked_case_id=linked,
        opened_at=now,
        rules_version=rules.version,
        complaint=item.complaint,
        claimant=item.claimant,
        evidence_refs=list(item.evidence_refs),
    )
    return CaseDraft(
        payload=payload,
        problem=rules.problem_of(item.kind),
        ref=item.ref,
        at=item.at,
        claim=fraud.is_claim(item.kind, item.category, rules),
        contacts=1 if item.contact else 0,
        entry=_entry(item, "opened", now, summary),
    )


def open_case(
    draft: CaseDraft, ref: Reference, claims: ClaimHistory | None, *, source_key: str, rules: IntakeRules, now: datetime
) -> Change:
    """A new case from its draft, flagged when its customer claims too often, recorded on its reference."""
    case_id = draft.payload.case_id
    flags = list(draft.payload.fraud_flags)
    if claims is not None:
        claims.claims = fraud.recent_claims(claims.claims, case_id, draft.at, rules)
        if fraud.frequent_claimant(claims.claims, rules):
            flags.append(FraudFlag.FREQUENT_CLAIMANT)
    flags = fraud.kept_flags(draft.payload.kind, flags, rules)
    payload, entry = draft.payload, draft.entry
    if flags != payload.fraud_flags or payload.opened_at != now:  # a copy only when it differs (the hot path)
        payload = payload.model_copy(update={"fraud_flags": flags, "opened_at": now})
        entry = replace(entry, at=now)
    case = IntakeCase(
        opening=payload,
        problem=draft.problem,
        ref=draft.ref,
        priority=payload.priority,
        contacts=draft.contacts,
        history=[entry],
        complaint=payload.complaint,
    )
    if source_key not in ref.sources:
        ref.took_in(source_key)
    ref.case_opened(case_id, draft.problem, now)
    return Change(emits=[Emit(payload, (case_id,))], cases=[case], refs=[ref], claims=claims)


# -- further inputs ------------------------------------------------------------------------------


def join(
    case: IntakeCase,
    item: Incoming,
    ref: Reference,
    decision: Decision,
    *,
    rules: IntakeRules,
    privacy: Privacy,
    now: datetime,
) -> Change:
    """An input about a case intake knows: merged into it (open) or reopening it (closed, a contact in the window).

    A customer contact merged into a case is kept (sealed, FollowUp): if routing had closed the case by the time
    it applies the merge, it says so (case.contact_after_closure), and the contact may open a follow-up case.
    """
    ref.took_in(item.source_key)
    change = Change(cases=[case], refs=[ref])
    joining = Joining(
        item.source_event_id,
        item.channel,
        item.contact,
        item.at,
        _priority_of(item, rules)[0],
        privacy.scrub(item.text, item.customer, SUMMARY_LIMIT),
        item.complaint,
        item.claimant,
    )
    if decision.action is Action.REOPEN:
        payload: CaseMergedPayload | CaseReopenedPayload = reopen(case, joining, _closed_at(case), now, rules)
        case.history.append(_entry(item, "reopened", now, joining.summary))
        ref.case_reopened(case.case_id, case.problem, now)
        change.reopening = counted(case, "reopened")
    else:
        before = case.priority
        payload = merge(case, joining, now, rules)
        case.history.append(_entry(item, "merged", now, joining.summary))
        if item.original is not None:
            sealed = privacy.seal_contact(item.original)
            followup = FollowUp(case.case_id, item.source_key, item.source_event_id, sealed, item.at, before)
            change.followups.append(followup)
    change.emits.append(Emit(payload, (case.case_id, item.source_key)))
    return change


def _priority_of(item: Incoming, rules: IntakeRules) -> tuple[Priority, list[str]]:
    facts = classify.PriorityInput(
        item.kind, item.customer.vip, item.cross_border, item.parcel.declared_value, item.category
    )
    return classify.priority_of(facts, rules)


def _closed_at(case: IntakeCase) -> datetime:
    if case.closed_at is None:
        raise ValueError(f"case {case.case_id} is not closed: nothing to reopen")
    return case.closed_at


def merge(
    case: IntakeCase, joining: Joining, now: datetime, rules: IntakeRules, *, merged_from: Priority | None = None
) -> CaseMergedPayload:
    """A second and later customer contact is a repeat: it raises the priority; nothing lowers it.

    A contact intake had merged once already (`merged_from`: the priority before that merge) and now tells
    again is counted already: a repeat contact raised from where the case was before it, never lowered.
    """
    before = case.priority
    steps = rules.priority.repeat_contact_steps
    if merged_from is None:
        total = case.contacts + (1 if joining.contact else 0)
        repeat = joining.contact and total > 1
        case.contacts, case.repeat_contacts = total, max(total - 1, 0)
        raised = classify.raise_priority(before, steps) if repeat else before
    else:
        repeat, raised = True, classify.max_priority(before, classify.raise_priority(merged_from, steps))
    case.priority = priority = classify.max_priority(raised, joining.priority)
    case.complaint = case.complaint or joining.complaint
    return CaseMergedPayload(
        case_id=case.case_id,
        source_event_id=joining.source_event_id,
        channel=joining.channel,
        repeat_contacts=case.repeat_contacts,
        priority=priority,
        priority_raised=classify.above(priority, before),
        repeat_contact=repeat,
        summary=joining.summary,
        merged_at=now,
        complaint=joining.complaint,
        claimant=joining.claimant,
        contact_at=joining.at if joining.contact else None,
    )


def reopen(
    case: IntakeCase,
    joining: Joining,
    closed_at: datetime,
    now: datetime,
    rules: IntakeRules,
    *,
    merged_from: Priority | None = None,
) -> CaseReopenedPayload:
    """A customer coming back after a close is a repeat contact: priority raised, one more reopening.

    A contact intake had merged (`merged_from`: the priority before that merge) is counted already, and the
    priority is raised from where it was before it, never lowered: the case ends as if intake had known the
    close when it took the contact in.
    """
    raised = classify.raise_priority(merged_from or case.priority, rules.priority.repeat_contact_steps)
    case.priority = classify.max_priority(raised, joining.priority, *([case.priority] if merged_from else []))
    if merged_from is None:
        case.repeat_contacts = case.contacts
        case.contacts += 1
    case.reopen_count += 1
    case.complaint = case.complaint or joining.complaint
    case.status, case.reopened_at, case.closed_at = Status.OPEN, now, None
    case.reopened_from, case.episode_from = closed_at, max(closed_at, joining.at)
    return CaseReopenedPayload(
        case_id=case.case_id,
        source_event_id=joining.source_event_id,
        reopen_count=case.reopen_count,
        priority=case.priority,
        summary=joining.summary,
        reopened_at=now,
    )


def counted(case: IntakeCase, outcome: str) -> Reopening:
    return Reopening(outcome, case.station or "unknown", case.opening.platform or "none")
