"""Notify's persistence: each case's sealed contact, and one delivery record per (case, trigger, channel)."""

from __future__ import annotations

import time
from typing import Any

from caseflow_contracts.cases import CaseOpenedPayload
from caseflow_kit.store import Collection

from .domain import State

CASES = "notify_cases"
DELIVERIES = "deliveries"
TRIGGERS = "notify_triggers"  # each triggering event's original JSON, once, for the dead-letter topic

COLLECTIONS = [
    Collection(CASES),
    Collection(TRIGGERS),
    # due_at is set only while pending, lease_until only while sending: each index holds just the live work
    Collection(DELIVERIES, indexes=("state", "due_at", "case_id", "lease_until", "slot")),
]


def case_doc(payload: CaseOpenedPayload) -> dict[str, Any]:
    """What notify keeps of a case: the sealed token (never the plain contact), masks, language, zone."""
    contact = payload.customer
    return {
        "_id": payload.case_id,
        "sealed": contact.sealed,
        "key_id": contact.key_id,
        "masked": contact.masked.model_dump(exclude_none=True),
        "phone_present": contact.phone_present or contact.masked.phone is not None,
        "email_present": contact.email_present or contact.masked.email is not None,
        "language": contact.language or payload.language,
        "time_zone": contact.time_zone,
        "platform": payload.platform,
        "priority": payload.priority.value,
        "opened_at": payload.opened_at.isoformat(),
    }


def delivery_doc(
    *,
    notification_id: str,
    case_id: str,
    channel: str,
    template: str,
    urgent: bool,
    variables: dict[str, Any],
    trigger_event_id: str,
    trigger_type: str,
    trigger_topic: str,
    correlation_id: str,
    slot: int,
    now: float | None = None,
) -> dict[str, Any]:
    at = time.time() if now is None else now
    return {
        "_id": notification_id,
        "case_id": case_id,
        "slot": slot,  # only the replica holding the case's slot sends it (caseflow_kit.ownership)
        "channel": channel,
        "template": template,
        "urgent": urgent,
        "vars": variables,
        "trigger_event_id": trigger_event_id,
        "trigger_type": trigger_type,
        "trigger_topic": trigger_topic,
        "correlation_id": correlation_id,
        "state": State.PENDING.value,
        "attempts": 0,
        "due_at": at,
        "created_at": at,
        "updated_at": at,
        "lease_until": None,
        "recipient": None,
        "locale": None,
        "last_error": None,
        "deferred": None,
        "log": [],
    }


def public_view(doc: dict[str, Any]) -> dict[str, Any]:
    """A delivery as the read endpoint shows it: masked recipient, no sealed data, no message text."""
    keys = (
        "case_id",
        "channel",
        "template",
        "locale",
        "recipient",
        "state",
        "attempts",
        "trigger_type",
        "trigger_event_id",
        "urgent",
        "last_error",
        "deferred",
        "created_at",
        "updated_at",
        "log",
    )
    return {"notification_id": doc["_id"], **{k: doc.get(k) for k in keys}}


def trigger_doc(event_id: str, topic: str, event_json: str) -> dict[str, Any]:
    return {"_id": event_id, "topic": topic, "json": event_json}
