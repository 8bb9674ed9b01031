"""What the commands share: the broker from the services' settings, output, and argument checks."""

from __future__ import annotations

import argparse
import json
import ssl
from collections.abc import Callable
from typing import Any, TextIO

from pydantic import ValidationError

from caseflow_kit.settings import KitSettings

from ..catalog import SERVICES
from ..kafka import Cluster


class BadInput(Exception):
    """Input the command cannot work with (a setting, a file, an argument): one line, exit status 2."""


def settings() -> KitSettings:
    """The services' own settings (KAFKA_*, CASEFLOW_TOPIC_PREFIX), with a one-line answer when one is wrong."""
    try:
        return KitSettings()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "settings"
        raise BadInput(f"{where}: {first['msg']}") from None


def cluster(args: argparse.Namespace) -> Cluster:
    try:
        return Cluster.from_settings(settings(), bootstrap=args.bootstrap, prefix=args.topic_prefix)
    except (OSError, ssl.SSLError) as exc:  # the CA bundle or client certificate cannot be read
        raise BadInput(f"TLS files (KAFKA_SSL_CAFILE, KAFKA_SSL_CERTFILE, KAFKA_SSL_KEYFILE): {exc}") from None


def emit(out: TextIO, args: argparse.Namespace, data: Any, text: str) -> None:
    if args.json:
        out.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")
    elif text:
        out.write(text + ("" if text.endswith("\n") else "\n"))


def _number(kind: Callable[[str], Any], minimum: float, what: str) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not value >= minimum:  # also refuses NaN, which compares false with everything
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value

    return parse


positive_int = _number(int, 1, "a whole number of 1 or more")
positive_seconds = _number(float, 0.001, "a number of seconds above 0")
non_negative_int = _number(int, 0, "a whole number of 0 or more")


def service_url(text: str) -> tuple[str, str]:
    service, sep, url = text.partition("=")
    if not sep or service not in SERVICES:
        raise argparse.ArgumentTypeError(
            f"expected SERVICE=URL with SERVICE one of {', '.join(SERVICES)}, got {text!r}"
        )
    if not url.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"{service}'s URL must start with http:// or https://, got {url!r}")
    return service, url.rstrip("/")


def url_template(text: str) -> str:
    try:
        sample = text.format(service="intake", port=8081)
    except (KeyError, IndexError, ValueError) as exc:
        raise argparse.ArgumentTypeError(
            f"only {{service}} and {{port}} may be filled in, not {exc} in {text!r}"
        ) from None
    if not sample.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"must start with http:// or https://, got {text!r}")
    return text


def add_service_options(parser: argparse.ArgumentParser) -> None:
    """Where each service's HTTP edge is (status, doctor)."""
    parser.add_argument(
        "--url", action="append", default=[], type=service_url, metavar="SERVICE=URL", help="A service's base URL"
    )
    parser.add_argument(
        "--url-template",
        type=url_template,
        default="http://127.0.0.1:{port}",
        help="Base URL of each service not given by --url; {service} and {port} are filled in "
        "(in the cluster: http://caseflow-{service}:8080)",
    )
    parser.add_argument("--service", action="append", choices=sorted(SERVICES), help="Only these services")
    parser.add_argument("--timeout", type=positive_seconds, default=3.0, help="Seconds per HTTP request")


def service_urls(args: argparse.Namespace) -> dict[str, str]:
    given = dict(args.url)
    wanted = args.service or list(SERVICES)
    return {s: given.get(s) or args.url_template.format(service=s, port=SERVICES[s]).rstrip("/") for s in wanted}
