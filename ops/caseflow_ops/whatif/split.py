"""A period split by case across processes: each process replays the stories of its cases (see `stories`), the
results are merged. Each process sees whole stories, on the timeline of the whole period.

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
from .stories import stories


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
        merged.stories_closed += part.stories_closed
        merged.peak_open_stories = max(merged.peak_open_stories, part.peak_open_stories)  # what one process held
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
