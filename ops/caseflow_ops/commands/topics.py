"""caseflowctl topics: create the catalog's missing topics, for clusters without the Strimzi topic operator."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from caseflow_kit.topics import ensure_topics

from .common import cluster, emit, positive_int


def add(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser("topics", parents=[common], help="create the catalog's topics that are missing")
    parser.add_argument(
        "--max-partitions", type=positive_int, default=None, help="Cap partitions (a one-broker dev cluster)"
    )
    parser.set_defaults(run=run)


async def run(args: argparse.Namespace, out: TextIO) -> int:
    """Compose, a laptop: replication 1, the catalog's retention."""
    target = cluster(args)
    created = await ensure_topics(
        target.bootstrap, target.prefix, max_partitions=args.max_partitions, **dict(target.client)
    )
    emit(out, args, {"created": created}, "\n".join(f"created {name}" for name in created) or "nothing to create")
    return 0
