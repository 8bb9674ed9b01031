"""What the domain needs done with personal data, as a port: intake's edge implements it (caseflow_intake.pii)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from caseflow_contracts.common import SealedContact
from caseflow_contracts.upstream import Customer, CustomerContactPayload


@dataclass(frozen=True)
class Sealed:
    """Something personal kept sealed: the token and the id of the key that opens it."""

    token: str
    key_id: str


class Privacy(Protocol):
    def seal(self, customer: Customer, language: str) -> SealedContact:
        """The customer sealed for key holders, masked for everyone."""

    def customer_ref(self, customer: Customer, fallback: str) -> str:
        """A pseudonym stable across channels and key rotations."""

    def scrub(self, text: str, customer: Customer, limit: int) -> str:
        """The customer's words without their personal data."""

    def scrub_for(self, text: str, sealed: SealedContact, limit: int) -> str:
        """Words of the customer of a case (known only sealed) without their personal data."""

    def seal_contact(self, contact: CustomerContactPayload) -> Sealed:
        """A whole contact, as upstream sent it, sealed (it is all personal)."""

    def open_contact(self, sealed: Sealed) -> CustomerContactPayload:
        """A contact sealed by `seal_contact`; refused when no key opens it any more."""
