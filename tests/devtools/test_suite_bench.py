"""suite_bench.py --against REV --rounds K: the figures read from each run's output, and the ratios of the rounds."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"

RUN_OUTPUT = """tansu listening on 127.0.0.1:29204 (in-memory topics)
cases published             4000 at a target of 1000/s
cases opened and notified   4000
sustained                          264 cases/s  (first publish to last first-notification)
latency upstream->notified  p50    8985 ms   p99   11626 ms
raw broker, same run             27725 msgs/s (produce+consume, no processing); round trip p99 29.2 ms
CPU per case, by process     (budget at 1000 cases/s on 2 cores: 2.00 ms)
    notify                       2.61 ms
    bench (clients, sinks)       1.07 ms
    all                          6.27 ms  -> at most 319 cases/s with every core busy
"""


@pytest.fixture(scope="module")
def suite_bench() -> ModuleType:
    sys.path.insert(0, str(BENCHMARKS))  # it imports its sibling `profiles`
    try:
        spec = importlib.util.spec_from_file_location("suite_bench", BENCHMARKS / "suite_bench.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_a_runs_headline_figures_are_read_from_its_output(suite_bench: ModuleType) -> None:
    figures = suite_bench.run_and_read("a run", [sys.executable, "-c", f"print({RUN_OUTPUT!r})"])

    assert figures == {
        "cases/s": 264.0,
        "ms per case": 6.27,
        "bench ms per case": 1.07,
        "raw broker msgs/s": 27725.0,
    }
    assert suite_bench.suite_ms(figures) == pytest.approx(5.20)


def test_a_run_without_its_figures_is_an_error_not_a_ratio(suite_bench: ModuleType) -> None:
    with pytest.raises(RuntimeError, match="no cases/s and no ms per case figure"):
        suite_bench.run_and_read("a run", [sys.executable, "-c", "print('cases opened and notified   0')"])


def test_the_summary_gives_each_rounds_ratios_and_their_medians(suite_bench: ModuleType) -> None:
    rounds = [
        ({"cases/s": 200.0, "ms per case": 9.0}, {"cases/s": 300.0, "ms per case": 6.0}),
        ({"cases/s": 200.0, "ms per case": 8.0}, {"cases/s": 400.0, "ms per case": 4.0}),
        ({"cases/s": 250.0, "ms per case": 10.0}, {"cases/s": 250.0, "ms per case": 8.0}),
    ]

    text = suite_bench.summary("e45f599", rounds)

    assert "e45f599 -> this checkout, 3 alternating rounds" in text
    assert "200 ->  300 (1.50 x)    9.00 ->  6.00 (1.50 x)" in text
    assert "200 ->  400 (2.00 x)    8.00 ->  4.00 (2.00 x)" in text
    assert text.endswith("median  cases/s 1.50 x, cases per core 1.50 x")


def test_the_suite_alone_leaves_out_the_benchmarks_own_process_on_both_sides(suite_bench: ModuleType) -> None:
    rounds = [
        (
            {"cases/s": 200.0, "ms per case": 10.0, "bench ms per case": 2.0},
            {"cases/s": 300.0, "ms per case": 6.0, "bench ms per case": 2.0},
        ),
        (
            {"cases/s": 200.0, "ms per case": 9.0, "bench ms per case": 1.0},
            {"cases/s": 300.0, "ms per case": 6.0, "bench ms per case": 1.0},
        ),
    ]

    text = suite_bench.summary("e45f599", rounds)

    assert " 8.00 ->  4.00 (2.00 x)" in text
    assert " 8.00 ->  5.00 (1.60 x)" in text
    assert text.endswith("median  cases/s 1.50 x, cases per core 1.58 x, the suite's alone 1.80 x")
