"""caseflowctl export: a period of the suite's topics as JSON lines, for `caseflowctl whatif FILE`, with the
rules versions on policies.versions that decided it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

from ..whatif.period import write_lines
from .period import add_period, read_period


def add(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser("export", parents=[common], help="write a period of the topics as JSON lines")
    add_period(parser, from_file=False)
    parser.add_argument("--out", type=Path, default=None, help="The file to write (else standard output)")
    parser.set_defaults(run=run)


async def run(args: argparse.Namespace, out: TextIO) -> int:
    from ..whatif.policies import versions_needed

    period = await read_period(args)
    versions, missing = versions_needed(period.records, period.versions)
    for kind, version in missing:
        sys.stderr.write(f"{kind} version {version!r} decided the period but is not on policies.versions\n")
    if args.out is None:
        count = write_lines([*period.records, *versions], out)
    else:
        with args.out.open("w", encoding="utf-8") as file:
            count = write_lines([*period.records, *versions], file)
    sys.stderr.write(f"exported {count} records ({len(versions)} rules versions)\n")
    return 0
