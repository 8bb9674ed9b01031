"""claims' domain: the claim aggregate and the pure rules beside it. No I/O, no kit.

- `claim`: the aggregate (`Claim`): opens when someone asks, owns every transition, returns its effects;
- `liability`: the claim's liability and chargebacks (scan trail, HQ, station appeals), the ledger;
- `compensation`: pure rules: amounts line by line, the automatic decision, custody, caps, appeal window;
- `money`: integer minor units, shares, splits that add up;
- `records`: the typed records of the claim and of claims' copy of a case (`CaseCopy`);
- `commands`, `effects`: what is asked of a claim, and what it did.
"""

from .claim import Claim, ask, claim_id_for, request_on_opening
from .commands import Approval, ClaimRequest, ClaimSource, FactsUpdate, Review, Signoff, Stamp
from .compensation import claimant_without_asking, with_facts
from .effects import (
    Appealed,
    Arbitrated,
    Audited,
    ChargebackAppealed,
    Charged,
    Decided,
    Effect,
    Opened,
    Paid,
    Reversed,
)
from .records import (
    CaseCopy,
    ChargebackRecord,
    ClaimRefused,
    DeclarationRecord,
    LiableShare,
    OpenedCase,
    Status,
)

__all__ = [
    "Appealed",
    "Approval",
    "Arbitrated",
    "Audited",
    "CaseCopy",
    "ChargebackAppealed",
    "ChargebackRecord",
    "Charged",
    "Claim",
    "ClaimRefused",
    "ClaimRequest",
    "ClaimSource",
    "Decided",
    "DeclarationRecord",
    "Effect",
    "FactsUpdate",
    "LiableShare",
    "Opened",
    "OpenedCase",
    "Paid",
    "Reversed",
    "Review",
    "Signoff",
    "Stamp",
    "Status",
    "ask",
    "claim_id_for",
    "claimant_without_asking",
    "request_on_opening",
    "with_facts",
]
