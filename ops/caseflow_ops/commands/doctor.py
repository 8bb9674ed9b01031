"""caseflowctl doctor: a running installation checked in one report; exit status 1 when something is wrong."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from .. import doctor
from .common import add_service_options, cluster, emit, non_negative_int, positive_int, service_urls


def add(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "doctor", parents=[common], help="topics, groups, lag, dead letters, readiness and outbox: one report"
    )
    add_service_options(parser)
    parser.add_argument("--max-lag", type=non_negative_int, default=1000, help="Lag that counts as a problem")
    parser.add_argument(
        "--max-backlog", type=non_negative_int, default=100, help="Unpublished outbox rows that count as a problem"
    )
    parser.add_argument(
        "--max-partitions", type=positive_int, default=None, help="The cap the topics were created with (dev)"
    )
    parser.set_defaults(run=run)


async def run(args: argparse.Namespace, out: TextIO) -> int:
    limits = doctor.Limits(args.max_lag, args.max_backlog, args.max_partitions)
    findings = await doctor.diagnose(cluster(args), service_urls(args), limits, timeout_s=args.timeout)
    problems = [f for f in findings if not f.ok]
    lines = [f"caseflow doctor: {len(problems)} problem{'' if len(problems) == 1 else 's'}"]
    lines += [f"{f.area:<13} {'ok' if f.ok else 'FAIL':<5} {f.subject}: {f.detail}" for f in findings]
    emit(out, args, {"ok": not problems, "findings": [f.as_dict() for f in findings]}, "\n".join(lines))
    return 1 if problems else 0
