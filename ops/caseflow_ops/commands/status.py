"""caseflowctl status: /readyz checks and headline metrics of every service."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from .. import status
from .common import add_service_options, emit, service_urls


def add(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser("status", parents=[common], help="readiness and metrics of every service")
    add_service_options(parser)
    parser.set_defaults(run=run)


async def run(args: argparse.Namespace, out: TextIO) -> int:
    found = await status.suite_status(service_urls(args), timeout_s=args.timeout)
    lines = [f"{'service':<8} {'ready':<6} {'handled':>9} {'dead':>6} {'backlog':>8}  detail"]
    for s in found:
        m = s.metrics
        detail = s.error or ", ".join(f"{k}={'ok' if v else 'FAIL'}" for k, v in s.checks.items())
        dead = sum(s.dead_letters.values())
        lines.append(
            f"{s.service:<8} {'yes' if s.ready else 'NO':<6} {s.outcomes.get('handled', 0):>9.0f} "
            f"{dead:>6.0f} {m.get('caseflow_outbox_backlog', 0):>8.0f}  {detail}"
        )
        lines += [f"         dead letters {k}: {v:.0f}" for k, v in sorted(s.dead_letters.items()) if v]
    emit(out, args, [s.as_dict() for s in found], "\n".join(lines))
    return 0 if all(s.ready for s in found) else 1
