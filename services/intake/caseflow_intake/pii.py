"""Personal data at intake's edge: seal it for key holders, mask it for everyone, scrub free text.

`Guard` is what the domain's `Privacy` port asks for, with intake's keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from caseflow_contracts.common import MaskedContact, SealedContact
from caseflow_contracts.errors import Refusal
from caseflow_contracts.upstream import Customer, CustomerContactPayload
from caseflow_kit.logs import scrub
from caseflow_kit.privacy import Pseudonymiser, Sealer, SealError, mask_email, mask_id_number, mask_name, mask_phone

from .domain.privacy import Sealed

#: 15 digits or more (ID and bank-card numbers) are masked whatever they are; waybill numbers are shorter.
_LONG_DIGITS = re.compile(r"(?<!\d)(\d{3})\d{10,}(\d{2})(?!\d)")


def masked(customer: Customer) -> MaskedContact:
    return MaskedContact(
        name=mask_name(customer.name), phone=mask_phone(customer.phone), email=mask_email(customer.email)
    )


def plain(customer: Customer) -> dict[str, object]:
    """Everything personal upstream told us, for notify to open."""
    return {
        "customer_id": customer.customer_id,
        "name": customer.name,
        "phone": customer.phone,
        "email": customer.email,
        "address": customer.address.model_dump(mode="json") if customer.address else None,
        "id_number": customer.id_number,
    }


def seal(sealer: Sealer, customer: Customer, language: str) -> SealedContact:
    return SealedContact(
        masked=masked(customer),
        sealed=sealer.seal(plain(customer)),
        key_id=sealer.key_id,
        language=language,
        time_zone=customer.time_zone,
        email_present=customer.email is not None,
        phone_present=customer.phone is not None,
    )


def customer_ref(pseudonyms: Pseudonymiser, customer: Customer, fallback: str) -> str:
    """A pseudonym stable across channels and key rotations: upstream's id, else the phone, e-mail, or name."""
    if customer.customer_id:
        return pseudonyms.pseudonym("id", customer.customer_id)
    if customer.phone:
        return pseudonyms.pseudonym("phone", "".join(c for c in customer.phone if c.isdigit())[-11:])
    if customer.email:
        return pseudonyms.pseudonym("email", customer.email.casefold())
    if customer.name:
        return pseudonyms.pseudonym("name", customer.name)
    return pseudonyms.pseudonym("source", fallback)


def scrub_text(text: str, customer: Customer, *, limit: int = 2000) -> str:
    """The customer's words without their personal data: known values masked first, then patterns."""
    replacements: list[tuple[str, str | None]] = [
        (customer.phone or "", mask_phone(customer.phone)),
        (customer.email or "", mask_email(customer.email)),
        (customer.id_number or "", mask_id_number(customer.id_number)),
        (customer.address.street if customer.address else "", "[地址]"),
        (customer.name or "", mask_name(customer.name)),
    ]
    for value, mask in sorted(replacements, key=lambda r: -len(r[0])):
        if value and len(value) >= 2 and mask:
            text = text.replace(value, mask)
    text = scrub(text)
    return _LONG_DIGITS.sub(r"\1*****\2", text)[:limit]


def customer_of(sealer: Sealer, sealed: SealedContact) -> Customer:
    """The customer a sealed contact holds (what `plain` put in); nobody known when its key is gone, so that
    the text is still scrubbed by pattern."""
    try:
        return Customer.model_validate(sealer.open(sealed.sealed, sealed.key_id), strict=False)
    except SealError:
        return Customer()


@dataclass(frozen=True)
class Guard:
    """intake's keys behind the domain's Privacy port."""

    sealer: Sealer
    pseudonyms: Pseudonymiser

    def seal(self, customer: Customer, language: str) -> SealedContact:
        return seal(self.sealer, customer, language)

    def customer_ref(self, customer: Customer, fallback: str) -> str:
        return customer_ref(self.pseudonyms, customer, fallback)

    def scrub(self, text: str, customer: Customer, limit: int) -> str:
        return scrub_text(text, customer, limit=limit)

    def scrub_for(self, text: str, sealed: SealedContact, limit: int) -> str:
        return scrub_text(text, customer_of(self.sealer, sealed), limit=limit) if text else ""

    def seal_contact(self, contact: CustomerContactPayload) -> Sealed:
        return Sealed(self.sealer.seal(contact.model_dump(mode="json")), self.sealer.key_id)

    def open_contact(self, sealed: Sealed) -> CustomerContactPayload:
        try:
            return CustomerContactPayload.model_validate(self.sealer.open(sealed.token, sealed.key_id), strict=False)
        except SealError as exc:
            raise Refusal("sealed_contact_unreadable", f"the merged contact does not open: {exc}") from None
