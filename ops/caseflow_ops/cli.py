"""caseflowctl: the operator CLI.

    caseflowctl status                       readiness and headline metrics of every service
    caseflowctl doctor                       the whole installation checked in one report (exit 1: a problem)
    caseflowctl lag                          consumer lag per group and topic
    caseflowctl breaches --from-beginning    the sla.breaches topic, one JSON event per line
    caseflowctl topics                       create the catalog's missing topics (no Strimzi: compose, laptops)
    caseflowctl dlq list                     every dead-letter topic: parked, not replayed, why
    caseflowctl dlq inspect cases.lifecycle  what is parked there, and why
    caseflowctl dlq replay cases.lifecycle   re-publish it to cases.lifecycle after a fix
    caseflowctl token --role claims.reviewer --station SH-PD-01
                                             a short-lived token of the embedded stack's local issuer
    caseflowctl export --since T --until T --out week.jsonl
                                             a period of the topics as JSON lines
    caseflowctl whatif week.jsonl --sla-policies new.yaml --report week.html
                                             replay a period under the recorded policies and candidate ones
    caseflowctl policies week.jsonl --kept DIR
                                             the rules versions a replay can find, and those the period needs

The broker comes from the same environment variables as the services
(KAFKA_BOOTSTRAP_SERVERS, KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*, KAFKA_SSL_*,
CASEFLOW_TOPIC_PREFIX); `--bootstrap` and `--topic-prefix` override them.
Bad input (an argument, a setting, a file) gets one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from typing import Any, NoReturn, TextIO

from aiokafka.errors import KafkaError

from .commands import MODULES
from .commands.common import BadInput
from .kafka import NoSuchTopic


class Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line (no usage dump): `caseflowctl lag: error: ...`."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _common(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    default: Any = argparse.SUPPRESS if suppress else None
    parser.add_argument("--bootstrap", default=default, help="Kafka bootstrap servers (else KAFKA_BOOTSTRAP_SERVERS)")
    parser.add_argument("--topic-prefix", default=default, help="Topic name prefix (else CASEFLOW_TOPIC_PREFIX)")
    parser.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS if suppress else False, help="Machine output"
    )


def build_parser() -> Parser:
    parser = Parser(
        prog="caseflowctl",
        description="Operate caseflow.",
        epilog=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(parser, suppress=False)
    parser.add_argument("-v", "--verbose", action="store_true", help="Log the Kafka and HTTP clients' messages")
    commands = parser.add_subparsers(dest="command", required=True)
    common = Parser(add_help=False)
    _common(common, suppress=True)
    for module in MODULES:
        module.add(commands, common)
    return parser


def quiet_libraries(*, verbose: bool) -> None:
    """The clients log their own errors (aiokafka: "Unable connect to ..."): by default they would reach
    stderr through logging's last-resort handler, beside the one line caseflowctl prints."""
    root = logging.getLogger()
    if verbose:
        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s", stream=sys.stderr)
    elif not root.handlers:
        root.addHandler(logging.NullHandler())


async def run(argv: Sequence[str], out: TextIO = sys.stdout) -> int:
    """Run one command; the exit status is returned (tests call this directly)."""
    args = build_parser().parse_args(list(argv))
    quiet_libraries(verbose=args.verbose)
    try:
        code: int = await args.run(args, out)
    except (BadInput, NoSuchTopic) as exc:
        sys.stderr.write(f"caseflowctl: {exc}\n")
        return 2
    except KafkaError as exc:
        sys.stderr.write(f"caseflowctl: Kafka: {exc}\n")
        return 2
    return code


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return asyncio.run(run(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt:
        return 130
