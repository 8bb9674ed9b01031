"""Every benchmark the README names runs to its end and prints its headline figure, on the smallest load.

They are not run for their figures here (a shared machine's timings prove nothing): a benchmark nobody runs
breaks without anyone noticing. kit_bench did: the consumer began refusing records keyed otherwise than their
event, the benchmark's records were keyed by their index, and every one was dead-lettered while the run waited
for outputs that never came.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"

#: (script, arguments, a line the run prints only when it got through)
RUNS = [
    ("kit_bench.py", ["-n", "300"], r"kit path\s+\d+ events/s"),
    ("intake_bench.py", ["-n", "60", "--warmup", "10", "--paced", "20"], r"ratio intake / raw broker, same run: \d"),
    ("routing_bench.py", ["-n", "200", "--stations", "50"], r"through Tansu\s+\d+ cases/s"),
    ("claims_bench.py", ["--claims", "200", "--rounds", "1"], r"sqlite / floor: \d+%"),
    ("sla_bench.py", ["--clocks", "1000", "--rate", "200", "--seconds", "1"], r"breaches published: 200 of 200"),
    (
        "notify_bench.py",
        ["-n", "200", "--mails", "50", "--seconds", "0.5", "--rate", "200", "--due-at-once", "1000"],
        r"1000 deliveries due at one instant: [\d.]+ ms of CPU a round",
    ),
    ("suite_bench.py", ["-n", "60", "--rate", "60", "--whatif"], r"replay faithful\s+True \(0 cases differ\)"),
    # Its verdict is not asked for: a 4-second day exported 3 s after the simulator stopped may end before the suite
    # went quiet, which its docstring says can make the replay decide otherwise at the end (tests/e2e/test_whatif.py
    # waits for quiet and judges faithfulness). It exits 1 then, after its figures.
    (
        "whatif_day.py",
        ["--seconds", "4", "--rate", "5", "--settle", "3"],
        r"replay faithful\s+(True|False) \(\d+ cases",
    ),
]
#: Exit codes that still mean "ran to its figures": whatif_day's verdict of a replay that disagreed.
VERDICTS = {"whatif_day.py": (0, 1)}


@pytest.mark.parametrize(("script", "args", "through"), RUNS, ids=[run[0] for run in RUNS])
def test_the_benchmark_runs_to_its_figures(script: str, args: list[str], through: str, tmp_path: Path) -> None:
    kept = ["--period", str(tmp_path / "period.jsonl")] if script in ("suite_bench.py", "whatif_day.py") else []
    run = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args, *kept],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        check=False,
    )

    output = run.stdout + run.stderr
    assert run.returncode in VERDICTS.get(script, (0,)), f"{script} exited {run.returncode}:\n{output[-3000:]}"
    assert re.search(through, run.stdout), f"{script} ended without its figures:\n{output[-3000:]}"
