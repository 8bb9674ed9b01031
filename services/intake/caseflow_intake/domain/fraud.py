"""Fraud flags (seed 003 §7.1) that travel on a case for claims: order amount, addresses, frequent claimants."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from caseflow_contracts.cases import FraudFlag
from caseflow_contracts.common import CaseKind, Money
from caseflow_contracts.upstream import Address, ContactCategory

from ..rules import IntakeRules


@dataclass(frozen=True)
class PastClaim:
    """One claim of a customer: the case and when it was made."""

    case_id: str
    at: datetime


def _norm(text: str | None) -> str:
    return re.sub(r"[\s,，。.#\-]+", "", unicodedata.normalize("NFKC", text or "")).casefold()


def addresses_differ(shipping: Address | None, billing: Address | None) -> bool:
    if shipping is None or billing is None:
        return False
    a, b = shipping.area, billing.area
    if (a.country, _norm(a.province), _norm(a.city)) != (b.country, _norm(b.province), _norm(b.city)):
        return True
    if a.district and b.district and _norm(a.district) != _norm(b.district):
        return True
    return bool(shipping.street and billing.street and _norm(shipping.street) != _norm(billing.street))


def order_fraud_flags(
    order_amount: Money | None, shipping: Address | None, billing: Address | None, rules: IntakeRules
) -> list[FraudFlag]:
    flags: list[FraudFlag] = []
    limit = rules.fraud.high_order_amount.get(order_amount.currency) if order_amount else None
    if order_amount is not None and limit is not None and order_amount.amount_minor > limit:
        flags.append(FraudFlag.HIGH_ORDER_AMOUNT)
    if rules.fraud.address_mismatch and addresses_differ(shipping, billing):
        flags.append(FraudFlag.ADDRESS_MISMATCH)
    return flags


def is_claim(kind: CaseKind, category: ContactCategory | None, rules: IntakeRules) -> bool:
    rule = rules.fraud.frequent_claimant
    return kind in rule.claim_kinds or (category is not None and category in rule.claim_categories)


def recent_claims(claims: Iterable[PastClaim], case_id: str, at: datetime, rules: IntakeRules) -> list[PastClaim]:
    """The customer's claims inside the rolling window ending at `at`, this one included once."""
    start = at - timedelta(days=rules.fraud.frequent_claimant.window_days)
    kept = {c.case_id: c.at for c in claims if start < c.at <= at or c.case_id == case_id}
    kept[case_id] = kept.get(case_id, at)
    return [PastClaim(cid, when) for cid, when in sorted(kept.items(), key=lambda item: item[1])]


def frequent_claimant(recent: list[PastClaim], rules: IntakeRules) -> bool:
    return len(recent) > rules.fraud.frequent_claimant.max_claims


def kept_flags(kind: CaseKind, flags: list[FraudFlag], rules: IntakeRules) -> list[FraudFlag]:
    """Only the kinds the rules check for fraud carry flags (all kinds when the rules name none)."""
    kinds = rules.fraud.flags_for_kinds
    return flags if kinds is None or kind in kinds else []
