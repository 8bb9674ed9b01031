"""A living day replayed: does `caseflowctl whatif` agree with a day the suite really lived, and how fast is it?

    .venv/bin/python benchmarks/whatif_day.py [--seconds 120] [--rate 20] [--hogs 0] [--settle 15] [--period FILE]

Runs `make run`'s demo (Tansu, the five services, the local e-mail, SMS and webhook receivers, the simulator
at --rate upstream events/s, time 600x) with the simulator on for --seconds, beside --hogs busy processes if
asked (a loaded machine: consumers and timer loops lag, and the replay must learn that from the recording).
--settle seconds after the simulator stopped (the suite still running its clocks and what they cause), it
exports the period with `caseflowctl export` to benchmarks/profiles/whatif-day.jsonl or --period (git-ignored,
kept to replay again: the SLA policies it ran on are written beside it), stops the demo, and replays the period with
`caseflowctl whatif` under the recorded policies, in a process of its own. Prints the replay's verdict and
recorded events/s, and exits 1 when the replay disagrees with the recording (the differing cases printed).

Why settle: a period read while the simulator still runs ends in the middle of its stories, and near its end
the recording cannot say when the live services handled what they had not published yet; where that decides
something (a station at capacity freeing a place just before the end), the replay may decide otherwise. The
operations guide says the same: read a period that ends after the suite went quiet.

A simulated day's stories are longer than suite_bench's burst of parcel exceptions (station updates, calls,
claims, reopenings, escalations; most records are deliveries the replay only indexes), and its per-record cost
differs: both figures belong in a comparison.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from suite_bench import export, print_replay, replayed

from caseflow_dev.broker import free_port
from caseflow_dev.stack import CURL_HINT

#: Where the period is kept unless --period says: git-ignored, to replay again by hand.
PERIOD = Path(__file__).parent / "profiles" / "whatif-day.jsonl"
#: What the demo prints once the suite is up, as its simulator starts.
STARTED = CURL_HINT.splitlines()[0]
#: The SLA policies scaled to the demo's speed, which it writes into its data folder when it starts: kept with the
#: period, the replay finds the recorded version among them.
DEMO_POLICIES = "demo-sla-policies.yaml"


def policies_beside(period: Path) -> Path:
    """Where the SLA policies the day ran on are kept: beside its period."""
    return period.with_name(f"{period.stem}-sla-policies.yaml")


def _spin() -> None:
    """A CPU hog: the loop itself is the work (one core kept busy until terminated)."""
    while True:
        pass


@contextlib.contextmanager
def hogs(count: int) -> Iterator[None]:
    """`count` processes that keep a core busy each, for as long as the block runs."""
    spinning = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(count)]
    for process in spinning:
        process.start()
    try:
        yield
    finally:
        for process in spinning:
            process.terminate()
            process.join()


def wait_for_line(log: Path, text: str, within_s: float) -> None:
    """Until the demo's log says `text`."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise SystemExit(f"the demo did not start within {within_s:.0f} s (see {log})")


def live_day(data: Path, seconds: float, rate: float, hog_count: int, settle: float, *, period: Path) -> None:
    """The demo's simulator on for `seconds`, beside `hog_count` busy processes; the period exported to `period`
    `settle` seconds after the simulator stopped."""
    broker = free_port()
    demo = [sys.executable, "-m", "caseflow_dev.demo", "--data-dir", str(data), "--broker-port", str(broker)]
    demo += ["--http-base-port", str(free_port()), "--rate", str(rate), "--no-live"]
    demo += ["--duration", str(seconds), "--settle", str(10**6)]  # stopped here once the period is exported
    log = data / "demo.log"
    with log.open("wb") as out:
        running = subprocess.Popen(demo, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_for_line(log, STARTED, within_s=180)
            with hogs(hog_count):
                time.sleep(seconds + settle)  # the day's length, not a wait for anything
                export(f"127.0.0.1:{broker}", {"CASEFLOW_POLICIES_FILE": str(data / DEMO_POLICIES)}, period)
        finally:
            running.send_signal(signal.SIGINT)
            try:
                running.wait(timeout=60)
            except subprocess.TimeoutExpired:
                running.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=120, help="how long the day runs (default 120)")
    parser.add_argument("--rate", type=float, default=20, help="the simulator's upstream events/s (default 20)")
    parser.add_argument("--hogs", type=int, default=0, help="busy processes beside the suite (default 0)")
    parser.add_argument(
        "--settle", type=float, default=15, help="seconds after the simulator stopped before the export (default 15)"
    )
    parser.add_argument(
        "--period",
        type=Path,
        default=PERIOD,
        help="where to keep the period (default benchmarks/profiles/whatif-day.jsonl)",
    )
    args = parser.parse_args()
    policies = policies_beside(args.period)
    with tempfile.TemporaryDirectory(prefix="caseflow-day-") as tmp:
        data = Path(tmp)
        live_day(data, args.seconds, args.rate, args.hogs, args.settle, period=args.period)
        shutil.copy(data / DEMO_POLICIES, policies)
    answer, cpu_seconds, peak_mb = replayed(args.period, {"CASEFLOW_POLICIES_FILE": str(policies)})
    print(
        f"living day                  {args.seconds:10.0f} s at {args.rate:g} upstream events/s beside {args.hogs} "
        f"hog(s), exported {args.settle:g} s after"
    )
    print(
        f"learning                    {answer['learning']['passes']:10d} pass(es) under the recorded policies, "
        f"{answer['learning']['times_learned']} handling or timer times learned"
    )
    print_replay(answer, cpu_seconds, peak_mb)
    if not answer["faithful"]:
        print(json.dumps(answer["differences"], ensure_ascii=False, indent=1))
    return 0 if answer["faithful"] else 1


if __name__ == "__main__":
    sys.exit(main())
