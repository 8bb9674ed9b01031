"""`make test-stress`: N runs in a row beside CPU hogs, stopping at the first failure, the hogs always stopped.

The runs here are one tiny test without the conftest (no broker), one hog each: the machine is shared."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.service  # it starts processes


def stress(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "caseflow_dev.stress", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)


def hogs_of(output: str) -> list[int]:
    found = re.search(r"CPU hogs running \(pids ([\d, ]+)\)", output)
    assert found is not None, output
    return [int(pid) for pid in found.group(1).split(", ")]


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_every_run_is_reported_and_the_hogs_stop() -> None:
    tiny = ("-q", "-p", "no:cacheprovider", "--noconftest", "tests/test_shape.py::test_every_service_is_walked")
    done = stress("--runs", "2", "--hogs", "1", "--", *tiny)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.findall(r"stress run (\d)/2: passed in \d+ s", done.stdout) == ["1", "2"]
    assert "all 2 runs passed beside 1 CPU hog" in done.stdout
    [pid] = hogs_of(done.stdout)
    assert gone(pid)


def test_the_first_failing_run_ends_it_with_its_exit_code() -> None:
    done = stress(
        "--runs", "3", "--hogs", "1", "--", "-q", "-p", "no:cacheprovider", "--noconftest", "tests/no_such_test.py"
    )
    assert done.returncode == 4  # pytest: usage error (no such file)
    assert re.findall(r"stress run (\d)/3: FAILED \(exit 4\)", done.stdout) == ["1"]
    assert "stress run 2/3" not in done.stdout
    [pid] = hogs_of(done.stdout)
    assert gone(pid)
