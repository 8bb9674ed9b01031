"""Sampling profiles of running services with py-spy: flame graphs on disk, and where the time goes, in words.

Each process is recorded twice at once for the same seconds: a flame graph (SVG, under
`benchmarks/profiles/`, git-ignored) to look at, and collapsed stacks to summarise here: the frames with the
most self time, and the share of CPU by library (the package a sampled leaf frame belongs to).
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

FOLDER = Path(__file__).resolve().parent / "profiles"
PY_SPY = str(Path(sys.executable).parent / "py-spy")
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


@dataclass(frozen=True)
class Profile:
    name: str
    samples: int
    self_time: Counter[str]
    by_library: Counter[str]
    #: Why py-spy could not record the process (then there are no samples).
    failure: str | None = None
    #: Why its flame graph was not written, when the samples were.
    flame_graph_failure: str | None = None


def library_of(path: str) -> str:
    """Which package a source file belongs to: caseflow_<x>, an installed package, the standard library. py-spy
    names a file from the sys.path entry it was found under (`pydantic/main.py`, `asyncio/runners.py`), or in
    full (`.../site-packages/aiokafka/conn.py`, `.../lib/python3.11/threading.py`)."""
    found = re.search(r"(caseflow_[a-z]+)/", path)
    if found:
        return found.group(1)
    relative = re.split(r"site-packages/|/lib/python3\.\d+/", path)[-1]
    top = relative.split("/", 1)[0].removesuffix(".py")
    if not top or top.startswith("<") or "." in top:
        return "other"  # <string> (generated code), <frozen ...>
    return "stdlib" if top in sys.stdlib_module_names else top


def summarise(name: str, collapsed: str) -> Profile:
    """py-spy's raw format: one line per distinct stack, frames joined by ';', then the sample count."""
    self_time: Counter[str] = Counter()
    by_library: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        leaf = stack.split(";")[-1]
        found = _FRAME.match(leaf)
        function, path = (found.group("function"), found.group("file")) if found else (leaf, "")
        short = f"{function} ({path.rsplit('site-packages/', 1)[-1]})" if path else function
        self_time[short] += int(count)
        by_library[library_of(path) if path else "other"] += int(count)
        total += int(count)
    return Profile(name, total, self_time, by_library)


#: py-spy attaches by reading the target's memory; a dozen attaching at once to busy processes sometimes fail with
#: "Failed to find python version from target process". An attach fails at once, so it is tried again at once.
ATTACH_TRIES = 3


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


async def _spy(pid: int, seconds: float, rate: int, fmt: str, output: Path) -> str | None:
    """Record one process into `output`; None when done, else why py-spy could not (its last words)."""
    deadline = time.monotonic() + seconds
    why = "not tried"
    for _ in range(ATTACH_TRIES):
        left = int(deadline - time.monotonic())
        if left < 1:
            break
        command = [
            PY_SPY, "record", "--pid", str(pid), "--rate", str(rate), "--duration", str(left),
            "--format", fmt, "--nonblocking", "--output", str(output),
        ]  # fmt: skip
        run = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        _, err = await run.communicate()
        if run.returncode == 0:
            return None
        lines = err.decode(errors="replace").strip().splitlines()
        why = lines[0] if lines else f"exit {run.returncode}"
    return why


async def record(pids: Mapping[str, int | None], seconds: float, *, rate: int = 50) -> list[Profile]:
    """Profile every named process for `seconds`; returns the summaries (the SVGs stay in FOLDER). A process
    py-spy could not record is reported so, never from an earlier run's files."""
    FOLDER.mkdir(exist_ok=True)
    named = {name: pid for name, pid in pids.items() if pid is not None}
    files = {(name, suffix): FOLDER / f"{_slug(name)}.{suffix}" for name in named for suffix in ("svg", "txt")}
    for file in files.values():
        file.unlink(missing_ok=True)
    # Each process is sampled twice at once (flame graph, collapsed stacks): half the rate each.
    spies = {
        (name, suffix): _spy(pid, seconds, rate // 2, fmt, files[(name, suffix)])
        for name, pid in named.items()
        for fmt, suffix in (("flamegraph", "svg"), ("raw", "txt"))
    }
    failed = dict(zip(spies, await asyncio.gather(*spies.values()), strict=True))
    profiles = []
    for name in named:
        why = failed[(name, "txt")]
        if why is None:
            summary = summarise(name, files[(name, "txt")].read_text(encoding="utf-8", errors="replace"))
            profiles.append(replace(summary, flame_graph_failure=failed[(name, "svg")]))
        else:
            profiles.append(Profile(name, 0, Counter(), Counter(), failure=why))
    return profiles


def report(profiles: list[Profile], top: int = 8) -> str:
    lines = [f"profiles (py-spy, flame graphs in {FOLDER})"]
    for p in profiles:
        if p.failure is not None:
            lines.append(f"  {p.name}: not profiled ({p.failure})")
            continue
        if not p.samples:
            lines.append(f"  {p.name}: no samples")
            continue
        libraries = ", ".join(f"{lib} {n / p.samples:.0%}" for lib, n in p.by_library.most_common(6))
        lines.append(f"  {p.name} ({p.samples} samples): {libraries}")
        if p.flame_graph_failure is not None:
            lines.append(f"      no flame graph ({p.flame_graph_failure})")
        for frame, n in p.self_time.most_common(top):
            lines.append(f"      {n / p.samples:5.1%}  {frame[:110]}")
    return "\n".join(lines)
