"""Pure intake rules: classification, priority, fraud flags, and the merge / reopen decision.

No I/O here: everything takes plain values and the rules in force, and returns values.
"""

from __future__ import annotations

import base64
import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from caseflow_contracts.cases import FraudFlag
from caseflow_contracts.common import CaseKind, Money, Priority
from caseflow_contracts.upstream import (
    Address,
    ContactCategory,
    CustomerContactPayload,
    ExceptionKind,
    SaleStage,
)

from .rules import PRIORITY_ORDER, IntakeRules

# -- kinds -------------------------------------------------------------------


def kind_of_exception(kind: ExceptionKind, rules: IntakeRules) -> CaseKind:
    return rules.exception_kinds[kind]


def kind_of_contact(contact: CustomerContactPayload, rules: IntakeRules) -> CaseKind:
    """Regulator appeals first, then the platform's sale stage, then category refined by keywords."""
    if contact.category is ContactCategory.REGULATOR_APPEAL:
        return CaseKind.REGULATOR_APPEAL
    if contact.sale_stage is not None:
        return {
            SaleStage.PRE_SALE: CaseKind.PRE_SALE,
            SaleStage.IN_SALE: CaseKind.IN_SALE,
            SaleStage.AFTER_SALE: CaseKind.AFTER_SALE,
        }[contact.sale_stage]
    if contact.category in rules.keyword_categories and (found := kind_by_keywords(contact.text, rules)) is not None:
        return found
    return rules.contact_categories[contact.category]


def kind_by_keywords(text: str, rules: IntakeRules) -> CaseKind | None:
    folded = text.casefold()
    for rule in rules.keywords:
        if any(word.casefold() in folded for word in rule.keywords):
            return rule.kind
    return None


# -- priority ----------------------------------------------------------------


def raise_priority(priority: Priority, steps: int) -> Priority:
    return PRIORITY_ORDER[min(PRIORITY_ORDER.index(priority) + steps, len(PRIORITY_ORDER) - 1)]


def max_priority(*priorities: Priority) -> Priority:
    return max(priorities, key=PRIORITY_ORDER.index)


def above(priority: Priority, than: Priority) -> bool:
    return PRIORITY_ORDER.index(priority) > PRIORITY_ORDER.index(than)


@dataclass(frozen=True)
class PriorityInput:
    kind: CaseKind
    vip: bool = False
    cross_border: bool = False
    declared_value: Money | None = None
    category: ContactCategory | None = None


def priority_of(facts: PriorityInput, rules: IntakeRules) -> tuple[Priority, list[str]]:
    """Base priority of the kind, lifted by every rule that applies; the reasons say which."""
    p = rules.priority
    floors: list[tuple[Priority, str]] = []
    if facts.vip:
        floors.append((p.vip, "VIP customer"))
    if facts.cross_border:
        floors.append((p.cross_border, "cross-border shipment"))
    if facts.kind is CaseKind.REGULATOR_APPEAL or facts.category is ContactCategory.REGULATOR_APPEAL:
        floors.append((p.regulator_appeal, "regulator appeal"))
    value = facts.declared_value
    if (
        value is not None
        and (limit := p.high_declared_value.get(value.currency)) is not None
        and value.amount_minor >= limit
    ):
        floors.append((p.high_declared_value_priority, f"declared value at least {limit / 100:.2f} {value.currency}"))
    priority = p.base[facts.kind]
    reasons = [f"{facts.kind.value} base priority {priority.value}"]
    for floor, reason in floors:
        if above(floor, priority):
            priority = floor
        reasons.append(reason)
    return priority, reasons


# -- language ------------------------------------------------------------------

#: Unicode blocks of the scripts that tell a language apart (code point ranges, first match wins).
_SCRIPTS: tuple[tuple[int, int, str], ...] = (
    (0xAC00, 0xD7AF, "ko"),  # Hangul syllables
    (0x1100, 0x11FF, "ko"),
    (0x3130, 0x318F, "ko"),
    (0x3040, 0x30FF, "ja"),  # Hiragana, Katakana
    (0x4E00, 0x9FFF, "zh-CN"),  # CJK unified ideographs
    (0x3400, 0x4DBF, "zh-CN"),
    (0xF900, 0xFAFF, "zh-CN"),
    (0x0400, 0x04FF, "ru"),  # Cyrillic
    (0x0600, 0x06FF, "ar"),
    (0x0E00, 0x0E7F, "th"),
    (0x0041, 0x024F, "en"),  # Latin (letters only reach here)
)


def _script_of(char: str) -> str | None:
    point = ord(char)
    for low, high, language in _SCRIPTS:
        if low <= point <= high:
            return language
    return None


