"""Message templates as files: templates/<locale>/<template>.yaml plus templates/<locale>/_common.yaml.

Placeholders are `${name}` (string.Template). A line whose placeholders all come out empty is left out
(an appeal date a claim did not carry, a waybill a case has not got). Every locale the network serves
must have every template, and no text may hold a forbidden word of the service standards (seed 000):
both are checked on load. A customer's language without templates falls back along
`domain.locale_chain` (English, then Chinese).
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from caseflow_kit.rules import RulesError

from .domain import locale_chain

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
#: Variables holding a time, shown in the customer's zone.
_TIME_SUFFIXES = ("_at", "_by", "_until")


class Common(BaseModel):
    """Per-locale standard phrasing: the opening line (seed 000 开场白: company, station, agent id), the
    closing line, the SMS signature, dates, money, and words for codes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    company: str = Field(min_length=1, description="The network's name as customers know it")
    centre: str = Field(min_length=1, description="Who speaks when no station does: the customer-service centre")
    opening: str = Field(min_length=1, description="${company}, ${unit} (station or centre), ${agent_id}")
    closing: str = Field(min_length=1)
    sms_prefix: str = Field(default="", description="May name ${company}, ${unit} and ${agent_id} too")
    datetime_format: str = "%Y-%m-%d %H:%M"
    currency_symbols: dict[str, str] = Field(default_factory=dict)
    terms: dict[str, str] = Field(default_factory=dict, description="Words for codes: approved, resolved, ...")


class Template(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    subject: str = Field(min_length=1, max_length=200)
    sms: str = Field(min_length=1, max_length=500, description="Short text: SMS and the webhook's message")
    email: str = Field(min_length=1, description="E-mail body between the opening and the closing line")


@dataclass(frozen=True)
class Rendered:
    template: str
    locale: str
    subject: str
    sms: str
    email: str


@lru_cache(maxsize=512)
def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "Asia/Shanghai")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("Asia/Shanghai")


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
        elif isinstance(value, str) and key.endswith(_TIME_SUFFIXES):
            try:
                out[key] = datetime.fromisoformat(value).astimezone(tz).strftime(common.datetime_format)
            except ValueError:
                out[key] = value
        elif value is None:
            out[key] = ""
        else:
            out[key] = common.terms.get(str(value), str(value))
    return out


def forbidden_in(texts: Iterable[str], forbidden: Sequence[str]) -> list[str]:
    """The forbidden words any of these texts holds."""
    return sorted({word for word in forbidden for text in texts if word in text})


class Templates:
    """Every template of every locale, validated; rendered in the customer's language or a fallback."""

    def __init__(
        self,
        root: Path,
        *,
        required_locales: Sequence[str],
        fallbacks: Sequence[str],
        aliases: Mapping[str, str] | None = None,
        forbidden: Sequence[str] = (),
    ) -> None:
        self.root = root
        self.fallbacks = list(fallbacks)
        self.aliases = dict(aliases or {})
        self.commons: dict[str, Common] = {}
        self.templates: dict[str, dict[str, Template]] = {}
        self._compiled: dict[tuple[str, bool], list[tuple[string.Template, list[str]]]] = {}
        self._chosen: dict[tuple[str, str | None], str] = {}
        problems: list[str] = []
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            for path in sorted(folder.glob("*.yaml")):
                problems += self._load(folder.name, path)
        for locale in sorted({*self.locales, *required_locales, *fallbacks}):
            if locale not in self.commons:
                problems.append(f"{root / locale}: no {COMMON}.yaml")
        for name, by_locale in sorted(self.templates.items()):
            missing = [loc for loc in required_locales if loc not in by_locale]
            if missing:
                problems.append(f"{name}: missing in {', '.join(missing)}")
        problems += self._forbidden_words(forbidden)
        if problems:
            raise RulesError("templates invalid: " + "; ".join(problems))

    def _load(self, locale: str, path: Path) -> list[str]:
        data = _load_yaml(path)
        try:
            if path.stem == COMMON:
                self.commons[locale] = Common.model_validate(data)
            else:
                self.templates.setdefault(path.stem, {})[locale] = Template.model_validate(data)
        except ValidationError as exc:
            return [f"{path}: {exc.errors(include_url=False)[0]['msg']}"]
        return []

    def _forbidden_words(self, forbidden: Sequence[str]) -> list[str]:
        problems = []
        for name, by_locale in self.templates.items():
            for locale, tpl in by_locale.items():
                for word in forbidden_in((tpl.subject, tpl.sms, tpl.email), forbidden):
                    problems.append(f"{locale}/{name}: forbidden word {word!r}")
        for locale, c in self.commons.items():
            for word in forbidden_in((c.opening, c.closing, c.sms_prefix, c.centre), forbidden):
                problems.append(f"{locale}/{COMMON}: forbidden word {word!r}")
        return problems

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
        desk_agent_id: str,
        parts: frozenset[str] = ALL_PARTS,
    ) -> Rendered:
        """Render `name` (the `parts` asked for) in the best locale there is; KeyError for a missing placeholder.

        The opening line names who speaks: the station and agent of the update (`from_station`,
        `from_agent`), else the customer-service centre and its desk's id."""
        by_locale = self.templates.get(name)
        if not by_locale:
            raise KeyError(f"no template {name!r}")
        chosen = self._choose(name, locale)
        common = self.commons[chosen]
        values = format_vars(variables, common, time_zone)
        values["company"] = common.company
        values["unit"] = values.get("from_station") or common.centre
        values["agent_id"] = values.get("from_agent") or desk_agent_id
        tpl = by_locale[chosen]
        subject = self._fill(tpl.subject, values) if "subject" in parts else ""
        sms = self._fill(common.sms_prefix, values, strip=False) + self._fill(tpl.sms, values) if "sms" in parts else ""
        body = ""
        if "email" in parts:
            body = "\n\n".join((self._fill(common.opening, values), self._fill(tpl.email, values), common.closing))
        return Rendered(name, chosen, subject, sms, body)

    def _fill(self, text: str, values: Mapping[str, str], *, strip: bool = True) -> str:
        lines = self._compiled.get((text, strip))
        if lines is None:
            compiled = [string.Template(line) for line in (text.strip() if strip else text).splitlines()]
            lines = self._compiled[(text, strip)] = [(t, t.get_identifiers()) for t in compiled]
        kept = []
        for line, names in lines:
            if names and not any(values.get(n, "?") for n in names):
                continue  # every value the line would show is missing: leave it out
            kept.append(line.substitute(values))
        joined = "\n".join(kept)
        return joined.strip() if strip else joined

    def _choose(self, name: str, locale: str | None) -> str:
        key = (name, locale)
        chosen = self._chosen.get(key)
        if chosen is None:
            chain = locale_chain(locale, self.templates[name], self.fallbacks, self.aliases)
            chosen = self._chosen[key] = chain[0]
        return chosen
