"""notify's copy of a case: how to reach the customer (sealed), in which language and zone, and whether the
case is still open. intake and routing own these facts; notify learns them from cases.lifecycle, and
events of other topics (sla, claims) may reach it before them (see the README, "Late facts")."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from caseflow_contracts.cases import CaseOpenedPayload
from caseflow_contracts.notify import NotifyChannel
from caseflow_contracts.stations import ResolutionResult


class CaseStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"
    CLOSED = "closed"


@dataclass(frozen=True)
class Contact:
    """Reaching the customer, as far as masks tell (the sealed token opens only at send time)."""

    masked_phone: str | None
    masked_email: str | None
    phone_present: bool
    email_present: bool
    language: str
    time_zone: str
    platform: str | None
    contact_channel: str | None = None

    def recipient(self, channel: NotifyChannel, webhook_targets: frozenset[str]) -> str | None:
        """The masked recipient on this channel, or None when the channel cannot reach anyone for this case."""
        if channel is NotifyChannel.SMS:
            return (self.masked_phone or "***") if self.phone_present else None
        if channel is NotifyChannel.EMAIL:
            return (self.masked_email or "***") if self.email_present else None
        return self.platform if self.platform and self.platform in webhook_targets else None


@dataclass(frozen=True)
class NotifyCase:
    """The case as notify keeps it: the sealed contact (never the plain one), masks, language, zone, status."""

    case_id: str
    sealed: str
    key_id: str
    contact: Contact
    priority: str
    opened_at: str
    status: CaseStatus = CaseStatus.OPEN
    #: Deliveries recorded while the case was open that are only worth sending while it stays open.
    open_notices: tuple[str, ...] = ()
    version: int = 0

    @classmethod
    def opened(cls, payload: CaseOpenedPayload) -> NotifyCase:
        customer = payload.customer
        contact = Contact(
            masked_phone=customer.masked.phone,
            masked_email=customer.masked.email,
            phone_present=customer.phone_present or customer.masked.phone is not None,
            email_present=customer.email_present or customer.masked.email is not None,
            language=customer.language or payload.language,
            time_zone=customer.time_zone,
            platform=payload.platform,
            contact_channel=payload.channel.value,
        )
        return cls(
            case_id=payload.case_id,
            sealed=customer.sealed,
            key_id=customer.key_id,
            contact=contact,
            priority=payload.priority.value,
            opened_at=payload.opened_at.isoformat(),
        )

    @property
    def is_open(self) -> bool:
        return self.status is CaseStatus.OPEN

    def noticed(self, notification_ids: list[str]) -> NotifyCase:
        """Remember deliveries that lapse when the case stops being open."""
        return replace(self, open_notices=(*self.open_notices, *notification_ids))

    def resolved(self, result: ResolutionResult) -> tuple[NotifyCase, tuple[str, ...]]:
        """The case after its resolution, and the deliveries that lapse with it. A resolution that leaves
        work pending keeps the case open for updates."""
        if result is ResolutionResult.PENDING or self.status is CaseStatus.CLOSED:
            return self, ()
        return replace(self, status=CaseStatus.RESOLVED, open_notices=()), self.open_notices

    def closed(self) -> tuple[NotifyCase, tuple[str, ...]]:
        return replace(self, status=CaseStatus.CLOSED, open_notices=()), self.open_notices

    def reopened(self) -> NotifyCase:
        return replace(self, status=CaseStatus.OPEN)
