"""Sampling profiles of running services with py-spy: flame graphs on disk, and where the time goes, in words.

Each process is recorded twice at once for the same seconds: a flame graph (SVG, under
`benchmarks/profiles/`, git-ignored) to look at, and collapsed stacks to summarise here: the frames with the
most self time, and the share of CPU by library (the package a sampled leaf frame belongs to).
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
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


def library_of(path: str) -> str:
    """Which package a source file belongs to: site-packages/<pkg>, caseflow_<x>, the standard library."""
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].split(".", 1)[0]
    found = re.search(r"(caseflow_[a-z]+)/", path)
    if found:
        return found.group(1)
    if re.search(r"/lib/python3\.\d+/", path):
        return "stdlib"
    return "other"


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


async def record(pids: Mapping[str, int | None], seconds: float, *, rate: int = 50) -> list[Profile]:
    """Profile every named process for `seconds`; returns the summaries (the SVGs stay in FOLDER)."""
    FOLDER.mkdir(exist_ok=True)
    runs = []
    for name, pid in pids.items():
        if pid is None:
            continue
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        for fmt, suffix in (("flamegraph", "svg"), ("raw", "txt")):
            command = [
                PY_SPY, "record", "--pid", str(pid), "--rate", str(rate // 2), "--duration", str(int(seconds)),
                "--format", fmt, "--nonblocking", "--output", str(FOLDER / f"{slug}.{suffix}"),
            ]  # fmt: skip
            runs.append(await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.DEVNULL))
    await asyncio.gather(*(run.wait() for run in runs))
    profiles = []
    for name, pid in pids.items():
        raw = FOLDER / f"{re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')}.txt"
        if pid is not None and raw.exists():
            profiles.append(summarise(name, raw.read_text(encoding="utf-8", errors="replace")))
    return profiles


def report(profiles: list[Profile], top: int = 8) -> str:
    lines = [f"profiles (py-spy, flame graphs in {FOLDER})"]
    for p in profiles:
        if not p.samples:
            lines.append(f"  {p.name}: no samples")
            continue
        libraries = ", ".join(f"{lib} {n / p.samples:.0%}" for lib, n in p.by_library.most_common(6))
        lines.append(f"  {p.name} ({p.samples} samples): {libraries}")
        for frame, n in p.self_time.most_common(top):
            lines.append(f"      {n / p.samples:5.1%}  {frame[:110]}")
    return "\n".join(lines)
