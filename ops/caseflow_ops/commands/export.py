"""caseflowctl export: a period of the suite's topics as JSON lines, for `caseflowctl whatif FILE`."""

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
    records = await read_period(args)
    if args.out is None:
        count = write_lines(records, out)
    else:
        with args.out.open("w", encoding="utf-8") as file:
            count = write_lines(records, file)
    sys.stderr.write(f"exported {count} records\n")
    return 0
