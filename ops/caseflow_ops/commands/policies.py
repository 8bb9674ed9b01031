"""caseflowctl policies: the versions of the rules files a replay can find (in force, kept on policies.versions,
kept in a folder), and, given a period, the versions that decided it and whether each is found.

Given an export file, the versions it carries stand for the topic; without one, the topic is read."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TextIO

from .common import BadInput, cluster, emit


def add_kept(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kept", type=Path, default=None, help="A folder of earlier rules files (any kind), found by their version"
    )


def add(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser("policies", parents=[common], help="the rules versions a replay can find")
    parser.add_argument(
        "period", nargs="?", type=Path, help="An export file: which versions decided it (else: policies.versions)"
    )
    add_kept(parser)
    parser.set_defaults(run=run)


async def run(args: argparse.Namespace, out: TextIO) -> int:
    from ..whatif import policies
    from ..whatif.period import PeriodError, read_file, read_versions, split_versions

    try:
        in_force = policies.in_force()
        if args.period:
            records, versions = split_versions(read_file(args.period))
        else:
            records, (versions, _) = [], await read_versions(cluster(args))
        kept = policies.kept_recorded(versions) + policies.kept_in(args.kept)
        needed = policies.recorded_versions(records)
    except (policies.PolicyError, PeriodError) as exc:
        raise BadInput(str(exc)) from None
    rows = [
        {"kind": k, "version": v, "source": in_force.sources[k], "in_force": True}
        for k, v in in_force.versions().items()
    ]
    rows += [{"kind": k.kind, "version": k.version, "source": k.source, "in_force": False} for k in kept]
    for row in rows:
        row["decided_period"] = row["version"] in needed.get(str(row["kind"]), set())
    missing = [
        {"kind": kind, "version": version}
        for kind, versions in sorted(needed.items())
        for version in sorted(versions)
        if not any(r["kind"] == kind and r["version"] == version for r in rows)
    ]
    lines = [
        f"{r['kind']:20} {r['version']:32} {'in force' if r['in_force'] else 'kept':8} {r['source']}" for r in rows
    ]
    lines += [f"{m['kind']:20} {m['version']:32} MISSING  decided the period, kept nowhere" for m in missing]
    emit(out, args, {"versions": rows, "missing": missing}, "\n".join(lines))
    return 1 if missing else 0
