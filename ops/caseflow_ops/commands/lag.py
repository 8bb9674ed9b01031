"""caseflowctl lag: committed offset against end offset per group, topic and partition."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from .. import lag
from ..catalog import SERVICES, default_groups, group_of, topics_of_group
from .common import cluster, emit


def add(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser("lag", parents=[common], help="consumer lag per group and topic")
    parser.add_argument(
        "--group",
        action="append",
        default=[],
        help="A consumer group (default: every service's; caseflow-dlq-replay reads the dead-letter topics)",
    )
    parser.add_argument("--service", action="append", choices=sorted(SERVICES), help="Only these services' groups")
    parser.add_argument("--partitions", action="store_true", help="Show every partition")
    parser.set_defaults(run=run)


async def run(args: argparse.Namespace, out: TextIO) -> int:
    if args.group:
        groups = {g: topics_of_group(g) for g in args.group}
    elif args.service:
        groups = {group_of(s): topics_of_group(group_of(s)) for s in args.service}
    else:
        groups = default_groups()
    rows = await lag.consumer_lag(cluster(args), groups)
    lines = [f"{'group':<24} {'topic':<28} {'lag':>8}"]
    for row in rows:
        lines.append(f"{row.group:<24} {row.topic:<28} {row.lag:>8}{'' if row.committed else '  (no commit yet)'}")
        if args.partitions:
            lines += [
                f"{'':<24}   partition {p.partition:<3} committed {p.committed if p.committed is not None else '-':>8}"
                f" end {p.end:>8} lag {p.lag:>8}"
                for p in row.partitions
            ]
    emit(out, args, [row.as_dict() for row in rows], "\n".join(lines))
    return 0
