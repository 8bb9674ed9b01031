"""deploy/ops/restore.sh, run against a stand-in kubectl (a cluster is what we cannot run here): it stops the
services before the restore, gives them back their replicas after, and stops with them stopped if it fails."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from .render import DEPLOY

SCRIPT = DEPLOY / "ops" / "restore.sh"
#: Answers the script's questions like a cluster would, and writes down every call.
FAKE_KUBECTL = """#!/bin/sh
echo "$*" >> "$KUBECTL_LOG"
case "$*" in
  *"get deployment caseflow-routing"*) printf 3 ;;
  *"get deployment"*) printf 2 ;;
  *"get job"*) printf '%s' "$JOB_STATE" ;;
  *"create -f -"*) cat > "$KUBECTL_LOG.job" ;;
esac
"""


def restore(tmp_path: Path, *args: str, job_state: str = "1/") -> tuple[subprocess.CompletedProcess[str], list[str]]:
    kubectl = tmp_path / "kubectl"
    kubectl.write_text(FAKE_KUBECTL)
    kubectl.chmod(0o755)
    log = tmp_path / "calls"
    env = {**os.environ, "KUBECTL": str(kubectl), "KUBECTL_LOG": str(log), "JOB_STATE": job_state}
    done = subprocess.run(
        ["/bin/sh", str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    return done, log.read_text().splitlines() if log.exists() else []


def test_the_services_stop_before_the_restore_and_get_their_replicas_back(tmp_path: Path) -> None:
    done, calls = restore(tmp_path, "-n", "cf", "caseflow-20261203T021700Z.archive.gz")
    assert done.returncode == 0, done.stderr
    scaled = [c for c in calls if " scale " in f" {c} "]
    stops, starts = scaled[:5], scaled[5:]
    assert all(c.endswith("--replicas=0") for c in stops)
    create = calls.index("-n cf create -f -")
    assert calls.index(stops[-1]) < create < calls.index(starts[0])
    assert "-n cf scale deployment caseflow-routing --replicas=3" in starts
    assert "-n cf scale deployment caseflow-intake --replicas=2" in starts
    job = (tmp_path / "calls.job").read_text()
    assert "value: caseflow-20261203T021700Z.archive.gz" in job
    assert "mongorestore" in job


def test_a_failed_restore_leaves_the_services_stopped(tmp_path: Path) -> None:
    done, calls = restore(tmp_path, "latest", job_state="/1")
    assert done.returncode == 1
    assert "the restore failed" in done.stderr
    scaled = [c for c in calls if " scale " in f" {c} "]
    assert len(scaled) == 5  # the five services stopped, none started again
    assert all(c.endswith("--replicas=0") for c in scaled)


@pytest.mark.parametrize("args", [[], ["../../etc/passwd"], ["-n"], ["a", "b"], ["--bogus", "latest"]])
def test_bad_arguments_change_nothing(tmp_path: Path, args: list[str]) -> None:
    done, calls = restore(tmp_path, *args)
    assert done.returncode == 2
    assert calls == []


def test_dry_run_only_asks(tmp_path: Path) -> None:
    done, calls = restore(tmp_path, "--dry-run", "latest")
    assert done.returncode == 0
    assert calls, "a dry run asks the cluster what it would stop"
    assert all(" get deployment " in f" {c} " for c in calls)
    assert "scale deployment caseflow-intake --replicas=0" in done.stdout
