"""caseflowctl dlq list | inspect | replay: what is parked on the dead-letter topics, why, and re-publishing it."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from .. import dlq
from .common import cluster, emit, positive_int


def add(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser("dlq", parents=[common], help="dead-letter topics")
    actions = parser.add_subparsers(dest="action", required=True)
    p = actions.add_parser("list", parents=[common], help="every dead-letter topic: parked, not replayed, why")
    p.set_defaults(run=run_list)
    p = actions.add_parser("inspect", parents=[common], help="the records on one dead-letter topic")
    p.add_argument("topic", help="e.g. cases.lifecycle (or cases.lifecycle.dlq)")
    p.add_argument("--limit", type=positive_int, default=None, help="Show at most this many")
    p.set_defaults(run=run_inspect)
    p = actions.add_parser("replay", parents=[common], help="re-publish dead letters to their original topic")
    p.add_argument("topic", help="e.g. cases.lifecycle (or cases.lifecycle.dlq)")
    p.add_argument("--limit", type=positive_int, default=None, help="Replay at most this many")
    p.add_argument("--dry-run", action="store_true", help="Show what would be replayed; publish nothing")
    p.set_defaults(run=run_replay)


def reasons_text(depth: dlq.Depth) -> str:
    text = ", ".join(f"{reason} {count}" for reason, count in depth.reasons.items())
    return text + ("" if depth.complete else ", ...")


async def run_list(args: argparse.Namespace, out: TextIO) -> int:
    found = await dlq.depths(cluster(args))
    lines = [f"{'dead-letter topic':<32} {'parked':>8} {'not replayed':>13}  why (not replayed)"]
    lines += [f"{d.dlq:<32} {d.parked:>8} {d.pending_replay:>13}  {reasons_text(d)}" for d in found]
    emit(out, args, [d.as_dict() for d in found], "\n".join(lines))
    return 0


async def run_inspect(args: argparse.Namespace, out: TextIO) -> int:
    letters = await dlq.inspect(cluster(args), args.topic, limit=args.limit)
    lines = []
    for letter in letters:
        d = letter.as_dict()
        event, original = d["event"], d["original"]
        what = f"{event['type']} {event['event_id']}" if event["parsed"] else f"unparsed {event['size']} bytes"
        origin = ":".join(
            str(original[k] if original[k] is not None else "?") for k in ("topic", "partition", "offset")
        )
        lines.append(
            f"{d['partition']}:{d['offset']}  {d['reason']:<20} {what}  from {origin}  by {d['consumer'] or '?'}"
            f"\n    {d['detail'] or '(no detail)'}"
        )
    summary = dlq.summarize(letters)
    lines.append(f"{len(letters)} dead letters: " + ", ".join(f"{k} {v}" for k, v in summary.items()))
    emit(out, args, {"summary": summary, "records": [x.as_dict() for x in letters]}, "\n".join(lines))
    return 0


async def run_replay(args: argparse.Namespace, out: TextIO) -> int:
    report = await dlq.replay(cluster(args), args.topic, limit=args.limit, dry_run=args.dry_run)
    verb = "would replay" if report.dry_run else "replayed"
    lines = [f"{verb} {len(report.replayed)} from {report.dlq}"]
    lines += [f"  not replayable {d.partition}:{d.offset}: {why}" for d, why in report.refused]
    lines.append("  cursor " + ", ".join(f"partition {p} at {o}" for p, o in sorted(report.cursor.items())))
    emit(out, args, report.as_dict(), "\n".join(lines))
    return 0
