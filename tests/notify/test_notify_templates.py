"""Every template in every language customers speak, in the standard phrasing of seed 000: the opening line
names the station and the agent id, no forbidden word anywhere, the appeal window the claim's rules set,
and a satisfaction question that says how to answer."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from caseflow_kit.logs import scrub
from caseflow_kit.rules import RulesError, load_rules
from caseflow_notify.domain import messages
from caseflow_notify.policy import Policy
from caseflow_notify.settings import DATA
from caseflow_notify.templates import Common, Templates, format_money

from .support import (
    AGENT,
    NOW,
    STATION,
    breached,
    case_id,
    claim_decided,
    escalated,
    opened,
    payout,
    progress,
    resolved,
    transferred,
)

POLICY = load_rules(DATA / "policy.yaml", Policy)


def load(root: Path = DATA / "templates") -> Templates:
    return Templates(
        root,
        required_locales=POLICY.locales,
        fallbacks=POLICY.fallback_locales,
        aliases=POLICY.locale_aliases,
        forbidden=POLICY.forbidden_words,
    )


TEMPLATES = load()
CID = case_id()
RESOLVED = resolved(CID)
#: Variables per template, made by the domain's own functions from real events.
VARS: dict[str, dict[str, Any]] = {
    "case_acknowledged": messages.opened(opened(CID).payload, POLICY).variables,
    "station_assigned": messages.transferred(transferred(CID).payload, POLICY).variables,
    "case_escalated": messages.escalated(escalated(CID, supervisor="SH-HUB-01").payload, POLICY).variables,
    "progress_update": messages.progress(progress(CID).payload, scrub).variables,
    "case_resolved": messages.resolved(RESOLVED.payload, RESOLVED.event_id, POLICY, scrub).variables,
    "sla_apology": messages.breached(breached(CID).payload).variables,
    "claim_decided": messages.claim_decided(claim_decided(CID).payload).variables,
    "payout_issued": messages.payout_issued(payout(CID).payload).variables,
}
#: What the seed's forbidden-word list holds (seed 000, QA table: 服务禁语 and 口语), at least.
SEED_FORBIDDEN = {"喂", "不清楚", "不知道", "啊", "哎呦", "啧", "咦", "呀", "脑残"}


def render(
    name: str, locale: str | None, time_zone: str = "Asia/Shanghai", variables: dict[str, Any] | None = None
) -> Any:
    return TEMPLATES.render(name, locale, variables or VARS[name], time_zone, desk_agent_id=POLICY.desk_agent_id)


def test_every_rule_has_a_template_and_every_template_has_variables() -> None:
    assert {r.template for r in POLICY.rules} == set(TEMPLATES.names()) == set(VARS)


def test_every_template_is_written_in_every_language_customers_speak() -> None:
    assert set(POLICY.locales) == {"zh-CN", "zh-TW", "en", "ja", "ko", "ru", "fr"}
    missing = [(n, loc) for n in TEMPLATES.names() for loc in POLICY.locales if loc not in TEMPLATES.templates[n]]
    assert missing == []
    assert set(TEMPLATES.commons) >= set(POLICY.locales)


def copy_templates(tmp_path: Path) -> Path:
    root = tmp_path / "templates"
    shutil.copytree(DATA / "templates", root)
    return root


def test_a_template_missing_in_a_language_is_refused_on_load(tmp_path: Path) -> None:
    root = copy_templates(tmp_path)
    (root / "ko" / "payout_issued.yaml").unlink()
    with pytest.raises(RulesError, match="payout_issued: missing in ko"):
        load(root)


@pytest.mark.parametrize("locale", POLICY.locales)
@pytest.mark.parametrize("name", TEMPLATES.names())
def test_every_template_renders_in_its_own_language(name: str, locale: str) -> None:
    rendered = render(name, locale)
    common = TEMPLATES.commons[locale]
    assert rendered.locale == locale
    for text in (rendered.subject, rendered.sms, rendered.email):
        assert CID in text
        assert "${" not in text
        assert not [w for w in POLICY.forbidden_words if w in text]
    assert rendered.email.endswith(common.closing)
    assert rendered.sms.startswith(common.sms_prefix.split("$")[0])


def test_the_policy_holds_the_seeds_whole_forbidden_word_list() -> None:
    assert set(POLICY.forbidden_words) >= SEED_FORBIDDEN


@pytest.mark.parametrize("locale", POLICY.locales)
def test_the_opening_line_names_the_station_and_the_agent_who_speak(locale: str) -> None:
    station_speaks = render("progress_update", locale)
    for text in (station_speaks.email.split("\n\n")[0], station_speaks.sms):
        assert STATION in text
        assert AGENT in text
    centre_speaks = render("case_acknowledged", locale)
    common = TEMPLATES.commons[locale]
    for text in (centre_speaks.email.split("\n\n")[0], centre_speaks.sms):
        assert common.centre in text
        assert POLICY.desk_agent_id in text


def test_the_chinese_opening_and_closing_are_the_seeds() -> None:
    r = render("case_resolved", "zh-CN")
    assert r.email.startswith(f"您好，百世快递{STATION}工号{AGENT}，很高兴为您服务。")
    assert r.email.endswith("还有什么可以帮到您，请随时联系我们。感谢您的咨询，祝您生活愉快，再见！")
    assert r.sms.startswith(f"【百世快递】{STATION}工号{AGENT}：")


@pytest.mark.parametrize("locale", POLICY.locales)
def test_the_satisfaction_question_says_how_to_answer(locale: str) -> None:
    r = render("case_resolved", locale)
    link = f"https://csat.best-express.example/r/{CID}?ref={RESOLVED.event_id}"
    for text in (r.sms, r.email):
        assert f"{POLICY.satisfaction.sms_keyword} {CID}" in text  # the SMS reply the gateway turns into an answer
        assert link in text
        assert "1" in text
        assert "5" in text


@pytest.mark.parametrize("locale", POLICY.locales)
def test_the_appeal_window_is_the_one_the_claims_rules_set(locale: str) -> None:
    shown = render("claim_decided", locale, "Asia/Shanghai")
    local = TEMPLATES.commons[locale].datetime_format
    expected = (NOW.astimezone(ZoneInfo("Asia/Shanghai")) + timedelta(days=30)).strftime(local)
    assert expected in shown.sms
    assert expected in shown.email
    without = messages.claim_decided(claim_decided(CID, appeal_until=None).payload).variables
    bare = render("claim_decided", locale, variables=without)
    assert bare.sms.count("\n") == shown.sms.count("\n") - 1  # the appeal line is left out, not left blank
    assert bare.email.count("\n") == shown.email.count("\n") - 1
    for text in (bare.sms, bare.email, shown.sms, shown.email):
        assert "7 日" not in text
        assert "7 days" not in text


def test_a_japanese_customer_is_answered_in_japanese_and_a_german_one_in_english() -> None:
    assert render("case_acknowledged", "ja", "Asia/Tokyo").locale == "ja"
    assert render("case_acknowledged", "de", "Europe/Berlin").locale == "en"
    assert render("case_acknowledged", "zh-HK").locale == "zh-TW"
    assert render("case_acknowledged", None).locale == "en"


def test_chinese_shows_local_time() -> None:
    r = render("case_acknowledged", "zh-CN")
    assert r.sms.startswith("【百世快递】")
    callback = VARS["case_acknowledged"]["callback_by"]
    local = datetime.fromisoformat(callback).astimezone(ZoneInfo("Asia/Shanghai"))
    assert local.strftime("%Y年%m月%d日 %H:%M") in r.sms


def test_codes_are_put_into_words_per_locale() -> None:
    zh = render("claim_decided", "zh-CN")
    en = render("claim_decided", "en-US")
    assert "已通过" in zh.sms
    assert "¥12.50" in zh.sms
    assert en.locale == "en"
    assert "approved" in en.sms
    assert "CNY 12.50" in en.sms
    escalated_ja = render("case_escalated", "ja")
    assert "仕分けセンター" in escalated_ja.email  # the ladder level in words


def test_a_missing_variable_is_an_error_not_a_blank() -> None:
    with pytest.raises(KeyError):
        render("claim_decided", "en", variables={"case_id": CID})


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [(0, "CNY", "¥0.00"), (1250, "CNY", "¥12.50"), (123456789, "CNY", "¥1,234,567.89"), (500, "JPY", "JPY 500")],
)
def test_money_without_floats(amount: int, currency: str, expected: str) -> None:
    common = Common(company="c", centre="c", opening="o", closing="c", currency_symbols={"CNY": "¥"})
    assert format_money({"amount_minor": amount, "currency": currency}, common) == expected


def test_a_new_locale_is_just_new_files(tmp_path: Path) -> None:
    root = copy_templates(tmp_path)
    (root / "de").mkdir()
    (root / "de" / "_common.yaml").write_text(
        'company: BEST Express\ncentre: Kundenservice\nopening: "Guten Tag, ${company} ${unit}, ${agent_id}."\n'
        "closing: Auf Wiedersehen!\n",
        encoding="utf-8",
    )
    (root / "de" / "payout_issued.yaml").write_text(
        "subject: Entschädigung ${case_id}\nsms: Entschädigung ${amount} für ${case_id} gezahlt.\n"
        "email: Entschädigung ${amount} für ${case_id} gezahlt.\n",
        encoding="utf-8",
    )
    templates = load(root)
    variables = VARS["payout_issued"]
    assert templates.render("payout_issued", "de", variables, "Europe/Berlin", desk_agent_id="1").locale == "de"
    assert (
        templates.render("case_resolved", "de", VARS["case_resolved"], "Europe/Berlin", desk_agent_id="1").locale
        == "en"
    )


@pytest.mark.parametrize(
    ("file", "text", "problem"),
    [
        ("zh-CN/case_resolved.yaml", "subject: s\nsms: 这个我不知道\nemail: e\n", "forbidden word"),
        ("zh-CN/progress_update.yaml", "subject: s\nsms: 喂，您好\nemail: e\n", "forbidden word '喂'"),
        ("zh-TW/_common.yaml", "company: c\ncentre: c\nopening: 哎呦您好\nclosing: c\n", "forbidden word '哎呦'"),
        ("en/case_resolved.yaml", "subject: s\nsms: t\n", "Field required"),
        ("en/_common.yaml", "company: c\n", "Field required"),
        ("en/extra.yaml", "subject: s\nsms: t\nemail: e\nfooter: x\n", "Extra inputs"),
    ],
)
def test_invalid_templates_are_refused_on_load(tmp_path: Path, file: str, text: str, problem: str) -> None:
    root = copy_templates(tmp_path)
    (root / file).write_text(text, encoding="utf-8")
    with pytest.raises(RulesError, match=problem):
        load(root)
