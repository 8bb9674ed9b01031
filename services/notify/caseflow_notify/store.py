"""notify's persistence through the kit's store port: typed records in and out, never raw documents.

Collections: each case's sealed contact and status (`notify_cases`), one delivery per (case, trigger,
audience) (`deliveries`), and each triggering event's original bytes and headers, once, for the dead
letter a delivery that fails for good leaves on the trigger's topic (`notify_triggers`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from caseflow_contracts import Event, Topic
from caseflow_contracts.notify import NotifyChannel
from caseflow_kit.consumer import Record
from caseflow_kit.store import Collection, Doc, Query, Store
from caseflow_kit.uow import UnitOfWork, event_headers

from .domain import CaseStatus, Contact, Delivery, LogEntry, NotifyCase, State, Trigger

CASES = "notify_cases"
DELIVERIES = "deliveries"
TRIGGERS = "notify_triggers"
#: The partition and offset of a trigger with no record kept (one kept before records were, or handled without one).
UNKNOWN_POSITION = -1

COLLECTIONS = [
    Collection(CASES),
    Collection(TRIGGERS),
    # The worker asks per held slot for what is due (due_at, set only while pending) or whose lease ran out
    # (lease_until, only while sending): one index range each. With an index on slot alone every round
    # read every delivery the slot ever had, sent ones included.
    Collection(DELIVERIES, indexes=("state", "case_id", ("slot", "due_at"), ("slot", "lease_until"))),
]


class Reader(Protocol):
    """A unit of work (reads see its own writes) or the store itself."""

    async def get(self, collection: str, key: str) -> Doc | None: ...


# -- cases ---------------------------------------------------------------------------------------------


def case_to_doc(case: NotifyCase) -> Doc:
    c = case.contact
    return {
        "_id": case.case_id,
        "_v": case.version,
        "sealed": case.sealed,
        "key_id": case.key_id,
        "masked": {k: v for k, v in (("phone", c.masked_phone), ("email", c.masked_email)) if v is not None},
        "phone_present": c.phone_present,
        "email_present": c.email_present,
        "language": c.language,
        "time_zone": c.time_zone,
        "platform": c.platform,
        "contact_channel": c.contact_channel,
        "priority": case.priority,
        "opened_at": case.opened_at,
        "status": case.status.value,
        "open_notices": list(case.open_notices),
    }


def case_from_doc(doc: Doc) -> NotifyCase:
    masked = doc.get("masked") or {}
    contact = Contact(
        masked_phone=masked.get("phone"),
        masked_email=masked.get("email"),
        phone_present=bool(doc.get("phone_present")),
        email_present=bool(doc.get("email_present")),
        language=str(doc.get("language") or "zh-CN"),
        time_zone=str(doc.get("time_zone") or "Asia/Shanghai"),
        platform=doc.get("platform"),
        contact_channel=doc.get("contact_channel"),
    )
    return NotifyCase(
        case_id=doc["_id"],
        sealed=doc["sealed"],
        key_id=doc["key_id"],
        contact=contact,
        priority=str(doc.get("priority") or "normal"),
        opened_at=str(doc.get("opened_at") or ""),
        status=CaseStatus(doc.get("status", CaseStatus.OPEN.value)),
        open_notices=tuple(doc.get("open_notices", ())),
        version=int(doc.get("_v", 0)),
    )


async def case(reader: Reader, case_id: str) -> NotifyCase | None:
    doc = await reader.get(CASES, case_id)
    return None if doc is None else case_from_doc(doc)


def save_case(uow: UnitOfWork, case: NotifyCase) -> None:
    """A new case is inserted (a racing insert clashes and the record is re-run); a known one compare-and-set."""
    if case.version == 0:
        uow.add(CASES, case_to_doc(case))
    else:
        uow.update(CASES, case_to_doc(case))


# -- deliveries ---------------------------------------------------------------------------------------


def delivery_to_doc(d: Delivery) -> Doc:
    return {
        "_id": d.id,
        "_v": d.version,
        "case_id": d.case_id,
        "slot": d.slot,
        "channel": d.channel.value if d.channel else None,
        "candidates": [c.value for c in d.candidates],
        "template": d.template,
        "urgent": d.urgent,
        "vars": dict(d.variables),
        "trigger_event_id": d.trigger.event_id,
        "trigger_type": d.trigger.type,
        "trigger_topic": d.trigger.topic,
        "correlation_id": d.trigger.correlation_id,
        "state": d.state.value,
        "attempts": d.attempts,
        "due_at": d.due_at,
        "created_at": d.created_at,
        "updated_at": d.updated_at,
        "lease_until": d.lease_until,
        "recipient": d.recipient,
        "locale": d.locale,
        "last_error": d.last_error,
        "deferred": d.deferred,
        "rate_slot": d.rate_slot,
        "redrives": d.redrives,
        "sent_at": d.sent_at,
        "log": [
            {"at": e.at, "attempt": e.attempt, "ok": e.ok, "error": e.error, **({"by": e.by} if e.by else {})}
            for e in d.log
        ],
    }


def delivery_from_doc(doc: Doc) -> Delivery:
    channel = doc.get("channel")
    return Delivery(
        id=doc["_id"],
        case_id=doc["case_id"],
        slot=int(doc.get("slot", 0)),
        channel=NotifyChannel(channel) if channel else None,
        candidates=tuple(NotifyChannel(c) for c in doc.get("candidates") or ([channel] if channel else [])),
        template=doc["template"],
        urgent=bool(doc.get("urgent")),
        variables=doc.get("vars") or {},
        trigger=Trigger(doc["trigger_event_id"], doc["trigger_type"], doc["trigger_topic"], doc["correlation_id"]),
        created_at=float(doc["created_at"]),
        state=State(doc["state"]),
        attempts=int(doc.get("attempts", 0)),
        due_at=doc.get("due_at"),
        updated_at=float(doc.get("updated_at") or doc["created_at"]),
        lease_until=doc.get("lease_until"),
        recipient=doc.get("recipient"),
        locale=doc.get("locale"),
        last_error=doc.get("last_error"),
        deferred=doc.get("deferred"),
        rate_slot=doc.get("rate_slot"),
        redrives=int(doc.get("redrives", 0)),
        sent_at=doc.get("sent_at"),
        log=tuple(
            LogEntry(float(e["at"]), int(e["attempt"]), e.get("ok"), e.get("error"), e.get("by"))
            for e in doc.get("log", ())
        ),
        version=int(doc.get("_v", 0)),
    )


async def delivery(reader: Reader, notification_id: str) -> Delivery | None:
    doc = await reader.get(DELIVERIES, notification_id)
    return None if doc is None else delivery_from_doc(doc)


def add_delivery(uow: UnitOfWork, d: Delivery) -> None:
    uow.add(DELIVERIES, delivery_to_doc(d))


def save_delivery(uow: UnitOfWork, d: Delivery) -> Delivery:
    """Compare-and-set on the version read; returns the delivery as it will be stored (next version)."""
    uow.update(DELIVERIES, delivery_to_doc(d))
    return d.with_changes(version=d.version + 1)


async def of_held_slots(store: Store, moment: str, slots: Sequence[int], now: float, limit: int) -> list[Delivery]:
    """Deliveries of these slots whose `moment` (due_at while pending, lease_until while sending: each set
    only then) has come, soonest first. Another replica's slots are never touched."""
    found: list[Doc] = []
    up_to = math.nextafter(now, math.inf)  # the range is half-open: what is due at `now` is due
    for slot in sorted(slots):
        query = Query(where={"slot": slot}, range_field=moment, lt=up_to, order_by=moment, limit=limit)
        found += await store.find(DELIVERIES, query)
    found.sort(key=lambda d: float(d[moment]))
    return [delivery_from_doc(d) for d in found[:limit]]


