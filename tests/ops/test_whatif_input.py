"""caseflowctl whatif and export refuse bad input with one line naming what and where, and exit status 2."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from caseflow_ops.cli import main
from caseflow_ops.cli import run as caseflowctl
from tests.contracts.examples import example


@pytest.fixture(autouse=True)
def no_log_handlers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logging.getLogger(), "handlers", [])


def line(topic: str, event: dict[str, Any], offset: int = 0) -> str:
    return json.dumps(
        {"topic": topic, "partition": 0, "offset": offset, "timestamp_ms": 1_796_000_000_000, "event": event}
    )


def refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize(
    ("lines", "said"),
    [
        (["{not json"], "period.jsonl:1: not JSON"),
        ([line("cases.lifecycle", example("case.opened")), "[1, 2]"], "period.jsonl:2: expected a JSON object"),
        ([line("no.such.topic", example("case.opened"))], "period.jsonl:1: unknown topic 'no.such.topic'"),
        (
            [line("cases.lifecycle", example("case.opened")).replace('"cases.lifecycle"', '["a"]')],
            "unknown topic ['a']",
        ),
        ([line("cases.lifecycle", {**example("case.opened"), "type": "case.teleported"})], "period.jsonl:1:"),
        ([line("sla.breaches", example("case.opened"))], "period.jsonl:1:"),
        ([json.dumps({"topic": "cases.lifecycle", "partition": -1, "offset": 0, "timestamp_ms": 1})], "whole numbers"),
        ([], "no events in"),
    ],
)
def test_a_bad_export_file(lines: list[str], said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    period = tmp_path / "period.jsonl"
    period.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert said in refused(["whatif", str(period)], capsys)


def test_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "cannot read" in refused(["whatif", str(tmp_path / "nowhere.jsonl")], capsys)


def recorded_period(tmp_path: Path, policy_version: str) -> Path:
    breached = example("sla.breached")
    breached["payload"]["policy_version"] = policy_version
    period = tmp_path / "period.jsonl"
    period.write_text(line("sla.breaches", breached) + "\n", encoding="utf-8")
    return period


def test_a_version_no_longer_kept(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    said = refused(["whatif", str(recorded_period(tmp_path, "2019-gone"))], capsys)
    assert "sla_policies version '2019-gone' decided the period" in said
    assert "is not kept" in said


def test_a_candidate_that_does_not_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from caseflow_kit.rules import load_rules
    from caseflow_sla.deps import packaged
    from caseflow_sla.policy import Policies

    version = load_rules(packaged("policies.yaml"), Policies).version
    candidate = tmp_path / "candidate.yaml"
    candidate.write_text("version: x\nrules: 7\n", encoding="utf-8")
    said = refused(["whatif", str(recorded_period(tmp_path, version)), "--sla-policies", str(candidate)], capsys)
    assert said.startswith(f"caseflowctl: SLA policies: {candidate}: invalid:")


def test_bad_times(capsys: pytest.CaptureFixture[str]) -> None:
    assert main_exit(["whatif", "--since", "yesterday"]) == 2
    assert "not an ISO 8601 time" in capsys.readouterr().err
    assert main_exit(["export", "--until", "2026-05-01T08:00:00"]) == 2
    assert "no UTC offset" in capsys.readouterr().err


def main_exit(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's own exit
        return int(exc.code or 0)


def test_candidate_files_replace_only_what_they_name(tmp_path: Path) -> None:
    from caseflow_ops.whatif import policies

    calendars = tmp_path / "calendars.yaml"
    calendars.write_text(
        'calendars:\n  office:\n    week:\n      mon: ["09:00-18:00"]\n    holidays: [2026-12-25]\n'
        'assignments:\n  "SH-*": office\ndefault: office\n',
        encoding="utf-8",
    )
    recorded = policies.in_force()
    candidate = policies.with_candidates(recorded, calendars=calendars)
    assert candidate.sla.default_calendar == "office"
    assert candidate.sla.station_calendars == {"SH-*": "office"}
    assert str(candidate.sla.calendars["office"].holidays[0]) == "2026-12-25"
    assert candidate.sla.rules == recorded.sla.rules  # the targets stay
    assert (candidate.compensation, candidate.directory, candidate.qa) == (
        recorded.compensation,
        recorded.directory,
        recorded.qa,
    )
    assert candidate.sources["calendars"] == str(calendars)


async def test_a_version_kept_in_a_folder_is_found(tmp_path: Path) -> None:
    import yaml

    from caseflow_kit.rules import load_rules
    from caseflow_ops.whatif import policies
    from caseflow_sla.deps import packaged
    from caseflow_sla.policy import Policies

    kept = tmp_path / "kept"
    kept.mkdir()
    earlier = yaml.safe_load(packaged("policies.yaml").read_text(encoding="utf-8"))
    earlier["version"] = "2019-kept"
    (kept / "sla-2019.yaml").write_text(yaml.safe_dump(earlier, allow_unicode=True), encoding="utf-8")
    period = recorded_period(tmp_path, "2019-kept")
    found = policies.recorded(period_records(period), policies.in_force(), policies.kept_in(kept))
    assert found.sla.version == "2019-kept"
    assert found.sources["sla_policies"] == str(kept / "sla-2019.yaml")
    assert found.qa == load_rules(packaged("qa_table.yaml"), type(found.qa))
    assert Policies.model_validate(earlier) == found.sla
    out = io.StringIO()
    assert await caseflowctl(["policies", str(period), "--kept", str(kept)], out) == 0
    assert "2019-kept" in out.getvalue()
    out = io.StringIO()
    assert await caseflowctl(["policies", str(recorded_period(tmp_path, "2018-gone"))], out) == 1
    assert "MISSING" in out.getvalue()


def period_records(path: Path) -> list[Any]:
    from caseflow_ops.whatif.period import read_file

    return read_file(path)
