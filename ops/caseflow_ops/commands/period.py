"""The period a command works on: an export file, or the topics between --since and --until."""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..whatif.period import (
    PeriodError,
    PeriodFile,
    Recorded,
    read_file,
    read_kafka,
    read_kafka_into,
    read_versions,
    split_versions,
)
from .common import BadInput, cluster


def moment(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time (e.g. 2026-05-01T08:00:00+08:00)") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no UTC offset (e.g. +08:00 or Z)")
    return value


def add_period(parser: argparse.ArgumentParser, *, from_file: bool) -> None:
    if from_file:
        parser.add_argument("file", nargs="?", default=None, help="A file written by `caseflowctl export` (else Kafka)")
    parser.add_argument("--since", type=moment, default=None, help="First broker time of the period (ISO 8601)")
    parser.add_argument("--until", type=moment, default=None, help="End of the period, excluded (ISO 8601)")


@dataclass(frozen=True)
class Period:
    """The records of a period, and the rules versions that came with them: an export's policies.versions lines,
    else the whole topic."""

    records: list[Recorded]
    versions: list[Recorded]


def _tell_skipped(skipped: Counter[str]) -> None:
    for why, count in sorted(skipped.items()):  # the services dead-lettered them: the replay cannot use them
        sys.stderr.write(f"skipped {count} records that are not events ({why})\n")


async def read_period(args: argparse.Namespace) -> Period:
    """The period's records; none at all is bad input (a wrong prefix, a wrong period)."""
    file = getattr(args, "file", None)
    try:
        if file is not None:
            records, versions = split_versions(read_file(Path(file)))
            where = file
        else:
            records, skipped = await read_kafka(cluster(args), args.since, args.until)
            versions, skipped_versions = await read_versions(cluster(args))
            where = "the topics in that period"
            _tell_skipped(skipped + skipped_versions)
    except PeriodError as exc:
        raise BadInput(str(exc)) from None
    if file is not None and (args.since or args.until):
        low = args.since.timestamp() if args.since else float("-inf")
        high = args.until.timestamp() if args.until else float("inf")
        records = [r for r in records if low <= r.timestamp < high]
    if not records:
        raise BadInput(f"no events in {where}")
    return Period(records, versions)


@contextlib.asynccontextmanager
async def streamed_period(args: argparse.Namespace) -> AsyncIterator[tuple[PeriodFile, str]]:
    """The period as a file the replay reads twice, and what to call it: the export file given, else the topics
    between --since and --until written to a temporary file (private to this user, deleted after) as they come.
    Nothing of it is held: see PeriodFile."""
    file = getattr(args, "file", None)
    if file is not None:
        low = args.since.timestamp() if args.since else float("-inf")
        high = args.until.timestamp() if args.until else float("inf")
        yield PeriodFile(Path(file), low, high), file
        return
    with tempfile.TemporaryDirectory(prefix="caseflow-whatif-") as folder:
        path = Path(folder) / "period.jsonl"
        with path.open("wb") as out:
            skipped = await read_kafka_into(lambda r: out.write(r.line()), cluster(args), args.since, args.until)
            versions, skipped_versions = await read_versions(cluster(args))
            out.writelines(r.line() for r in versions)
        _tell_skipped(skipped + skipped_versions)
        yield PeriodFile(path), "the topics in that period"
