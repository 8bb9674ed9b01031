"""Personal data stays masked or sealed; logs are scrubbed; rules files are validated and reloaded safely."""

from __future__ import annotations

import base64
import json
import logging
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from caseflow_kit import logs
from caseflow_kit.privacy import (
    PiiSettings,
    Pseudonymiser,
    PseudonymSettings,
    Sealer,
    SealError,
    mask_email,
    mask_id_number,
    mask_name,
    mask_phone,
)
from caseflow_kit.rules import RulesError, RulesFile, load_rules


@pytest.mark.parametrize(
    ("value", "masked"),
    [("13812345678", "138****5678"), ("+86 138-1234-5678", "138****5678"), ("12345", "***45"), (None, None)],
)
def test_phone_masking(value: str | None, masked: str | None) -> None:
    assert mask_phone(value) == masked


def test_name_email_and_id_masking() -> None:
    assert mask_name("张三") == "张*"
    assert mask_name("欧阳娜娜") == "欧***"
    assert mask_name("John Smith") == "J*** S****"
    assert mask_email("zhang.san@example.com") == "z***@example.com"
    assert mask_id_number("110101199003071234") == "11**************34"


def sealer(key_id: str = "k1") -> Sealer:
    settings = PiiSettings(pii_key=base64.b64encode(os.urandom(32)).decode(), pii_key_id=key_id)
    return Sealer.from_settings(settings)


def test_sealed_data_opens_only_with_its_key() -> None:
    one, other = sealer(), sealer()
    token = one.seal({"phone": "13812345678", "name": "张三"})
    assert "13812345678" not in token
    assert one.open(token, "k1") == {"phone": "13812345678", "name": "张三"}
    with pytest.raises(SealError):
        other.open(token, "k1")
    with pytest.raises(SealError):
        one.open(token, "unknown")
    assert one.seal({"a": 1}) != one.seal({"a": 1})  # a fresh nonce every time


def test_rotated_keys_still_open_old_tokens() -> None:
    old_key = os.urandom(32)
    old = Sealer("k1", old_key)
    token = old.seal({"phone": "13812345678"})
    rotated = Sealer("k2", os.urandom(32), {"k1": old_key})
    assert rotated.open(token, "k1") == {"phone": "13812345678"}
    assert rotated.key_id == "k2"


def pseudonymiser(seals: Sealer, key: bytes | None = None) -> Pseudonymiser:
    settings = PseudonymSettings(pseudonym_key=base64.b64encode(key or os.urandom(32)).decode())
    return Pseudonymiser.from_settings(settings, sealer=seals)


def test_pseudonyms_are_stable_and_keyed() -> None:
    one, other = pseudonymiser(sealer()), pseudonymiser(sealer())
    assert one.pseudonym("13812345678") == one.pseudonym("13812345678")
    assert one.pseudonym("13812345678") != other.pseudonym("13812345678")
    assert "5678" not in one.pseudonym("13812345678")


def test_pseudonyms_outlive_a_rotation_of_the_sealing_key() -> None:
    old_key, pseudonym_key = os.urandom(32), os.urandom(32)
    before = pseudonymiser(Sealer("k1", old_key), pseudonym_key)
    after = pseudonymiser(Sealer("k2", os.urandom(32), {"k1": old_key}), pseudonym_key)
    assert before.pseudonym("id", "C-42") == after.pseudonym("id", "C-42")


@pytest.mark.parametrize("which", ["current", "retired"])
def test_the_pseudonym_key_must_not_be_a_sealing_key(which: str) -> None:
    current, retired = os.urandom(32), os.urandom(32)
    seals = Sealer("k2", current, {"k1": retired})
    with pytest.raises(SealError, match="its own secret"):
        pseudonymiser(seals, current if which == "current" else retired)


def test_a_pseudonym_key_of_the_wrong_size_is_refused() -> None:
    with pytest.raises(SealError, match="32 bytes"):
        pseudonymiser(sealer(), b"short")
    with pytest.raises(SealError, match="CASEFLOW_PSEUDONYM_KEY is not valid base64"):
        Pseudonymiser.from_settings(PseudonymSettings(pseudonym_key="not base64!"), sealer=sealer())


def test_a_bad_key_is_refused_clearly() -> None:
    with pytest.raises(SealError, match="32 bytes"):
        Sealer.from_settings(PiiSettings(pii_key=base64.b64encode(b"short").decode()))


def test_log_lines_are_json_with_correlation_and_scrubbed(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure_logging("test", "INFO", "json")
    token = logs.correlation_id.set("corr-9")
    try:
        logging.getLogger("caseflow.test").warning(
            "customer 13812345678 wrote from z.san@example.com, id 110101199003071234",
            extra=logs.log_fields(case_id="CF-000001", note="call 13912345678"),
        )
    finally:
        logs.correlation_id.reset(token)
    entry = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert entry["correlation_id"] == "corr-9"
    assert entry["case_id"] == "CF-000001"
    text = json.dumps(entry, ensure_ascii=False)
    for secret in ("13812345678", "13912345678", "z.san@example.com", "110101199003071234"):
        assert secret not in text
    assert "138****5678" in entry["msg"]


class Thresholds(BaseModel):
    version: str
    auto_approve_minor: int = Field(ge=0)


def test_rules_file_loads_and_rejects_bad_files_clearly(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("version: '1'\nauto_approve_minor: 50000\n", encoding="utf-8")
    assert load_rules(path, Thresholds).auto_approve_minor == 50000
    path.write_text("version: '2'\nauto_approve_minor: -5\n", encoding="utf-8")
    with pytest.raises(RulesError, match="auto_approve_minor"):
        load_rules(path, Thresholds)


def test_rules_reload_keeps_the_rules_in_force_when_the_new_file_is_bad(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("version: '1'\nauto_approve_minor: 50000\n", encoding="utf-8")
    rules = RulesFile(path, Thresholds)
    path.write_text("version: '2'\nauto_approve_minor: [oops\n", encoding="utf-8")
    assert rules.reload(force=True) is False
    assert rules.current.version == "1"
    path.write_text("version: '3'\nauto_approve_minor: 100\n", encoding="utf-8")
    assert rules.reload(force=True) is True
    assert rules.current.auto_approve_minor == 100


@given(st.text(alphabet=st.sampled_from("0123456789Xx@.ab- 中"), max_size=60))
def test_scrubbing_skips_only_text_nothing_could_mask(text: str) -> None:
    """The quick look before the three patterns never lets anything through that they would mask."""
    from caseflow_kit.logs import _SCRUBBERS

    full = text
    for pattern, replacement in _SCRUBBERS:
        full = pattern.sub(replacement, full)
    assert logs.scrub(text) == full
