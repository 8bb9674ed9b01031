"""Notification delivery events (topic notify.deliveries, keyed by case id)."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from .common import CaseId, Contract, Identifier, Integer, LanguageTag, ShortText, Text, UtcDateTime
from .envelope import Event


class NotifyChannel(StrEnum):
    SMS = "sms"
    EMAIL = "email"
    WEBHOOK = "webhook"


class NotificationPayload(Contract):
    notification_id: Identifier = Field(description="Idempotency key: one per (case, event, channel)")
    case_id: CaseId
    channel: NotifyChannel
    template: Identifier
    locale: LanguageTag
    recipient: ShortText = Field(description="Masked recipient (138****5678, z***@example.com, merchant id)")
    trigger_event_id: Identifier
    trigger_type: ShortText
    attempts: Integer = Field(ge=1)
    at: UtcDateTime


class NotificationSent(Event):
    type: Literal["notification.sent"] = "notification.sent"
    #: sla reads only the e-mails (they acknowledge an e-mail contact): the rest never need parsing there.
    FACET_FIELDS = ("channel",)
    payload: NotificationPayload


class NotificationFailedPayload(NotificationPayload):
    reason: Text


class NotificationFailed(Event):
    type: Literal["notification.failed"] = "notification.failed"
    FACET_FIELDS = ("channel",)
    payload: NotificationFailedPayload
