"""What people and other services ask of a claim: typed values the aggregate takes (no I/O, no HTTP)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from caseflow_contracts.claims import ClaimKind, EvidenceRef
from caseflow_contracts.common import Actor, Claimant

#: How a claim came to be asked for: a contact intake took in (with the case, or merged into it later),
#: the claims API, or the rules file's per-kind switch for bare parcel exceptions.
ClaimSource = Literal["case_opened", "case_merged", "api", "rules"]


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
    facts: Mapping[str, Any] = field(default_factory=dict)
    evidence: tuple[EvidenceRef, ...] = ()
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Review:
    action: Literal["approve", "adjust", "reject"]
    stamp: Stamp
    reason_code: str | None = None
    reason: str = ""
    amount_minor: int | None = None
    facts: Mapping[str, Any] | None = None
    idempotency_key: str | None = None
    claim_kind: ClaimKind | None = None
    evidence: tuple[EvidenceRef, ...] = ()


@dataclass(frozen=True)
class Approval:
    decision: Literal["approve", "decline"]
    stamp: Stamp
    reason_code: str | None = None
    reason: str = ""
