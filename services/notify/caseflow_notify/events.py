"""The events a delivery's end causes: notification.sent / notification.failed (deterministic ids, so a
re-publication is recognisably the same event), and the trigger's dead letter through the kit's builder."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from caseflow_contracts import deterministic_id
from caseflow_contracts.notify import (
    NotificationFailed,
    NotificationFailedPayload,
    NotificationPayload,
    NotificationSent,
)
from caseflow_kit import deadletters
from caseflow_kit.logs import scrub

from .domain import Delivery
from .store import StoredTrigger


def _payload(d: Delivery, at: datetime, fallback_locale: str) -> NotificationPayload:
    return NotificationPayload(
        notification_id=d.id,
        case_id=d.case_id,
        channel=d.any_channel,
        template=d.template,
        locale=d.locale or fallback_locale,
        recipient=d.recipient or "-",
        trigger_event_id=d.trigger.event_id,
        trigger_type=d.trigger.type,
        attempts=max(d.attempts, 1),
        at=at,
    )


def sent(d: Delivery, at: datetime, fallback_locale: str) -> NotificationSent:
    event = NotificationSent.create(
        _payload(d, at, fallback_locale),
        key=d.case_id,
        producer="notify",
        correlation_id=d.trigger.correlation_id,
        event_id=deterministic_id("notification.sent", d.id),
        occurred_at=at,
    )
    return event.model_copy(update={"causation_id": d.trigger.event_id})


def failed(d: Delivery, at: datetime, fallback_locale: str) -> NotificationFailed:
    reason = scrub(d.last_error or "failed")[:4000]
    event = NotificationFailed.create(
        NotificationFailedPayload(**_payload(d, at, fallback_locale).model_dump(), reason=reason),
        key=d.case_id,
        producer="notify",
        correlation_id=d.trigger.correlation_id,
        # one failure event per failure: a delivery re-driven by a person may fail again
        event_id=deterministic_id("notification.failed", d.id, d.redrives),
        occurred_at=at,
    )
    return event.model_copy(update={"causation_id": d.trigger.event_id})


def dead_letter(
    d: Delivery,
    trigger: StoredTrigger | None,
    *,
    topic_prefix: str,
    consumer: str,
    at: datetime,
    inline_limit: int,
) -> deadletters.DeadLetter:
    """The trigger's original bytes and headers on its `<topic>.dlq`, as the kit parks a failed handler's
    input, with which delivery gave up and after how many attempts."""
    topic = topic_prefix + d.trigger.topic
    kept = trigger or StoredTrigger(d.trigger.event_id, d.trigger.topic, b"", [])  # no bytes, no position
    origin = deadletters.Origin(topic, kept.partition, kept.offset, d.case_id.encode(), kept.value, kept.headers)
    letter = deadletters.build(
        origin,
        dlq_topic=topic + ".dlq",
        reason="delivery_failed",
        detail=d.last_error or "failed",
        consumer=consumer,
        at=at,
        slot=d.slot,
        inline_limit=inline_limit,
    )
    extra = {
        "x-dlq-notification-id": d.id,
        "x-dlq-channel": d.any_channel.value,
        "x-dlq-attempts": str(d.attempts),
    }
    if trigger is None:
        extra["x-dlq-original-missing"] = "true"
    message = dataclasses.replace(letter.message, headers={**letter.message.headers, **extra})
    return dataclasses.replace(letter, message=message)


def at_time(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
