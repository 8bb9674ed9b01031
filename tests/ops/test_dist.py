"""caseflowctl installs on its own: the one wheel `make dist` builds goes into an empty virtual environment
(dependencies from the package index, nothing from this checkout) and answers as in the workspace."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "ops"))
import build_dist  # noqa: E402 - a build script beside the package, not part of it

pytestmark = pytest.mark.service


def uv() -> str:
    found = os.environ.get("UV") or (
        str(ROOT / ".uv" / "bin" / "uv") if (ROOT / ".uv" / "bin" / "uv").exists() else None
    )
    found = found or shutil.which("uv")
    assert found, "no uv: `make venv` bootstraps it into .uv"
    return found


def shell(where: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, check=True, cwd=where)


def test_the_wheel_installs_alone_and_runs(tmp_path: Path) -> None:
    wheel = build_dist.build(tmp_path / "dist", uv())
    assert wheel.name == "caseflowctl-1.0.0-py3-none-any.whl"
    venv = tmp_path / "venv"
    shell(tmp_path, uv(), "venv", "--quiet", "--python", sys.executable, str(venv))
    shell(tmp_path, uv(), "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), str(wheel))
    ctl = str(venv / "bin" / "caseflowctl")
    helped = subprocess.run([ctl, "--help"], capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path)
    assert helped.returncode == 0, helped.stderr
    assert "doctor" in helped.stdout
    refused = subprocess.run(
        [ctl, "breaches", "--count", "-1"], capture_output=True, text=True, timeout=60, check=False
    )
    assert refused.returncode == 2
    assert len(refused.stderr.splitlines()) == 1
    # The catalog's data files came along (the published schemas are package data of the contracts).
    probe = "import caseflow_contracts, importlib.resources as r; print(len(list((r.files(caseflow_contracts) / 'schemas').iterdir())))"
    counted = subprocess.run(
        [str(venv / "bin" / "python"), "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=tmp_path,
    )
    assert int(counted.stdout) > 10
