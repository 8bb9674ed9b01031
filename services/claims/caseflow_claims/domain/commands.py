"""What people and other services ask of a claim: typed values the aggregate takes (no I/O, no HTTP)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from caseflow_contracts import Money
from caseflow_contracts.claims import ClaimKind, EvidenceRef
from caseflow_contracts.common import Actor, Claimant

#: How a claim came to be asked for: a contact intake took in (with the case, or merged into it later),
#: the claims API, or the rules file's per-kind switch for bare parcel exceptions.
ClaimSource = Literal["case_opened", "case_merged", "api", "rules"]


class FactsUpdate(BaseModel):
    """What a reviewer or a claimant established about the parcel; the fields not given stay as they are."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    actual_value: Money | None = None
    loss_share_bp: int | None = Field(default=None, ge=0, le=10_000)
    days_late: int | None = Field(default=None, ge=0, le=3650)
    service_scope: Literal["same_city", "domestic", "international"] | None = None
    outer_box_intact: bool | None = None


@dataclass(frozen=True)
class Stamp:
    """Who acts, from their token, and the HTTP request that carried it: goes into the audit record."""

    actor: Actor
    request_id: str


@dataclass(frozen=True)
class Signoff:
    """The people behind a decision: the reviewer, and the second approver above the threshold."""

    reviewer: Actor
    approver: Actor | None = None
    idempotency_key: str | None = None
    reason_code: str | None = None


@dataclass(frozen=True)
class ClaimRequest:
    """Someone asks for compensation for a case: who claims, how they are paid, through which channel."""

    claimant: Claimant
    source: ClaimSource
    stamp: Stamp | None = None
    claim_kind: ClaimKind | None = None
    facts: FactsUpdate | None = None
    evidence: tuple[EvidenceRef, ...] = ()
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Review:
    action: Literal["approve", "adjust", "reject"]
    stamp: Stamp
    reason_code: str | None = None
    reason: str = ""
    amount_minor: int | None = None
    facts: FactsUpdate | None = None
    idempotency_key: str | None = None
    claim_kind: ClaimKind | None = None
    evidence: tuple[EvidenceRef, ...] = ()


@dataclass(frozen=True)
class Approval:
    decision: Literal["approve", "decline"]
    stamp: Stamp
    reason_code: str | None = None
    reason: str = ""
