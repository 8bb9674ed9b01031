"""Every template renders in every locale, in the standard phrasing; missing translations fall back."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from caseflow_kit.rules import RulesError, load_rules
from caseflow_notify import handlers
from caseflow_notify.policy import Policy
from caseflow_notify.settings import DATA
from caseflow_notify.templates import Common, Templates, format_money

from .support import breached, case_id, claim_decided, escalated, opened, payout, progress, resolved

POLICY = load_rules(DATA / "policy.yaml", Policy)
TEMPLATES = Templates(DATA / "templates", POLICY.default_locale, POLICY.forbidden_words)
CID = case_id()

#: Variables per template, made by the handlers' own functions from real events.
VARS: dict[str, dict[str, Any]] = {
    "case_acknowledged": handlers.opened_vars(opened(CID), POLICY),
    "station_assigned": handlers.escalated_vars(escalated(CID), POLICY),
    "progress_update": handlers.progress_vars(progress(CID), POLICY),
    "case_resolved": handlers.resolved_vars(resolved(CID), POLICY),
    "sla_apology": handlers.breached_vars(breached(CID), POLICY),
    "claim_decided": handlers.claim_vars(claim_decided(CID), POLICY),
    "payout_issued": handlers.payout_vars(payout(CID), POLICY),
}


def test_every_rule_has_a_template_and_every_template_has_variables() -> None:
    assert {r.template for r in POLICY.rules} == set(TEMPLATES.names()) == set(VARS)
    assert {"zh-CN", "en"} <= set(TEMPLATES.locales)


@pytest.mark.parametrize("locale", TEMPLATES.locales)
@pytest.mark.parametrize("name", TEMPLATES.names())
def test_every_template_renders_in_every_locale(name: str, locale: str) -> None:
    rendered = TEMPLATES.render(name, locale, VARS[name], "Asia/Shanghai")
    common = TEMPLATES.commons[rendered.locale]
    has_own = locale in TEMPLATES.templates[name]
    assert rendered.locale == (locale if has_own else "zh-CN")
    assert CID in rendered.subject
    assert CID in rendered.sms
    assert CID in rendered.email
    assert rendered.email.startswith(common.greeting)
    assert rendered.email.endswith(common.closing)
    assert rendered.sms.startswith(common.sms_prefix)
    for text in (rendered.subject, rendered.sms, rendered.email):
        assert "$" not in text.replace("US$", "")
        assert not any(word in text for word in POLICY.forbidden_words)


def test_chinese_uses_the_seed_phrasing_and_local_time() -> None:
    r = TEMPLATES.render("case_acknowledged", "zh-CN", VARS["case_acknowledged"], "Asia/Shanghai")
    assert "很高兴为您服务" in r.email
    assert "感谢您的咨询" in r.email
    assert r.sms.startswith("【百世快递】")
    # opened at NOW (UTC) + 2 h, shown in Shanghai time
    callback = handlers.opened_vars(opened(CID), POLICY)["callback_by"]
    from datetime import datetime
    from zoneinfo import ZoneInfo

    local = datetime.fromisoformat(callback).astimezone(ZoneInfo("Asia/Shanghai"))
    assert local.strftime("%Y年%m月%d日 %H:%M") in r.sms


def test_codes_are_put_into_words_per_locale() -> None:
    zh = TEMPLATES.render("claim_decided", "zh-CN", VARS["claim_decided"], "Asia/Shanghai")
    en = TEMPLATES.render("claim_decided", "en-US", VARS["claim_decided"], "Asia/Shanghai")
    assert "已通过" in zh.sms
    assert "¥12.50" in zh.sms
    assert en.locale == "en"
    assert "approved" in en.sms
    assert "CNY 12.50" in en.sms


def test_an_unknown_language_falls_back_to_the_default() -> None:
    assert TEMPLATES.render("payout_issued", "fr", VARS["payout_issued"], "Europe/Paris").locale == "zh-CN"
    assert TEMPLATES.render("payout_issued", None, VARS["payout_issued"], "Asia/Shanghai").locale == "zh-CN"


def test_a_missing_variable_is_an_error_not_a_blank() -> None:
    with pytest.raises(KeyError):
        TEMPLATES.render("claim_decided", "en", {"case_id": CID}, "Asia/Shanghai")


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [(0, "CNY", "¥0.00"), (1250, "CNY", "¥12.50"), (123456789, "CNY", "¥1,234,567.89"), (500, "JPY", "JPY 500")],
)
def test_money_without_floats(amount: int, currency: str, expected: str) -> None:
    common = Common(greeting="g", closing="c", currency_symbols={"CNY": "¥"})
    assert format_money({"amount_minor": amount, "currency": currency}, common) == expected


def copy_templates(tmp_path: Path) -> Path:
    root = tmp_path / "templates"
    shutil.copytree(DATA / "templates", root)
    return root


def test_a_new_locale_is_just_new_files(tmp_path: Path) -> None:
    root = copy_templates(tmp_path)
    (root / "ja").mkdir()
    (root / "ja" / "_common.yaml").write_text(
        "greeting: お客様へ\nclosing: ご利用ありがとうございました。\n", encoding="utf-8"
    )
    (root / "ja" / "payout_issued.yaml").write_text(
        "subject: 補償金のお支払い ${case_id}\nsms: ${case_id} の補償金 ${amount} をお支払いしました。\n"
        "email: ${case_id} の補償金 ${amount} をお支払いしました。\n",
        encoding="utf-8",
    )
    templates = Templates(root, "zh-CN", POLICY.forbidden_words)
    assert templates.render("payout_issued", "ja", VARS["payout_issued"], "Asia/Tokyo").locale == "ja"
    assert templates.render("case_resolved", "ja", VARS["case_resolved"], "Asia/Tokyo").locale == "zh-CN"


@pytest.mark.parametrize(
    ("file", "text", "problem"),
    [
        ("zh-CN/case_resolved.yaml", "subject: s\nsms: 这个我不知道\nemail: e\n", "forbidden word"),
        ("en/case_resolved.yaml", "subject: s\nsms: t\n", "Field required"),
        ("en/_common.yaml", "greeting: hello\n", "Field required"),
        ("en/extra.yaml", "subject: s\nsms: t\nemail: e\nfooter: x\n", "Extra inputs"),
    ],
)
def test_invalid_templates_are_refused_on_load(tmp_path: Path, file: str, text: str, problem: str) -> None:
    root = copy_templates(tmp_path)
    (root / file).write_text(text, encoding="utf-8")
    with pytest.raises(RulesError, match=problem):
        Templates(root, "zh-CN", POLICY.forbidden_words)
