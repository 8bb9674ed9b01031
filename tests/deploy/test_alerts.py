"""The alert rules' unit tests: `promtool test rules` on series that mimic each failure (tests/deploy/promtool/).

Every alert of every PrometheusRule caseflow ships has a case where it fires and a case where it stays quiet;
promtool comes from PATH or from Debian's prometheus package unpacked by `make promtool`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from .render import DEPLOY, of_kind, render

PROMTOOL_TESTS = Path(__file__).parent / "promtool"
#: Each promtool test file and the PrometheusRule it tests (relative to deploy/).
RULE_FILES = {
    "caseflow": "monitoring/prometheusrule.yaml",
    "caseflow-kafka": "components/kafka-metrics/prometheusrule.yaml",
    "caseflow-mongodb": "components/mongodb-metrics/prometheusrule.yaml",
}


def promtool() -> str:
    """CASEFLOW_PROMTOOL, else promtool on PATH, else the one `make promtool` put beside this Python."""
    candidates = [
        os.environ.get("CASEFLOW_PROMTOOL"),
        shutil.which("promtool"),
        str(Path(sys.executable).parent / "promtool"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError("no promtool: run `make promtool` (unpacks Debian's prometheus into .venv/bin)")


def rule_groups(path: str) -> dict[str, Any]:
    """A PrometheusRule's spec is a Prometheus rule file."""
    return dict(yaml.safe_load((DEPLOY / path).read_text())["spec"])


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, check=False, timeout=120)


@pytest.mark.parametrize("name", sorted(RULE_FILES))
def test_alert_rules_pass_their_promtool_unit_tests(name: str, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(rule_groups(RULE_FILES[name])))
    checked = run_promtool("check", "rules", str(rules))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    cases = (PROMTOOL_TESTS / f"{name}.test.yaml").read_text().replace("[RULES]", f"[{rules}]")
    (tmp_path / "test.yaml").write_text(cases)
    tested = run_promtool("test", "rules", str(tmp_path / "test.yaml"))
    assert tested.returncode == 0, tested.stdout + tested.stderr


@pytest.mark.parametrize("name", sorted(RULE_FILES))
def test_every_alert_is_shown_firing_and_quiet(name: str) -> None:
    alerts = {r["alert"] for g in rule_groups(RULE_FILES[name])["groups"] for r in g["rules"] if "alert" in r}
    cases = yaml.safe_load((PROMTOOL_TESTS / f"{name}.test.yaml").read_text())["tests"]
    checks = [check for case in cases for check in case.get("alert_rule_test", [])]
    fires = {c["alertname"] for c in checks if c.get("exp_alerts")}
    quiet = {c["alertname"] for c in checks if not c.get("exp_alerts")}
    assert alerts, name
    assert alerts - fires == set(), f"never shown firing: {alerts - fires}"
    assert alerts - quiet == set(), f"never shown quiet: {alerts - quiet}"


def test_the_rules_tested_are_the_rules_shipped() -> None:
    """Every PrometheusRule of the prod overlay (components included) has its promtool tests."""
    shipped = {r["metadata"]["name"]: r["spec"] for r in of_kind(render("prod"), "PrometheusRule")}
    tested = {name: rule_groups(path) for name, path in RULE_FILES.items()}
    assert shipped == tested


def test_a_broken_alert_fails_its_promtool_tests(tmp_path: Path) -> None:
    """The tests can fail: a regex that lets the replay group in makes the idle group page again."""
    spec = rule_groups(RULE_FILES["caseflow"])
    text = yaml.safe_dump(spec).replace("caseflow-(intake|routing|sla|claims|notify)", "caseflow-.*")
    (tmp_path / "rules.yaml").write_text(text)
    cases = (PROMTOOL_TESTS / "caseflow.test.yaml").read_text().replace("[RULES]", f"[{tmp_path / 'rules.yaml'}]")
    (tmp_path / "test.yaml").write_text(cases)
    tested = run_promtool("test", "rules", str(tmp_path / "test.yaml"))
    assert tested.returncode != 0
    assert "caseflow-dlq-replay" in tested.stdout + tested.stderr
