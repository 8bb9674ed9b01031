"""caseflowctl: the operator CLI.

    caseflowctl status                       readiness and headline metrics of every service
    caseflowctl lag                          consumer lag per group and topic
    caseflowctl breaches --from-beginning    the sla.breaches topic, one JSON event per line
    caseflowctl topics                       create the catalog's missing topics (no Strimzi: compose, laptops)
    caseflowctl dlq list                     every dead-letter topic: parked, replayed, pending
    caseflowctl dlq inspect cases.lifecycle  what is parked there, and why
    caseflowctl dlq replay cases.lifecycle   re-publish it to cases.lifecycle after a fix
    caseflowctl token --role claims.reviewer --station SH-PD-01
                                             a short-lived token of the embedded stack's local issuer

The broker comes from the same environment variables as the services
(KAFKA_BOOTSTRAP_SERVERS, KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*, KAFKA_SSL_*,
CASEFLOW_TOPIC_PREFIX); `--bootstrap` and `--topic-prefix` override them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from aiokafka.errors import KafkaError

from caseflow_contracts import TOPICS, Topic
from caseflow_kit.settings import KitSettings
from caseflow_kit.topics import ensure_topics

from . import breaches, dlq, lag, status, tokens_cli
from .catalog import SERVICES, default_groups, group_of, inputs_of
from .kafka import Cluster, NoSuchTopic, partitions_of


def _common(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    default: Any = argparse.SUPPRESS if suppress else None
    parser.add_argument("--bootstrap", default=default, help="Kafka bootstrap servers (else KAFKA_BOOTSTRAP_SERVERS)")
    parser.add_argument("--topic-prefix", default=default, help="Topic name prefix (else CASEFLOW_TOPIC_PREFIX)")
    parser.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS if suppress else False, help="Machine output"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="caseflowctl",
        description="Operate caseflow.",
        epilog=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    _common(common, suppress=True)

    p = commands.add_parser("status", parents=[common], help="readiness and metrics of every service")
    p.add_argument("--url", action="append", default=[], metavar="SERVICE=URL", help="A service's base URL")
    p.add_argument(
        "--url-template",
        default="http://127.0.0.1:{port}",
        help="Base URL of each service not given by --url; {service} and {port} are filled in "
        "(in the cluster: http://caseflow-{service}:8080)",
    )
    p.add_argument("--service", action="append", choices=sorted(SERVICES), help="Only these services")
    p.add_argument("--timeout", type=float, default=3.0, help="Seconds per HTTP request")

    p = commands.add_parser("lag", parents=[common], help="consumer lag per group and topic")
    p.add_argument("--group", action="append", default=[], help="A consumer group (default: every service's)")
    p.add_argument("--service", action="append", choices=sorted(SERVICES), help="Only these services' groups")
    p.add_argument("--partitions", action="store_true", help="Show every partition")

    p = commands.add_parser("breaches", parents=[common], help="tail sla.breaches (one JSON event per line)")
    p.add_argument("--from-beginning", action="store_true", help="Start at the oldest retained breach")
    p.add_argument("--count", type=int, default=None, help="Stop after this many")
    p.add_argument("--timeout", type=float, default=None, help="Stop after this many seconds without a breach")

    p = commands.add_parser("topics", parents=[common], help="create the catalog's topics that are missing")
    p.add_argument("--max-partitions", type=int, default=None, help="Cap partitions (a one-broker dev cluster)")

    p = commands.add_parser("dlq", parents=[common], help="dead-letter topics")
    actions = p.add_subparsers(dest="action", required=True)
    actions.add_parser("list", parents=[common], help="every dead-letter topic: parked, replayed, pending")
    q = actions.add_parser("inspect", parents=[common], help="the records on one dead-letter topic")
    q.add_argument("topic", help="e.g. cases.lifecycle (or cases.lifecycle.dlq)")
    q.add_argument("--limit", type=int, default=None)
    q = actions.add_parser("replay", parents=[common], help="re-publish dead letters to their original topic")
    q.add_argument("topic", help="e.g. cases.lifecycle (or cases.lifecycle.dlq)")
    q.add_argument("--limit", type=int, default=None, help="Replay at most this many")
    q.add_argument("--dry-run", action="store_true", help="Show what would be replayed; publish nothing")
    tokens_cli.add_parser(commands)
    return parser


def _cluster(args: argparse.Namespace) -> Cluster:
    return Cluster.from_settings(KitSettings(), bootstrap=args.bootstrap, prefix=args.topic_prefix)


def _emit(out: TextIO, args: argparse.Namespace, data: Any, text: str) -> None:
    if args.json:
        out.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")
    elif text:
        out.write(text + ("" if text.endswith("\n") else "\n"))


async def _status(args: argparse.Namespace, out: TextIO) -> int:
    given = dict(item.split("=", 1) for item in args.url)
    wanted = args.service or list(SERVICES)
    urls = {s: given.get(s) or args.url_template.format(service=s, port=SERVICES[s]) for s in wanted if s in SERVICES}
    found = await status.suite_status(urls, timeout_s=args.timeout)
    lines = [f"{'service':<8} {'ready':<6} {'handled':>9} {'dead':>6} {'backlog':>8}  detail"]
    for s in found:
        m = s.metrics
        detail = s.error or ", ".join(f"{k}={'ok' if v else 'FAIL'}" for k, v in s.checks.items())
        lines.append(
            f"{s.service:<8} {'yes' if s.ready else 'NO':<6} {s.outcomes.get('handled', 0):>9.0f} "
            f"{m.get('caseflow_dead_letters_total', 0):>6.0f} {m.get('caseflow_outbox_backlog', 0):>8.0f}  {detail}"
        )
        lines += [f"         dead letters {k}: {v:.0f}" for k, v in sorted(s.dead_letters.items()) if v]
    _emit(out, args, [s.as_dict() for s in found], "\n".join(lines))
    return 0 if all(s.ready for s in found) else 1


async def _lag(args: argparse.Namespace, out: TextIO) -> int:
    groups: dict[str, list[Topic]] = {}
    if args.group:
        groups = {g: [] for g in args.group}
    elif args.service:
        groups = {group_of(s): inputs_of(s) for s in args.service}
    else:
        groups = default_groups()
    rows = await lag.consumer_lag(_cluster(args), groups)
    lines = [f"{'group':<24} {'topic':<28} {'lag':>8}"]
    for row in rows:
        lines.append(f"{row.group:<24} {row.topic:<28} {row.lag:>8}{'' if row.committed else '  (no commit yet)'}")
        if args.partitions:
            lines += [
                f"{'':<24}   partition {p.partition:<3} committed {p.committed if p.committed is not None else '-':>8}"
                f" end {p.end:>8} lag {p.lag:>8}"
                for p in row.partitions
            ]
    _emit(out, args, [row.as_dict() for row in rows], "\n".join(lines))
    return 0


async def _breaches(args: argparse.Namespace, out: TextIO) -> int:
    async for view in breaches.tail(
        _cluster(args), from_beginning=args.from_beginning, count=args.count, idle_timeout_s=args.timeout
    ):
        out.write(json.dumps(view if args.json else view["event"], ensure_ascii=False) + "\n")
        out.flush()
    return 0


async def _dlq_list(args: argparse.Namespace, out: TextIO) -> int:
    cluster = _cluster(args)
    rows: list[dict[str, Any]] = []
    async with cluster.consumer() as consumer, cluster.admin() as admin:
        for topic in TOPICS:
            name = cluster.name(topic.dlq)
            parts = await partitions_of(consumer, name)
            if not parts:
                continue
            starts = await consumer.beginning_offsets(parts)
            ends = await consumer.end_offsets(parts)
            cursor = await admin.list_consumer_group_offsets(dlq.REPLAY_GROUP, partitions=parts)
            replayed_to = {
                tp: max(cursor[tp].offset, starts[tp]) if tp in cursor and cursor[tp].offset >= 0 else starts[tp]
                for tp in parts
            }
            rows.append(
                {
                    "dlq": topic.dlq,
                    "parked": sum(ends[tp] - starts[tp] for tp in parts),
                    "pending_replay": sum(ends[tp] - replayed_to[tp] for tp in parts),
                }
            )
    lines = [f"{'dead-letter topic':<32} {'parked':>8} {'not replayed':>13}"]
    lines += [f"{r['dlq']:<32} {r['parked']:>8} {r['pending_replay']:>13}" for r in rows]
    _emit(out, args, rows, "\n".join(lines))
    return 0


async def _dlq_inspect(args: argparse.Namespace, out: TextIO) -> int:
    letters = await dlq.inspect(_cluster(args), args.topic, limit=args.limit)
    lines = []
    for letter in letters:
        d = letter.as_dict()
        event = d["event"]
        what = f"{event['type']} {event['event_id']}" if event["parsed"] else f"unparsed {event['size']} bytes"
        lines.append(
            f"{d['partition']}:{d['offset']}  {d['reason']:<20} {what}  from {d['original']['topic']}"
            f":{d['original']['partition']}:{d['original']['offset']}  by {d['consumer']}\n    {d['detail']}"
        )
    summary = dlq.summarize(letters)
    lines.append(f"{len(letters)} dead letters: " + ", ".join(f"{k} {v}" for k, v in summary.items()))
    _emit(out, args, {"summary": summary, "records": [x.as_dict() for x in letters]}, "\n".join(lines))
    return 0


async def _dlq_replay(args: argparse.Namespace, out: TextIO) -> int:
    report = await dlq.replay(_cluster(args), args.topic, limit=args.limit, dry_run=args.dry_run)
    verb = "would replay" if report.dry_run else "replayed"
    lines = [f"{verb} {len(report.replayed)} from {report.dlq}"]
    lines += [f"  not replayable {d.partition}:{d.offset}: {why}" for d, why in report.refused]
    lines.append("  cursor " + ", ".join(f"partition {p} at {o}" for p, o in sorted(report.cursor.items())))
    _emit(out, args, report.as_dict(), "\n".join(lines))
    return 0


async def _topics(args: argparse.Namespace, out: TextIO) -> int:
    """For clusters without the Strimzi topic operator (compose, a laptop): replication 1, catalog retention."""
    cluster = _cluster(args)
    created = await ensure_topics(
        cluster.bootstrap, cluster.prefix, max_partitions=args.max_partitions, **dict(cluster.client)
    )
    _emit(out, args, {"created": created}, "\n".join(f"created {name}" for name in created) or "nothing to create")
    return 0


COMMANDS = {
    ("topics", None): _topics,
    ("status", None): _status,
    ("lag", None): _lag,
    ("breaches", None): _breaches,
    ("dlq", "list"): _dlq_list,
    ("dlq", "inspect"): _dlq_inspect,
    ("dlq", "replay"): _dlq_replay,
    ("token", None): tokens_cli.run,
}


async def run(argv: Sequence[str], out: TextIO = sys.stdout) -> int:
    """Run one command; the exit status is returned (tests call this directly)."""
    args = build_parser().parse_args(list(argv))
    command = COMMANDS[(args.command, getattr(args, "action", None))]
    try:
        return await command(args, out)
    except NoSuchTopic as exc:
        sys.stderr.write(f"caseflowctl: {exc}\n")
        return 2
    except KafkaError as exc:
        sys.stderr.write(f"caseflowctl: Kafka: {exc}\n")
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return asyncio.run(run(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt:
        return 130
