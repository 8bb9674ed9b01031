"""caseflowctl answers bad input (an argument, a setting, a file) with one line on stderr and exit status 2."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from caseflow_dev.broker import free_port
from caseflow_ops.cli import main


@pytest.fixture(autouse=True)
def no_log_handlers(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in a fresh process: no handler another test left on the root logger (one may write to a closed stream)."""
    monkeypatch.setattr(logging.getLogger(), "handlers", [])


def ctl(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's own exit
        return int(exc.code or 0)


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("caseflowctl")
    return err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["status", "--url", "foo"], "expected SERVICE=URL"),
        (["status", "--url", "nosuch=http://x"], "expected SERVICE=URL"),
        (["status", "--url", "intake=localhost:8081"], "must start with http"),
        (["status", "--url-template", "{svc}"], "only {service} and {port}"),
        (["status", "--url-template", "{0}"], "only {service} and {port}"),
        (["status", "--url-template", "caseflow-{service}"], "must start with http"),
        (["status", "--timeout", "0"], "above 0"),
        (["status", "--timeout", "nan"], "above 0"),
        (["doctor", "--max-lag", "-1"], "0 or more"),
        (["doctor", "--url-template", "{svc}"], "only {service} and {port}"),
        (["breaches", "--count", "-1"], "1 or more"),
        (["breaches", "--count", "two"], "1 or more"),
        (["breaches", "--timeout", "-5"], "above 0"),
        (["dlq", "inspect", "cases.lifecycle", "--limit", "-3"], "1 or more"),
        (["dlq", "replay", "cases.lifecycle", "--limit", "0"], "1 or more"),
        (["topics", "--max-partitions", "0"], "1 or more"),
        (["lag", "--service", "nosuch"], "invalid choice"),
        (["nosuch"], "invalid choice"),
    ],
)
def test_bad_arguments(argv: list[str], said: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert ctl(argv) == 2
    assert said in one_line_error(capsys)


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "KAFKA_SECURITY_PROTOCOL"),
        ({"KAFKA_SASL_MECHANISM": "KERBEROS"}, "KAFKA_SASL_MECHANISM"),
        ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": "/nonexistent/ca.crt"}, "KAFKA_SSL_CAFILE"),
    ],
)
def test_bad_settings(
    env: dict[str, str], said: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert ctl(["--bootstrap", f"127.0.0.1:{free_port()}", "lag"]) == 2
    assert said in one_line_error(capsys)


@pytest.mark.parametrize("argv", [["lag"], ["dlq", "list"], ["dlq", "inspect", "cases.lifecycle"]])
def test_an_unreachable_broker(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert ctl(["--bootstrap", f"127.0.0.1:{free_port()}", *argv]) == 2
    assert "Kafka: KafkaConnectionError" in one_line_error(capsys)


@pytest.mark.service
def test_the_real_command_prints_one_line_when_the_broker_is_unreachable() -> None:
    """As a process (no test harness capturing the clients' own log records): one line, exit status 2."""
    done = subprocess.run(
        [sys.executable, "-m", "caseflow_ops", "--bootstrap", f"127.0.0.1:{free_port()}", "dlq", "list"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [done.stderr.strip()]
    assert done.stderr.startswith("caseflowctl: Kafka: ")
