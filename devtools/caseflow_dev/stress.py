"""Run the test suite N times in a row while CPU-bound processes compete with it: CI must hold on a busy machine.

python -m caseflow_dev.stress --runs 3 --hogs 2 [-- pytest arguments]   (make test-stress N=3 PYTEST_ARGS=...)

Each run is a fresh `python -m pytest` (what `make pytest` runs); the first failing run ends it with that run's
exit code. The hogs are killed however it ends, and each also stops by itself when this process is gone
(killed outright, say), so none is ever left spinning.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

#: Spins until its parent is gone (it is then re-parented): nothing to clean up if the runner is SIGKILLed.
HOG = "import os\nparent = os.getppid()\nwhile os.getppid() == parent:\n    pass\n"


def start_hogs(count: int) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(count)]  # noqa: S603 - fixed program


def stop_hogs(hogs: Sequence[subprocess.Popen[bytes]]) -> None:
    for hog in hogs:
        hog.kill()
    for hog in hogs:
        hog.wait()


def _stop_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through `finally`: the hogs are stopped


def run(runs: int, hogs: int, pytest_args: Sequence[str]) -> int:
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _stop_on_signal)
    started = start_hogs(hogs)
    print(f"{hogs} CPU hogs running (pids {', '.join(str(h.pid) for h in started) or 'none'})", flush=True)
    try:
        for n in range(1, runs + 1):
            began = time.monotonic()
            code = subprocess.call([sys.executable, "-m", "pytest", *pytest_args])  # noqa: S603 - the caller's own
            took = time.monotonic() - began
            verdict = "passed" if code == 0 else f"FAILED (exit {code})"
            print(f"stress run {n}/{runs}: {verdict} in {took:.0f} s", flush=True)
            if code != 0:
                return code
        print(f"all {runs} runs passed beside {hogs} CPU hog{'s' * (hogs != 1)}", flush=True)
        return 0
    finally:
        stop_hogs(started)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m caseflow_dev.stress", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="how many times in a row (default 3)")
    parser.add_argument("--hogs", type=int, default=2, help="CPU-bound processes beside it (default 2)")
    parser.add_argument("pytest_args", nargs="*", help="passed to pytest (after --)")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.hogs < 0:
        parser.error("--runs must be at least 1 and --hogs at least 0")
    return run(args.runs, args.hogs, args.pytest_args)


if __name__ == "__main__":
    raise SystemExit(main())
