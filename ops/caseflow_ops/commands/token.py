"""caseflowctl token: mint a short-lived token of the local issuer (the embedded stack's)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from caseflow_kit.auth import Role

from ..tokens import LocalIssuer, default_subject


def add(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser("token", help="mint a short-lived token of the local issuer (embedded stack)")
    parser.add_argument("--role", action="append", required=True, choices=[r.value for r in Role], help="Repeatable")
    parser.add_argument("--station", action="append", default=[], help="Station code the token covers (repeatable)")
    parser.add_argument("--subject", default=None, help="Who acts (an opaque id); default dev-<login>")
    parser.add_argument("--ttl", type=int, default=900, help="Seconds the token lives (default 15 minutes)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("CASEFLOW_DATA_DIR", "data")),
        help="Where the stack keeps its local issuer (<data dir>/auth)",
    )
    parser.set_defaults(run=run)


async def run(args: argparse.Namespace, out: TextIO) -> int:
    issuer = LocalIssuer.at(args.data_dir)
    if not issuer.private_key_file.exists():
        sys.stderr.write(f"caseflowctl: no local issuer under {args.data_dir}/auth: start the stack (make run) first\n")
        return 2
    try:
        token = issuer.mint(args.subject or default_subject(), args.role, args.station, ttl_s=args.ttl)
    except ValueError as exc:
        sys.stderr.write(f"caseflowctl: {exc}\n")
        return 2
    out.write(token + "\n")
    return 0
