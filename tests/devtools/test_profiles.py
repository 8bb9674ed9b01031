"""suite_bench.py --profile's summaries: CPU by library from py-spy's file names, and a process py-spy could not
record reported so, never from an earlier run's files."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "profiles.py"


@pytest.fixture(scope="module")
def profiles() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_profiles", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_libraries_are_told_from_the_names_py_spy_gives_files(profiles: ModuleType) -> None:
    assert profiles.library_of("caseflow_kit/store/sqlite.py") == "caseflow_kit"
    assert profiles.library_of("pydantic/main.py") == "pydantic"
    assert profiles.library_of("/srv/.venv/lib/python3.11/site-packages/aiokafka/conn.py") == "aiokafka"
    assert profiles.library_of("asyncio/runners.py") == "stdlib"
    assert profiles.library_of("/usr/lib/python3.11/threading.py") == "stdlib"
    assert profiles.library_of("<string>") == "other"


def test_a_summary_counts_self_time_by_leaf_and_library(profiles: ModuleType) -> None:
    collapsed = (
        "run (asyncio/runners.py:10);_apply (caseflow_kit/store/sqlite.py:266) 30\n"
        "run (asyncio/runners.py:10);model_validate_json (pydantic/main.py:1) 10\n"
        "select (selectors.py:468) 10\n"
    )
    summary = profiles.summarise("notify", collapsed)
    assert summary.samples == 50
    assert summary.self_time.most_common(1) == [("_apply (caseflow_kit/store/sqlite.py)", 30)]
    assert summary.by_library == {"caseflow_kit": 30, "pydantic": 10, "stdlib": 10}


async def test_a_process_py_spy_cannot_record_is_reported_never_read_from_a_stale_file(
    profiles: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(profiles, "FOLDER", tmp_path)
    (tmp_path / "gone.txt").write_text("stale (old.py:1) 99\n")
    # A pid no process has: py-spy fails to attach, every time it is tried.
    gone = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1
    [summary] = await profiles.record({"gone": gone, "not started": None}, seconds=3)
    assert summary.name == "gone"
    assert summary.samples == 0
    assert summary.failure is not None
    assert "process" in summary.failure.lower()
    assert not (tmp_path / "gone.txt").exists()
    assert "gone: not profiled (" in profiles.report([summary])


async def test_a_flame_graph_py_spy_could_not_write_is_reported_beside_the_summary(
    profiles: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(profiles, "FOLDER", tmp_path)

    async def spy(pid: int, seconds: float, rate: int, fmt: str, output: Path) -> str | None:
        if fmt == "flamegraph":
            return "Failed to write flame graph"
        output.write_text("_apply (caseflow_kit/store/sqlite.py:255) 7\n")
        return None

    monkeypatch.setattr(profiles, "_spy", spy)
    [summary] = await profiles.record({"notify": 1}, seconds=1)
    assert summary.samples == 7
    assert summary.flame_graph_failure == "Failed to write flame graph"
    assert "no flame graph (Failed to write flame graph)" in profiles.report([summary])
