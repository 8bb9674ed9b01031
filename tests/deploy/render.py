"""Render the kustomize overlays once per test session, with whatever kubectl this machine has."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
OVERLAYS = ("dev", "prod", "prod-keda")
SERVICES = ("intake", "routing", "sla", "claims", "notify")


def kubectl() -> str:
    """CASEFLOW_KUBECTL, else kubectl on PATH, else the one `make kubectl` put beside this Python."""
    candidates = [
        os.environ.get("CASEFLOW_KUBECTL"),
        shutil.which("kubectl"),
        str(Path(sys.executable).parent / "kubectl"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError("no kubectl: run `make kubectl` (installs Debian's kubernetes-client into .venv/bin)")


@functools.cache
def render(overlay: str) -> tuple[dict[str, Any], ...]:
    """`kubectl kustomize deploy/overlays/<overlay>` as parsed objects."""
    return render_path(DEPLOY / "overlays" / overlay)


def render_path(folder: Path) -> tuple[dict[str, Any], ...]:
    done = subprocess.run([kubectl(), "kustomize", str(folder)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return tuple(d for d in yaml.safe_load_all(done.stdout) if d)


def of_kind(objects: tuple[dict[str, Any], ...], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def named(objects: tuple[dict[str, Any], ...], kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in of_kind(objects, kind) if o["metadata"]["name"] == name]
    return found


def unhashed(name: str) -> str:
    """A generated ConfigMap's name without kustomize's content-hash suffix."""
    head, _, tail = name.rpartition("-")
    return head if head and len(tail) == 10 and tail.isalnum() else name
