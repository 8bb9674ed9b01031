"""A period split by case across processes: each process replays the stories of its cases (see `stories`), the
results are merged. Each process sees whole stories, on the timeline of the whole period.

What crosses cases is not split: routing's open-case count per station (its capacity rule) is counted per process.
While no station reaches its capacity that changes nothing; when one does, the replay under the recorded policies
disagrees with the recording and says so (not faithful): replay such a period in one process.
"""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
import zlib
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from .engine import Replay, Simulation, Timeline, replay_recorded
from .period import Recorded
from .policies import PolicySet
from .stories import stories

T = TypeVar("T")


def shard_of(story: str, count: int) -> int:
    return zlib.crc32(story.encode()) % count


def shards(records: Sequence[Recorded], count: int) -> list[list[Recorded]]:
    """The records in `count` parts, whole stories each, in the period's order."""
    story = stories(records)
    parts: list[list[Recorded]] = [[] for _ in range(count)]
    for r in records:
        parts[shard_of(story[r.event.key], count)].append(r)
    return parts


#: The period's records in its order, read afresh at each call (see period.PeriodFile.records).
Source = Callable[[], Iterable[Recorded]]


async def replay_both(
    source: Source, timeline: Timeline, recorded: PolicySet, candidate: PolicySet | None
) -> tuple[Replay, Replay | None]:
    """The replay under the recorded policies, and under the candidate in the handling order the first found;
    each reads the period once more."""
    baseline = await replay_recorded(source, recorded, timeline)
    after = await Simulation(source(), candidate, timeline, baseline.order).run() if candidate else None
    return baseline, after


@dataclass(frozen=True)
class _Job:
    source: Source
    timeline: Timeline
    workers: int
    recorded: PolicySet
    candidate: PolicySet | None

    def part(self, index: int) -> Iterator[Recorded]:
        story = self.timeline.story_of
        return (r for r in self.source() if shard_of(story[r.event.key], self.workers) == index)


#: The job a forked worker inherits (copy-on-write): the period's index is never pickled to the workers, and
#: each reads the records of its own stories from the period.
_JOB: _Job | None = None


def _run_part(index: int) -> tuple[Replay, Replay | None]:
    job = _JOB
    if job is None:
        raise RuntimeError("a replay worker started without its job")
    # Not `return asyncio.run(replay_both(...))`: on Python 3.11 asyncio.run formats the finished task's repr,
    # its result included, twice (python/cpython#112559), and a replay's result is every event it emitted (one
    # format of a 10,500-record replay's result: 0.1 s of CPU, a tenth of the replay).
    results: list[tuple[Replay, Replay | None]] = []
    part = functools.partial(job.part, index)
    asyncio.run(_into(results, replay_both(part, job.timeline, job.recorded, job.candidate)))
    return results[0]


async def _into(results: list[T], work: Awaitable[T]) -> None:
    results.append(await work)


def merge(replays: Sequence[Replay]) -> Replay:
    merged = Replay()
    for part in replays:
        merged.tally.merge(part.tally)
        merged.refused += part.refused
        merged.order.update(part.order)
        merged.inputs += part.inputs
        merged.handled += part.handled
        merged.learned += part.learned
        merged.passes = max(merged.passes, part.passes)
        merged.handler_seconds += part.handler_seconds  # summed over the processes, like their CPU time
        merged.stories_closed += part.stories_closed
        merged.peak_open_stories = max(merged.peak_open_stories, part.peak_open_stories)  # what one process held
        merged.peak_queued = max(merged.peak_queued, part.peak_queued)
    return merged


async def replay_split(
    source: Source, timeline: Timeline, recorded: PolicySet, candidate: PolicySet | None, workers: int
) -> tuple[Replay, Replay | None]:
    """Both replays, the period split across `workers` processes (1: in this process)."""
    if workers <= 1:
        return await replay_both(source, timeline, recorded, candidate)
    global _JOB  # noqa: PLW0603 - handed to the forked workers, see _JOB
    _JOB = _Job(source, timeline, workers, recorded, candidate)
    try:
        loop = asyncio.get_running_loop()
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            results = await asyncio.gather(*(loop.run_in_executor(pool, _run_part, i) for i in range(workers)))
    finally:
        _JOB = None
    baseline = merge([b for b, _ in results])
    after = merge([a for _, a in results if a is not None]) if candidate else None
    return baseline, after
