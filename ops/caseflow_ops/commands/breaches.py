"""caseflowctl breaches: tail sla.breaches, one JSON event per line."""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

from .. import breaches
from .common import cluster, positive_int, positive_seconds


def add(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser("breaches", parents=[common], help="tail sla.breaches (one JSON event per line)")
    parser.add_argument("--from-beginning", action="store_true", help="Start at the oldest retained breach")
    parser.add_argument("--count", type=positive_int, default=None, help="Stop after this many")
    parser.add_argument(
        "--timeout", type=positive_seconds, default=None, help="Stop after this many seconds without a breach"
    )
    parser.set_defaults(run=run)


async def run(args: argparse.Namespace, out: TextIO) -> int:
    async for view in breaches.tail(
        cluster(args), from_beginning=args.from_beginning, count=args.count, idle_timeout_s=args.timeout
    ):
        out.write(json.dumps(view if args.json else view["event"], ensure_ascii=False) + "\n")
        out.flush()
    return 0
