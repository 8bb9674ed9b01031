"""caseflowctl whatif: replay a period under the recorded policies (it must agree with the recording) and show
what candidate policies would have changed."""

from __future__ import annotations

import argparse
import contextlib
import gc
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console

from ..whatif import outcomes
from ..whatif.period import Recorded
from .common import BadInput, emit, positive_int
from .period import Period, add_period, read_period
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


def recorded_outcomes(records: list[Recorded]) -> list[tuple[float, outcomes.Outcome]]:
    from ..whatif import engine

    return outcomes.timed(
        (r.event.occurred_at.timestamp(), r.event) for r in records if r.event.producer in engine.REPLAYED
    )


async def answer_for(period: Period, args: argparse.Namespace) -> dict[str, Any]:
    """The whole answer, as `--json` prints it (the schema is in deploy/README.md, "What if")."""
    # The services' code is imported only by the command that runs it: every other command starts fast.
    from ..whatif import policies, summary
    from ..whatif.split import replay_split

    records = period.records
    try:
        kept = policies.kept_recorded(period.versions) + policies.kept_in(args.kept)
        recorded = policies.recorded(records, policies.in_force(), kept)
        given = {name: getattr(args, name) for name in CANDIDATES if getattr(args, name) is not None}
        candidate = policies.with_candidates(recorded, **given) if given else None
    except policies.PolicyError as exc:
        raise BadInput(str(exc)) from None
    started = time.perf_counter()
    baseline, after = await replay_split(records, recorded, candidate, args.workers)
    seconds = time.perf_counter() - started
    differences = outcomes.compare(
        recorded_outcomes(records), outcomes.timed((e.at, e.event) for e in baseline.emitted)
    )
    before_sum = summary.summarise(e.event for e in baseline.emitted)
    after_sum = summary.summarise(e.event for e in after.emitted) if after else None
    known = {(r.service, r.event.event_id) for r in baseline.refused}
    return {
        "faithful": not differences,
        "records": len(records),
        "replays": 2 if after else 1,
        "seconds": round(seconds, 3),
        "events_per_second": round(len(records) * (2 if after else 1) / seconds) if seconds else None,
        "memory": {"stories_closed": baseline.stories_closed, "peak_open_stories": baseline.peak_open_stories},
        "policies": {"baseline": recorded.versions(), "candidate": candidate.versions() if candidate else None},
        "differences": [
            {"case_id": d.case_id, "side": d.side, "first": d.outcome.text(), "count": d.count} for d in differences
        ],
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
    period = await read_period(args)
    with rare_collections():
        answer = await answer_for(period, args)
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
        verdict = (
            "faithful: 0 differences"
            if answer["faithful"]
            else f"NOT faithful: {len(answer['differences'])} cases differ"
        )
        console.print(
            f"{answer['records']} records replayed {answer['replays']}x in {answer['seconds']} s "
            f"({answer['events_per_second']} events/s); {verdict}"
        )
    return 0 if answer["faithful"] else 1
