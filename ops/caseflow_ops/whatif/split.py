"""A period split by case across processes: each process replays the stories of its cases, the results are merged.

A case's story is every record of its case and every upstream record that opened it or merged into it: the
recording says which (an event names the record that caused it), so the stories are the connected groups of
record keys linked by causation. Each process sees whole stories, on the timeline of the whole period.

What crosses cases is not split: routing's open-case count per station (its capacity rule) is counted per process.
While no station reaches its capacity that changes nothing; when one does, the replay under the recorded policies
disagrees with the recording and says so (not faithful): replay such a period in one process.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import zlib
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from .engine import Replay, Timeline, replay
from .period import Recorded, in_order
from .policies import PolicySet


def stories(records: Sequence[Recorded]) -> dict[str, str]:
    """Each record key -> the key that names its story (union-find over keys linked by causation)."""
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        parent.setdefault(key, key)
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    key_of = {r.event.event_id: r.event.key for r in records}
    for r in records:
        cause = key_of.get(r.event.causation_id or "")
        a = root(r.event.key)
        if cause is not None:
            b = root(cause)
            if a != b:
                parent[max(a, b)] = min(a, b)  # the smaller key names the story: the same in every run
    return {key: root(key) for key in list(parent)}


def shards(records: Sequence[Recorded], count: int) -> list[list[Recorded]]:
    """The records in `count` parts, whole stories each, in the period's order."""
    story = stories(records)
    parts: list[list[Recorded]] = [[] for _ in range(count)]
    for r in records:
        parts[zlib.crc32(story[r.event.key].encode()) % count].append(r)
    return parts


async def replay_both(
    records: Sequence[Recorded], recorded: PolicySet, candidate: PolicySet | None, timeline: Timeline
) -> tuple[Replay, Replay | None]:
    """The replay under the recorded policies, and under the candidate in the handling order the first found."""
    baseline = await replay(records, recorded, timeline)
    after = await replay(records, candidate, timeline, baseline.order) if candidate else None
    return baseline, after


@dataclass(frozen=True)
class _Job:
    parts: list[list[Recorded]]
    recorded: PolicySet
    candidate: PolicySet | None
    timeline: Timeline


#: The job a forked worker inherits (copy-on-write): the period is never pickled to the workers.
_JOB: _Job | None = None


def _run_part(index: int) -> tuple[Replay, Replay | None]:
    job = _JOB
    if job is None:
        raise RuntimeError("a replay worker started without its job")
    return asyncio.run(replay_both(job.parts[index], job.recorded, job.candidate, job.timeline))


def merge(replays: Sequence[Replay]) -> Replay:
    merged = Replay()
    for part in replays:
        merged.emitted += part.emitted
        merged.refused += part.refused
        merged.order.update(part.order)
        merged.inputs += part.inputs
        merged.handled += part.handled
    merged.emitted.sort(key=lambda e: e.at)  # stable: a case's own events keep their order
    return merged


async def replay_split(
    records: Sequence[Recorded], recorded: PolicySet, candidate: PolicySet | None, workers: int
) -> tuple[Replay, Replay | None]:
    """Both replays, the period split across `workers` processes (1: in this process)."""
    ordered = list(in_order(records))
    timeline = Timeline(ordered)
    if workers <= 1:
        return await replay_both(ordered, recorded, candidate, timeline)
    global _JOB  # noqa: PLW0603 - handed to the forked workers, see _JOB
    _JOB = _Job(shards(ordered, workers), recorded, candidate, timeline)
    try:
        loop = asyncio.get_running_loop()
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            results = await asyncio.gather(*(loop.run_in_executor(pool, _run_part, i) for i in range(workers)))
    finally:
        _JOB = None
    baseline = merge([b for b, _ in results])
    after = merge([a for _, a in results if a is not None]) if candidate else None
    return baseline, after
