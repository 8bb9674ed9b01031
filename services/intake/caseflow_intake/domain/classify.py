"""What an input is: its kind, whether it complains or claims, its priority, language and likely station.

Pure: plain values and the rules in force in, values out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from caseflow_contracts.common import CaseKind, Claimant, Money, Priority
from caseflow_contracts.errors import Refusal
from caseflow_contracts.upstream import ContactCategory, CustomerContactPayload, ExceptionKind, SaleStage

from ..rules import PRIORITY_ORDER, IntakeRules

_SALE_STAGE_KINDS = {
    SaleStage.PRE_SALE: CaseKind.PRE_SALE,
    SaleStage.IN_SALE: CaseKind.IN_SALE,
    SaleStage.AFTER_SALE: CaseKind.AFTER_SALE,
}

# -- kinds -------------------------------------------------------------------


def kind_of_exception(kind: ExceptionKind, rules: IntakeRules) -> CaseKind:
    return rules.exception_kinds[kind]


def kind_of_contact(contact: CustomerContactPayload, rules: IntakeRules) -> CaseKind:
    """Categories that stand (appeals, signed-not-received), then the platform's sale stage, then keywords."""
    if contact.category in rules.categories_over_sale_stage:
        return rules.contact_categories[contact.category]
    if contact.sale_stage is not None:
        return _SALE_STAGE_KINDS[contact.sale_stage]
    if contact.category in rules.keyword_categories and (found := kind_by_keywords(contact.text, rules)) is not None:
        return found
    return rules.contact_categories[contact.category]


def kind_by_keywords(text: str, rules: IntakeRules) -> CaseKind | None:
    folded = text.casefold()
    for rule in rules.keywords:
        if any(word.casefold() in folded for word in rule.keywords):
            return rule.kind
    return None


def check_problem_code(code: str | None, rules: IntakeRules) -> None:
    """A problem-parcel type must be one of the network's list (seed 000 ch.3 §8, DOMAIN.md)."""
    if code is not None and code not in rules.problem_codes:
        raise Refusal(
            "unknown_problem_code",
            f"problem_code {code[:40]!r} is not one of the network's {len(rules.problem_codes)} problem-parcel types"
            f" (intake rules {rules.version}: problem_codes)",
        )


# -- complaint and claim intent ----------------------------------------------------


def is_complaint(contact: CustomerContactPayload, rules: IntakeRules) -> bool:
    """A complaint by its category or by the customer's words, whatever the kind the case gets."""
    if contact.category in rules.complaint.categories:
        return True
    folded = contact.text.casefold()
    return any(word.casefold() in folded for word in rules.complaint.keywords)


def claimant_of(contact: CustomerContactPayload, rules: IntakeRules) -> Claimant | None:
    """Who asks for compensation and how they want it paid; None when the contact asks for nothing.

    Claim intent is the category (claim_request), a platform's after-sale request for money (refund), or a
    claimant the contact names itself. What the contact says wins; the rules fill in what it leaves out.
    """
    method = rules.claims.categories.get(contact.category)
    if method is None and contact.sale_stage is SaleStage.AFTER_SALE and contact.after_sale_type is not None:
        method = rules.claims.after_sale_types.get(contact.after_sale_type)
    if contact.claimant is not None:
        return contact.claimant
    if method is None:
        return None
    return Claimant(role=rules.claims.default_role, payout_method=method)


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
    if not rule.fields:  # not a delivery station's case (a platform question): the reason names the team
        return None, rule.reason
    for name in rule.fields:
        if station := stations.get(name):
            return station, rule.reason
    return None, f"no station known ({rule.reason}): HQ desk decides"
