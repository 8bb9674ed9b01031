"""caseflowctl whatif: replay a period under the recorded policies (it must agree with the recording) and show
what candidate policies would have changed."""

from __future__ import annotations

import argparse
import contextlib
import gc
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console

from ..whatif import outcomes
from ..whatif.period import PeriodError, PeriodFile, Recorded
from .common import BadInput, emit, positive_int
from .period import add_period, streamed_period
from .policies import add_kept

CANDIDATES = ("sla_policies", "compensation_rules", "calendars", "directory")


def add(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "whatif", parents=[common], help="replay a period under the recorded policies and candidate ones"
    )
    add_period(parser, from_file=True)
    parser.add_argument("--sla-policies", type=Path, help="Candidate SLA policies (YAML, sla's format)")
    parser.add_argument("--compensation-rules", type=Path, help="Candidate compensation rules (YAML, claims' format)")
    parser.add_argument(
        "--calendars", type=Path, help="Candidate calendars (calendars, assignments, default) for the SLA policies"
    )
    parser.add_argument("--directory", type=Path, help="Candidate station directory (YAML, routing's format)")
    parser.add_argument("--report", type=Path, help="Also write one self-contained HTML page here")
    parser.add_argument(
        "--workers", type=positive_int, default=1, help="Processes to split the period across, by case (default 1)"
    )
    add_kept(parser)
    parser.set_defaults(run=run)


def recorded_outcomes(records: Iterable[Recorded]) -> list[tuple[float, outcomes.Outcome]]:
    from ..whatif import engine

    return outcomes.timed(
        (r.event.occurred_at.timestamp(), r.event) for r in records if r.event.producer in engine.REPLAYED
    )


@dataclass
class FirstPass:
    """What the first read of the period keeps: the replay's timeline, the recorded outcomes, the rules versions
    the events name."""

    timeline: Any  # engine.Timeline (the services' code is imported only by the command that runs it)
    outcomes: list[tuple[float, outcomes.Outcome]] = field(default_factory=list)
    versions: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))


def first_pass(period: PeriodFile, where: str) -> FirstPass:
    from ..whatif import engine, policies

    found = FirstPass(None)

    def noted() -> Iterator[Recorded]:
        for record in period.scan(again=engine.is_input):
            policies.note_version(found.versions, record)
            found.outcomes += recorded_outcomes((record,))
            yield record

    try:
        found.timeline = engine.Timeline(noted())
    except PeriodError as exc:
        raise BadInput(str(exc)) from None
    if not period.count:
        raise BadInput(f"no events in {where}")
    return found


async def answer_for(period: PeriodFile, where: str, args: argparse.Namespace) -> dict[str, Any]:
    """The whole answer, as `--json` prints it (the schema is in deploy/README.md, "What if")."""
    # The services' code is imported only by the command that runs it: every other command starts fast.
    from ..whatif import policies, summary
    from ..whatif.split import replay_split

    index = first_pass(period, where)
    try:
        kept = policies.kept_recorded(period.versions) + policies.kept_in(args.kept)
        recorded = policies.recorded_from(index.versions, policies.in_force(), kept)
        given = {name: getattr(args, name) for name in CANDIDATES if getattr(args, name) is not None}
        candidate = policies.with_candidates(recorded, **given) if given else None
    except policies.PolicyError as exc:
        raise BadInput(str(exc)) from None
    started = time.perf_counter()
    try:
        baseline, after = await replay_split(period.records, index.timeline, recorded, candidate, args.workers)
    except PeriodError as exc:  # the file changed under the replay
        raise BadInput(str(exc)) from None
    seconds = time.perf_counter() - started
    records = period.count
    replays = baseline.passes + (1 if after else 0)
    replayed, unsettled = outcomes.beyond_the_end(index.outcomes, baseline.tally.outcomes, index.timeline.end)
    differences = outcomes.compare(index.outcomes, replayed)
    before_sum = baseline.tally.finished()
    after_sum = after.tally.finished() if after else None
    known = {(r.service, r.event.event_id) for r in baseline.refused}
    return {
        "faithful": not differences,
        "records": records,
        "replays": replays,
        "learning": {"passes": baseline.passes, "times_learned": baseline.learned},
        "seconds": round(seconds, 3),
        "events_per_second": round(records * replays / seconds) if seconds else None,
        "seconds_in_handlers": round(baseline.handler_seconds + (after.handler_seconds if after else 0.0), 3),
        "memory": {
            "stories_closed": baseline.stories_closed,
            "peak_open_stories": baseline.peak_open_stories,
            "peak_queued": baseline.peak_queued,
        },
        "policies": {"baseline": recorded.versions(), "candidate": candidate.versions() if candidate else None},
        "differences": [
            {"case_id": d.case_id, "side": d.side, "first": d.outcome.text(), "count": d.count} for d in differences
        ],
        "beyond_the_end": [{"case_id": o.case_id, "outcome": o.text(), "at": at} for at, o in unsettled],
        "baseline": before_sum.to_json(),
        "candidate": after_sum.to_json() if after_sum else None,
        "changed_cases": summary.changed_cases(before_sum, after_sum) if after_sum else [],
        "impossible_actions": [
            {
                "case_id": getattr(r.event.payload, "case_id", r.event.key),
                "event_type": r.event.type,
                "reason": r.reason,
            }
            for r in (after.refused if after else [])
            if (r.service, r.event.event_id) not in known
        ],
    }


@contextlib.contextmanager
def rare_collections() -> Iterator[None]:
    """A replay allocates like a service under load and makes few cycles: collecting young objects every 50,000
    allocations instead of 700 saves ~15 % of its time (the services do the same: caseflow_kit.runtime.tune_gc)."""
    before = gc.get_threshold()
    gc.set_threshold(50_000, before[1], before[2])
    try:
        yield
    finally:
        gc.set_threshold(*before)


async def run(args: argparse.Namespace, out: TextIO) -> int:
    async with streamed_period(args) as (period, where):
        with rare_collections():
            answer = await answer_for(period, where, args)
    if args.report is not None:
        from ..whatif.report import page

        try:
            args.report.write_text(page(answer), encoding="utf-8")
        except OSError as exc:
            raise BadInput(f"--report {args.report}: {exc.strerror or exc}") from None
    if args.json:
        emit(out, args, answer, "")
    else:
        from ..whatif.report import print_tables

        console = Console(file=out, width=140)
        print_tables(answer, console)
        for d in answer["differences"]:
            console.print(
                f"[red]differs[/red] {d['case_id']}: {d['first']} (only {d['side']}; {d['count']} in the case)"
            )
        if answer["beyond_the_end"]:
            console.print(
                f"{len(answer['beyond_the_end'])} outcome(s) the replay decided within the live timer's lag of the "
                "recording's end, which the recording does not have yet: not differences (see --json beyond_the_end)"
            )
        verdict = (
            "faithful: 0 differences"
            if answer["faithful"]
            else f"NOT faithful: {len(answer['differences'])} cases differ"
        )
        learning = answer["learning"]
        learned = (
            f", {learning['times_learned']} handling or timer times learned from the recording"
            if learning["times_learned"]
            else ""
        )
        console.print(
            f"{answer['records']} records replayed {answer['replays']}x{learned} in {answer['seconds']} s "
            f"({answer['events_per_second']} events/s, {answer['seconds_in_handlers']} s of it in the services' "
            f"handlers); {verdict}"
        )
    return 0 if answer["faithful"] else 1