def script_language(text: str, min_letters: int) -> str | None:
    """The language the text's dominant script suggests, if it has enough letters to tell."""
    counts: dict[str, int] = {}
    for char in text:
        if char.isalpha() and (language := _script_of(char)) is not None:
            counts[language] = counts.get(language, 0) + 1
    if sum(counts.values()) < min_letters:
        return None
    if counts.get("ja") and counts.get("zh-CN"):  # kana with kanji is Japanese
        counts["ja"] += counts.pop("zh-CN")
    return max(counts, key=lambda k: counts[k])


def language_of(declared: str, text: str, rules: IntakeRules) -> str:
    """The declared language, unless the customer plainly wrote in another one."""
    seen = script_language(text, rules.min_text_for_language)
    if seen is None or seen.split("-", maxsplit=1)[0] == declared.split("-", maxsplit=1)[0].lower():
        return declared
    if seen == "en" and declared.split("-", maxsplit=1)[0] not in ("zh", "ja", "ko", "ru", "ar", "th"):
        return declared  # another Latin-script language: trust the declaration
    return seen


# -- station hint --------------------------------------------------------------


def station_hint(kind: CaseKind, stations: Mapping[str, str | None], rules: IntakeRules) -> tuple[str | None, str]:
    rule = rules.station_hints.get(kind, rules.default_station_hint)
    for name in rule.fields:
        if station := stations.get(name):
            return station, rule.reason
    return None, f"no station known ({rule.reason}): HQ desk decides"


# -- fraud -----------------------------------------------------------------------


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


def recent_claims(
    claims: Iterable[tuple[str, datetime]], case_id: str, at: datetime, rules: IntakeRules
) -> list[tuple[str, datetime]]:
    """The customer's claims inside the rolling window ending at `at`, this one included once."""
    start = at - timedelta(days=rules.fraud.frequent_claimant.window_days)
    kept = {cid: when for cid, when in claims if start < when <= at or cid == case_id}
    kept[case_id] = kept.get(case_id, at)
    return sorted(kept.items(), key=lambda item: item[1])


def frequent_claimant(recent: list[tuple[str, datetime]], rules: IntakeRules) -> bool:
    return len(recent) > rules.fraud.frequent_claimant.max_claims


# -- identity ----------------------------------------------------------------------


def case_id_for(source_key: str, at: datetime) -> str:
    """CF-<yyyymmdd><10 base32 chars of the source>: the same source always gives the same case number."""
    digest = base64.b32encode(hashlib.sha256(source_key.encode()).digest()).decode()[:10]
    return f"CF-{at:%Y%m%d}{digest}"


# -- merge / reopen decision ---------------------------------------------------------


@dataclass(frozen=True)
class CaseRef:
    case_id: str
    problem: str
    at: datetime  # opened (open cases) or closed (closed cases)


@dataclass
class Reference:
    """What intake knows about one waybill (or order): its open and closed cases, the sources seen."""

    open: list[CaseRef] = field(default_factory=list)
    closed: list[CaseRef] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Decision:
    action: str  # "duplicate" | "open" | "merge" | "reopen"
    case_id: str | None = None
    linked_case_id: str | None = None


def decide(
    ref: Reference, source_key: str, problem: str, *, contact: bool, generic: bool, at: datetime, rules: IntakeRules
) -> Decision:
    """Seen before → duplicate; same problem open → merge; closed → reopen (contacts, in the window) or link."""
    if source_key in ref.sources:
        return Decision("duplicate")

    def matches(c: CaseRef) -> bool:
        return generic or c.problem == problem

    for case in _newest_first(ref.open):
        if matches(case):
            return Decision("merge", case.case_id)
    for case in _newest_first(ref.closed):
        if matches(case):
            if contact and at - case.at <= timedelta(hours=rules.reopen_window_hours):
                return Decision("reopen", case.case_id)
            return Decision("open", linked_case_id=case.case_id)
    return Decision("open")


def _newest_first(cases: list[CaseRef]) -> list[CaseRef]:
    """By time, and among cases of the same moment, the one recorded last first."""
    ranked = sorted(enumerate(cases), key=lambda ic: (ic[1].at, ic[0]), reverse=True)
    return [case for _, case in ranked]


@dataclass(frozen=True)
class MergeOutcome:
    priority: Priority
    contacts: int
    repeat_contacts: int
    repeat_contact: bool
    priority_raised: bool


def merge_outcome(
    current: Priority, contacts: int, incoming: Priority, *, contact: bool, rules: IntakeRules
) -> MergeOutcome:
    """A second and later customer contact is a repeat: it raises the priority; nothing lowers it."""
    total = contacts + (1 if contact else 0)
    repeat = contact and total > 1
    priority = max_priority(current, incoming)
    if repeat:
        priority = max_priority(raise_priority(current, rules.priority.repeat_contact_steps), incoming)
    return MergeOutcome(priority, total, max(total - 1, 0), repeat, above(priority, current))


def reopen_priority(current: Priority, incoming: Priority, rules: IntakeRules) -> Priority:
    """A customer coming back after closure is a repeat contact."""
    return max_priority(raise_priority(current, rules.priority.repeat_contact_steps), incoming)
