"""Personal data never leaves intake in clear; the rules file is validated on load and on reload."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from caseflow_contracts.errors import Refusal
from caseflow_contracts.upstream import ContactCategory
from caseflow_intake import pii
from caseflow_intake.pii import Guard
from caseflow_intake.rules import IntakeRules
from caseflow_intake.settings import DEFAULT_RULES
from caseflow_kit.privacy import Pseudonymiser, Sealer
from caseflow_kit.rules import RulesError, RulesFile, load_rules

from .factories import PRIVACY, address, contact, customer

SEALER = Sealer("k1", bytes(range(32)))
PSEUDONYMS = Pseudonymiser(bytes(range(32, 64)))


def test_sealed_contact_opens_only_with_the_key_and_masks_the_rest() -> None:
    c = customer(name="欧阳娜娜", phone="+86 138-1234-5678", email="nana@example.com")
    sealed = pii.seal(SEALER, c, "zh-CN")
    assert sealed.masked.name == "欧***"
    assert sealed.masked.phone == "138****5678"
    assert sealed.masked.email == "n***@example.com"
    assert sealed.email_present
    assert sealed.phone_present
    assert "13812345678" not in sealed.model_dump_json()
    assert "欧阳娜娜" not in sealed.model_dump_json()
    opened = SEALER.open(sealed.sealed, sealed.key_id)
    assert opened["phone"] == "+86 138-1234-5678"
    assert opened["id_number"] == c.id_number
    assert opened["address"]["street"] == c.address.street  # type: ignore[union-attr]
    other = Sealer("k1", base64.b64decode(base64.b64encode(bytes(32))))
    with pytest.raises(ValueError, match="does not open"):
        other.open(sealed.sealed, "k1")


def test_customer_ref_is_stable_per_customer_and_reveals_nothing() -> None:
    a = pii.customer_ref(PSEUDONYMS, customer(customer_id=None, phone="13812345678"), "x")
    b = pii.customer_ref(PSEUDONYMS, customer(customer_id=None, phone="+86 138 1234 5678", name="别名"), "y")
    assert a == b
    assert "5678" not in a
    assert pii.customer_ref(PSEUDONYMS, customer(customer_id="U1"), "x") != pii.customer_ref(
        PSEUDONYMS, customer(customer_id="U2"), "x"
    )


@pytest.mark.parametrize(
    ("text", "absent", "present"),
    [
        ("我是王小明，电话13812345678，请回电", ["王小明", "13812345678"], ["王*", "138****5678"]),
        ("地址是朝阳区建国路88号SOHO现代城A座1203，快递没到", ["建国路88号"], ["[地址]", "快递没到"]),
        ("mail me: xiaoming.wang@example.com", ["xiaoming.wang@"], ["x***@example.com"]),
        ("身份证110101199003071234", ["110101199003071234"], ["11**************34"]),  # the customer's own
        ("他的身份证320102198801011234", ["320102198801011234"], ["320102********1234"]),  # anyone's, by pattern
        (
            "another phone 13900001111 and card 6222021234567890123",
            ["13900001111", "6222021234567890123"],
            ["139****1111"],
        ),
        ("运单 BE123456789012 延误", [], ["BE123456789012"]),
    ],
)
def test_scrub_text(text: str, absent: list[str], present: list[str]) -> None:
    c = customer(address=address())
    out = pii.scrub_text(text, c)
    for value in absent:
        assert value not in out
    for value in present:
        assert value in out


def _write(path: Path, data: object) -> Path:
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_shipped_rules_are_valid_and_versioned() -> None:
    rules = load_rules(DEFAULT_RULES, IntakeRules)
    assert rules.version
    assert rules.reopen_window_hours == 168


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["exception_kinds"].pop("loss"), "exception_kinds lacks"),
        (lambda d: d["priority"]["base"].pop("inquiry"), "priority.base lacks"),
        (lambda d: d["exception_kinds"].update(delay="teleport"), "exception_kinds"),
        (lambda d: d["station_hints"]["delay"].update(fields=["moon_station"]), "unknown station fields"),
        (lambda d: d.update(reopen_window_hours=-1), "reopen_window_hours"),
        (lambda d: d.update(surprise=1), "surprise"),
    ],
)
def test_invalid_rules_are_refused_with_a_reason(tmp_path: Path, mutate: object, message: str) -> None:
    data = yaml.safe_load(DEFAULT_RULES.read_text(encoding="utf-8"))
    mutate(data)  # type: ignore[operator]
    with pytest.raises(RulesError, match=message):
        load_rules(_write(tmp_path / "rules.yaml", data), IntakeRules)


def test_reload_keeps_rules_in_force_when_the_new_file_is_invalid(tmp_path: Path) -> None:
    data = yaml.safe_load(DEFAULT_RULES.read_text(encoding="utf-8"))
    path = _write(tmp_path / "rules.yaml", data)
    rules = RulesFile(path, IntakeRules)
    _write(path, {**data, "version": "v2", "reopen_window_hours": 24})
    assert rules.reload(force=True)
    assert rules.current.version == "v2"
    _write(path, {**data, "version": "v3", "priority": {}})
    assert not rules.reload(force=True)
    assert rules.current.version == "v2"


def test_a_merged_contact_is_kept_sealed_and_opens_only_with_intakes_keys() -> None:
    made = contact("BE1234567890", ContactCategory.COMPLAINT, text="我是王小明，电话13812345678")
    sealed = PRIVACY.seal_contact(made.payload)
    assert "13812345678" not in sealed.token
    assert PRIVACY.open_contact(sealed) == made.payload
    stranger = Guard(Sealer("k9", bytes(range(100, 132))), PSEUDONYMS)
    with pytest.raises(Refusal) as refused:
        stranger.open_contact(sealed)
    assert refused.value.code == "sealed_contact_unreadable"
