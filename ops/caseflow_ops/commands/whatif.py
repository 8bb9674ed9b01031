"""caseflowctl whatif: replay a period under the recorded policies (it must agree with the recording) and show
what candidate policies would have changed."""

from __future__ import annotations

import argparse
import time
from typing import Any, TextIO

from ..whatif import outcomes
from ..whatif.period import Recorded
from .common import BadInput, emit
from .period import add_period, read_period


def add(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "whatif", parents=[common], help="replay a period under the recorded policies and candidate ones"
    )
    add_period(parser, from_file=True)
    parser.set_defaults(run=run)


def recorded_outcomes(records: list[Recorded]) -> list[tuple[float, outcomes.Outcome]]:
    from ..whatif import engine

    return outcomes.timed(
        (r.event.occurred_at.timestamp(), r.event) for r in records if r.event.producer in engine.REPLAYED
    )


async def run(args: argparse.Namespace, out: TextIO) -> int:
    # The services' code is imported only by the command that runs it: every other command starts fast.
    from ..whatif import engine, policies

    records = await read_period(args)
    try:
        recorded = policies.in_force()
        policies.check_recorded(recorded, records)
    except policies.PolicyError as exc:
        raise BadInput(str(exc)) from None
    started = time.perf_counter()
    baseline = await engine.replay(records, recorded)
    seconds = time.perf_counter() - started
    replayed = outcomes.timed((e.at, e.event) for e in baseline.emitted)
    differences = outcomes.compare(recorded_outcomes(records), replayed)
    data = {
        "faithful": not differences,
        "records": len(records),
        "seconds": round(seconds, 3),
        "differences": [
            {"case_id": d.case_id, "side": d.side, "first": d.outcome.text(), "count": d.count} for d in differences
        ],
    }
    lines = [f"replayed {len(records)} records in {seconds:.2f} s under the recorded policies"]
    lines += [d.text() for d in differences]
    lines.append("faithful: 0 differences" if not differences else f"NOT faithful: {len(differences)} cases differ")
    emit(out, args, data, "\n".join(lines))
    return 0 if not differences else 1
