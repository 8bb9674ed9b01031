"""`make run`: the whole suite on the embedded defaults, a simulated day flowing through it, and a live view.

    python -m caseflow_dev.demo [--rate 20] [--speed 600] [--duration SECONDS] [--no-live]

Starts Tansu, the five services (SQLite under --data-dir), a local SMTP server
and HTTP receiver standing in for the e-mail, SMS and merchant webhook
endpoints, then the simulator. Time is compressed: at --speed 600 ten simulated
minutes pass each second, and the demo's SLA policies are the packaged ones
scaled by the same factor (a 2-hour callback target becomes 12 s), so
callbacks, late stations, breaches and escalations show within a minute.
Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import secrets
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.text import Text

from .live import Tally, follow, show
from .simulator import PLATFORMS, Stats, simulate
from .sinks import HttpSink, SmtpSink
from .stack import CURL_HINT, Stack, status_table, until_stopped

SERVICES_DIR = Path(__file__).resolve().parents[2] / "services"
SLA_POLICIES = SERVICES_DIR / "sla/caseflow_sla/data/policies.yaml"
NOTIFY_POLICY = SERVICES_DIR / "notify/caseflow_notify/data/policy.yaml"
console = Console()
_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def scaled_policies(speed: float) -> dict[str, Any]:
    """The packaged SLA policies with every target divided by `speed`, on wall-clock time."""
    policies: dict[str, Any] = yaml.safe_load(SLA_POLICIES.read_text(encoding="utf-8"))

    def scale(value: Any) -> Any:
        found = _DURATION.match(str(value))
        if not found:
            return value
        seconds = int(found[1]) * _UNIT[found[2]]
        return f"{max(1, round(seconds / speed))}s"

    for rule in policies.get("rules", []):
        rule["targets"] = {metric: scale(target) for metric, target in rule.get("targets", {}).items()}
    for metric in policies.get("metrics", {}).values():
        if isinstance(metric, dict) and "working_time" in metric:
            metric["working_time"] = False
    policies["station_calendars"] = {}
    policies["version"] = f"{policies.get('version', 'packaged')}-demo-x{speed:g}"
    return policies


def scaled_notify_policy(speed: float) -> dict[str, Any]:
    """The packaged notify policy on compressed time: no sending hours (a compressed day has no night, and
    a real night would hold every SMS of a demo or test run for hours). The wait for a case's contact
    stays as it is: it covers events overtaking each other, which compressing time does not speed up."""
    policy: dict[str, Any] = yaml.safe_load(NOTIFY_POLICY.read_text(encoding="utf-8"))
    policy["sending_hours"] = {}
    policy["version"] = f"{policy['version']}-demo-x{speed:g}"
    return policy


def demo_env(data_dir: Path, speed: float, smtp: SmtpSink, http: HttpSink) -> dict[str, str]:
    policies = data_dir / "demo-sla-policies.yaml"
    policies.write_text(yaml.safe_dump(scaled_policies(speed), allow_unicode=True), encoding="utf-8")
    notify_policy = data_dir / "demo-notify-policy.yaml"
    notify_policy.write_text(yaml.safe_dump(scaled_notify_policy(speed), allow_unicode=True), encoding="utf-8")
    hooks = {platform: f"{http.url}/webhooks/{i}" for i, platform in enumerate(PLATFORMS)}
    return {
        "CASEFLOW_POLICIES_FILE": str(policies.resolve()),
        "CASEFLOW_NOTIFY_POLICY_PATH": str(notify_policy.resolve()),
        "CASEFLOW_SMTP_HOST": "127.0.0.1",
        "CASEFLOW_SMTP_PORT": str(smtp.port),
        "CASEFLOW_SMS_GATEWAY_URL": f"{http.url}/sms",
        "CASEFLOW_WEBHOOK_TARGETS": json.dumps(hooks, ensure_ascii=False),
        # Every platform its own webhook secret: a shared one is refused at start-up.
        "CASEFLOW_WEBHOOK_SECRETS": json.dumps({platform: secrets.token_hex(16) for platform in PLATFORMS}),
        "CASEFLOW_SMS_GATEWAY_TOKEN": secrets.token_hex(16),
    }


def summary(tally: Tally, stats: Stats, smtp: SmtpSink, http: HttpSink) -> str:
    sms = http.by_path["/sms"]
    hooks = sum(n for path, n in http.by_path.items() if path.startswith("/webhooks/"))
    return (
        f"simulator sent: {stats.line()}\n"
        f"receivers got: {len(smtp.messages)} e-mails, {sms} SMS, {hooks} webhooks\n"
        "suite: "
        + ", ".join(f"{k} {v}" for k, v in sorted(tally.counts.items()))
        + f"; dead-lettered {sum(tally.dead.values())}\n"
        + "dead letters by reason: "
        + (", ".join(f"{k} {v}" for k, v in sorted(tally.dead.items())) or "none")
        + "\nbreaches by metric: "
        + ", ".join(f"{k} {v}" for k, v in sorted(tally.breaches.items()))
        + f"; QA points {sum(tally.qa_points.values())}; "
        + ", ".join(f"{k} {'–' if v is None else f'{v:.1%}'}" for k, v in tally.kpis().items())
    )


async def run(args: argparse.Namespace) -> int:
    args.data_dir.mkdir(parents=True, exist_ok=True)
    smtp = SmtpSink().start()
    http = await HttpSink().start()
    stack = Stack(args.data_dir, args.broker_port, args.http_base_port, demo_env(args.data_dir, args.speed, smtp, http))
    stats, tally, stop = Stats(), Tally(), asyncio.Event()
    try:
        if await until_stopped(stack.start()):
            return 0
        console.print(await status_table(stack.services))
        console.print(CURL_HINT)
        bootstrap = stack.broker.bootstrap
        simulator = asyncio.create_task(
            simulate(bootstrap, rate=args.rate, speed=args.speed, duration=args.duration or 10**9, stats=stats)
        )
        if args.live:
            viewer = asyncio.create_task(
                show(bootstrap, "", stop, tally, extra=lambda: Text(summary(tally, stats, smtp, http)))
            )
        else:
            viewer = asyncio.create_task(follow(bootstrap, "", tally, stop))
        interrupted = await until_stopped(simulator)
        if args.duration and not interrupted:
            await until_stopped(asyncio.sleep(args.settle))
        stop.set()
        await viewer
        console.print(summary(tally, stats, smtp, http))
        return 0
    finally:
        stop.set()
        stack.stop()
        await http.stop()
        smtp.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--broker-port", type=int, default=9092)
    parser.add_argument("--http-base-port", type=int, default=8081)
    parser.add_argument("--rate", type=float, default=20, help="upstream events per second")
    parser.add_argument("--speed", type=float, default=600, help="simulated seconds per real second")
    parser.add_argument("--duration", type=float, default=0, help="stop after this many seconds (0: until Ctrl-C)")
    parser.add_argument("--settle", type=float, default=20, help="with --duration: seconds to let the suite finish")
    parser.add_argument("--no-live", dest="live", action="store_false", help="no live view; print a summary at the end")
    raise SystemExit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
