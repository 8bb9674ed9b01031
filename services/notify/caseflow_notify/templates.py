"""Message templates as files: templates/<locale>/<template>.yaml plus templates/<locale>/_common.yaml.

Placeholders are `${name}` (string.Template). A template missing in the customer's
locale falls back along `domain.locale_chain`; everything is validated on load,
including the forbidden-word list of the service standards.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from caseflow_kit.rules import RulesError

from .domain import locale_chain, zone

COMMON = "_common"
ALL_PARTS = frozenset({"subject", "sms", "email"})
#: What each channel sends: SMS the short text, e-mail subject and body, webhooks subject and short text.
CHANNEL_PARTS = {
    "sms": frozenset({"sms"}),
    "email": frozenset({"subject", "email"}),
    "webhook": frozenset({"subject", "sms"}),
}
#: Minor-unit exponent of currencies that are not 2 (ISO 4217).
_EXPONENT = {"JPY": 0, "KRW": 0, "VND": 0, "BHD": 3, "KWD": 3}


class Common(BaseModel):
    """Per-locale standard phrasing (seed 000 / 002): greeting, closing, SMS signature, words for codes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    greeting: str = Field(min_length=1)
    closing: str = Field(min_length=1)
    sms_prefix: str = ""
    datetime_format: str = "%Y-%m-%d %H:%M"
    currency_symbols: dict[str, str] = Field(default_factory=dict)
    terms: dict[str, str] = Field(default_factory=dict, description="Words for codes: approved, resolved, ...")


class Template(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    subject: str = Field(min_length=1, max_length=200)
    sms: str = Field(min_length=1, max_length=500, description="Short text: SMS and the webhook's message")
    email: str = Field(min_length=1, description="E-mail body between the greeting and the closing")


@dataclass(frozen=True)
class Rendered:
    template: str
    locale: str
    subject: str
    sms: str
    email: str


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RulesError(f"{path}: cannot read: {exc}") from None


def format_money(value: Mapping[str, Any], common: Common) -> str:
    """Integer minor units to text, without floats: 1250 CNY -> ¥12.50."""
    currency = str(value.get("currency", "CNY"))
    amount = int(value["amount_minor"])
    exponent = _EXPONENT.get(currency, 2)
    units, minor = divmod(amount, 10**exponent)
    number = f"{units:,}" + (f".{minor:0{exponent}d}" if exponent else "")
    symbol = common.currency_symbols.get(currency)
    return f"{symbol}{number}" if symbol else f"{currency} {number}"


def format_vars(variables: Mapping[str, Any], common: Common, time_zone: str) -> dict[str, str]:
    """Values as the customer reads them: local times, money, codes in words."""
    tz = zone(time_zone)
    out: dict[str, str] = {}
    for key, value in variables.items():
        if isinstance(value, dict) and "amount_minor" in value:
            out[key] = format_money(value, common)
        elif isinstance(value, str) and key.endswith(("_at", "_by")):
            try:
                out[key] = datetime.fromisoformat(value).astimezone(tz).strftime(common.datetime_format)
            except ValueError:
                out[key] = value
        elif value is None:
            out[key] = ""
        else:
            out[key] = common.terms.get(str(value), str(value))
    return out


class Templates:
    """Every template of every locale, validated; render with fallback."""

    def __init__(self, root: Path, default_locale: str, forbidden: Sequence[str] = ()) -> None:
        self.root = root
        self.default_locale = default_locale
        self.commons: dict[str, Common] = {}
        self.templates: dict[str, dict[str, Template]] = {}
        self._compiled: dict[str, string.Template] = {}
        self._chosen: dict[tuple[str, str | None], str] = {}
        problems: list[str] = []
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            locale = folder.name
            for path in sorted(folder.glob("*.yaml")):
                data = _load_yaml(path)
                try:
                    if path.stem == COMMON:
                        self.commons[locale] = Common.model_validate(data)
                    else:
                        self.templates.setdefault(path.stem, {})[locale] = Template.model_validate(data)
                except ValidationError as exc:
                    problems.append(f"{path}: {exc.errors(include_url=False)[0]['msg']}")
        for locale in self.locales:
            if locale not in self.commons:
                problems.append(f"{root / locale}: no {COMMON}.yaml")
        for word in forbidden:
            for name, by_locale in self.templates.items():
                for locale, tpl in by_locale.items():
                    if any(word in text for text in (tpl.subject, tpl.sms, tpl.email)):
                        problems.append(f"{locale}/{name}: forbidden word {word!r}")
            for locale, common in self.commons.items():
                if word in common.greeting or word in common.closing:
                    problems.append(f"{locale}/{COMMON}: forbidden word {word!r}")
        if default_locale not in self.commons:
            problems.append(f"default locale {default_locale} has no templates")
        if problems:
            raise RulesError("templates invalid: " + "; ".join(problems))

    @property
    def locales(self) -> list[str]:
        return sorted({loc for by_locale in self.templates.values() for loc in by_locale} | set(self.commons))

    def names(self) -> list[str]:
        return sorted(self.templates)

    def render(
        self,
        name: str,
        locale: str | None,
        variables: Mapping[str, Any],
        time_zone: str,
        *,
        parts: frozenset[str] = ALL_PARTS,
    ) -> Rendered:
        """Render `name` (the `parts` asked for) in the best locale available; KeyError for a missing placeholder."""
        by_locale = self.templates.get(name)
        if not by_locale:
            raise KeyError(f"no template {name!r}")
        chosen = self._choose(name, locale)
        common = self.commons[chosen]
        values = format_vars(variables, common, time_zone)

        def fill(text: str) -> str:
            compiled = self._compiled.get(text)
            if compiled is None:
                compiled = self._compiled[text] = string.Template(text)
            return compiled.substitute(values).strip()

        tpl = by_locale[chosen]
        subject = fill(tpl.subject) if "subject" in parts else ""
        sms = f"{common.sms_prefix}{fill(tpl.sms)}" if "sms" in parts else ""
        body = "\n\n".join((common.greeting, fill(tpl.email), common.closing)) if "email" in parts else ""
        return Rendered(name, chosen, subject, sms, body)

    def _choose(self, name: str, locale: str | None) -> str:
        key = (name, locale)
        chosen = self._chosen.get(key)
        if chosen is None:
            chosen = self._chosen[key] = locale_chain(locale, self.templates[name], self.default_locale)[0]
        return chosen