async def of_case(store: Store, case_id: str) -> list[Delivery]:
    return [
        delivery_from_doc(d)
        for d in await store.find(DELIVERIES, Query(where={"case_id": case_id}, order_by="created_at"))
    ]


def public_view(d: Delivery) -> dict[str, Any]:
    """A delivery as the read endpoint shows it: masked recipient, no sealed data, no message text."""
    doc = delivery_to_doc(d)
    keys = (
        "case_id",
        "channel",
        "candidates",
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
    return {"notification_id": d.id, **{k: doc[k] for k in keys}}


# -- triggers -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredTrigger:
    """A triggering event as it was consumed: its bytes, headers and position, for its dead letter."""

    event_id: str
    topic: str
    value: bytes
    headers: list[tuple[str, bytes]]
    partition: int = UNKNOWN_POSITION
    offset: int = UNKNOWN_POSITION


async def add_trigger(uow: UnitOfWork, event: Event, topic: Topic, record: Record | None) -> None:
    """Keep the record that triggered deliveries, once, as it arrived. Without one (a handler run outside the
    consumer) the event is written out again, with the headers caseflow gives it, and no position."""
    if await uow.get(TRIGGERS, event.event_id) is not None:
        return
    doc: Doc = {"_id": event.event_id, "topic": topic.name}
    if record is None:
        doc |= {"json": event.model_dump_json(), "headers": sorted(event_headers(event).items())}
    else:
        # The bytes parsed as the event, so they are UTF-8; the headers on notify's inputs are caseflow's own text.
        headers = [(k, v.decode("utf-8", "replace")) for k, v in record.headers or ()]
        doc |= {"json": (record.value or b"").decode(), "headers": headers}
        doc |= {"partition": record.partition, "offset": record.offset}
    uow.add(TRIGGERS, doc)


async def trigger(store: Store, event_id: str) -> StoredTrigger | None:
    doc = await store.get(TRIGGERS, event_id)
    if doc is None:
        return None
    headers = [(str(k), str(v).encode()) for k, v in doc.get("headers", ())]
    return StoredTrigger(
        event_id,
        str(doc["topic"]),
        str(doc["json"]).encode(),
        headers,
        int(doc.get("partition", UNKNOWN_POSITION)),  # kept since the record itself is (before: re-serialised)
        int(doc.get("offset", UNKNOWN_POSITION)),
    )
