"""What a transition of the claim did, for the handlers to store and publish (one event each)."""

from __future__ import annotations

from dataclasses import dataclass

from .records import (
    AppealRecord,
    AuditRecord,
    ChargebackRecord,
    DecisionRecord,
    LiabilityRecord,
    PayoutRecord,
)


@dataclass(frozen=True)
class Opened:
    """The claim exists: its claim.opened event says all there is to say."""


@dataclass(frozen=True)
class Decided:
    decision: DecisionRecord


@dataclass(frozen=True)
class Paid:
    payout: PayoutRecord


@dataclass(frozen=True)
class Charged:
    chargeback: ChargebackRecord


@dataclass(frozen=True)
class Reversed:
    chargeback: ChargebackRecord
    reason: str


@dataclass(frozen=True)
class Arbitrated:
    liability: LiabilityRecord


@dataclass(frozen=True)
class Appealed:
    appeal: AppealRecord


@dataclass(frozen=True)
class ChargebackAppealed:
    chargeback: ChargebackRecord


@dataclass(frozen=True)
class Audited:
    record: AuditRecord


Effect = Opened | Decided | Paid | Charged | Reversed | Arbitrated | Appealed | ChargebackAppealed | Audited
