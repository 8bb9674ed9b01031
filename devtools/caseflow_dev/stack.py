"""The embedded stack: Tansu on loopback, the catalog's topics, the five services as processes.

    python -m caseflow_dev.stack [--data-dir data] [--broker-port 9092]

The services trust a local token issuer whose key pair the stack makes under
<data dir>/auth/ (`caseflowctl token --role ...` mints a short-lived token with it).
Ctrl-C stops the services gracefully, then the broker. Service data (SQLite)
stays in the data folder and is reused by the next start; Tansu keeps topics in
memory, so the broker starts empty each time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
from collections.abc import Awaitable
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from caseflow_kit.topics import ensure_topics
from caseflow_ops.tokens import LocalIssuer

from .broker import EmbeddedBroker
from .harness import ServiceProcess, fresh_keys

SERVICES = ("intake", "routing", "sla", "claims", "notify")
CURL_HINT = (
    "endpoints need a bearer token of the local issuer, e.g.\n"
    "  TOKEN=$(.venv/bin/caseflowctl token --role claims.reviewer)\n"
    '  curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8084/claims'
)
console = Console()
DEV_KEY_FILES = {"CASEFLOW_PII_KEY": "dev-pii.key", "CASEFLOW_PSEUDONYM_KEY": "dev-pseudonym.key"}


def dev_keys(data_dir: Path) -> dict[str, str]:
    """Local keys for the embedded stack only, kept in the data folder so that a restart reads its own data;
    production takes them from Secrets. A key given in the environment wins."""
    keys = {}
    for name, generated in fresh_keys().items():
        if given := os.environ.get(name):
            keys[name] = given
            continue
        path = data_dir / DEV_KEY_FILES[name]
        if not path.exists():
            path.write_text(generated)
            path.chmod(0o600)
        keys[name] = path.read_text().strip()
    return keys


async def status_table(services: list[ServiceProcess]) -> Table:
    table = Table(title="caseflow services")
    for column in ("service", "url", "ready", "consumed", "dead letters"):
        table.add_column(column)
    async with httpx.AsyncClient(timeout=2) as client:
        for svc in services:
            try:
                ready = (await client.get(f"{svc.url}/readyz")).status_code == 200
                metrics = (await client.get(f"{svc.url}/metrics")).text
            except httpx.HTTPError:
                ready, metrics = False, ""
            table.add_row(
                svc.name,
                svc.url,
                "yes" if ready else "no",
                _sum(metrics, "caseflow_events_handled_total"),
                _sum(metrics, "caseflow_dead_letters_total"),
            )
    return table


def _sum(metrics: str, name: str) -> str:
    total = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines() if line.startswith(name + "{"))
    return str(int(total))


class Stack:
    """The broker and the five services as child processes, sharing one data folder."""

    def __init__(self, data_dir: Path, broker_port: int, http_base_port: int, extra_env: dict[str, str] | None = None):
        self.data_dir = data_dir
        self.logs = data_dir / "logs"
        self.broker = EmbeddedBroker(broker_port, log_file=self.logs / "tansu.log")
        self.http_base_port = http_base_port
        self.extra_env = extra_env or {}
        self.services: list[ServiceProcess] = []

    async def start(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.broker.start()
        console.print(f"[bold]tansu[/] listening on {self.broker.bootstrap} (in-memory topics)")
        created = await ensure_topics(self.broker.bootstrap)
        console.print(f"created {len(created)} topics from the catalog")
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": self.broker.bootstrap,
            "CASEFLOW_DATA_DIR": str(self.data_dir.resolve()),
            **dev_keys(self.data_dir),
            "CASEFLOW_LOG_FORMAT": "json",
            # Production sets CASEFLOW_AUTH_ISSUER / CASEFLOW_AUTH_JWKS_URL to its OIDC provider.
            **LocalIssuer.ensure(self.data_dir).env(),
            **self.extra_env,
        }
        for offset, name in enumerate(SERVICES):
            log_file = self.logs / f"{name}.log"
            self.services.append(
                ServiceProcess(name, env, http_port=self.http_base_port + offset, log_file=log_file).start()
            )
        await asyncio.gather(*(s.ready(90) for s in self.services))

    def crashed(self) -> list[ServiceProcess]:
        return [s for s in self.services if s.process is not None and s.process.poll() is not None]

    def stop(self) -> None:
        console.print("stopping services…")
        for svc in self.services:
            svc.terminate()
        self.broker.stop()
        console.print("stopped")


async def until_stopped(work: Awaitable[object]) -> bool:
    """Run `work` until it ends or SIGINT / SIGTERM / SIGHUP arrives; True when a signal stopped it."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # SIGHUP too: closing the terminal must not orphan the services.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    stopper.cancel()
    if task.done() and not task.cancelled() and task.exception() is not None:
        raise task.exception()  # type: ignore[misc]
    return stop.is_set()


async def watch(stack: Stack) -> None:
    while not (crashed := stack.crashed()):  # noqa: ASYNC110 - child processes have no event to await
        await asyncio.sleep(1)
    for svc in crashed:
        console.print(f"[red]{svc.name} exited with {svc.process.returncode if svc.process else '?'}[/]; see its log")


async def run(data_dir: Path, broker_port: int, http_base_port: int, once: bool) -> int:
    stack = Stack(data_dir, broker_port, http_base_port)
    try:
        if await until_stopped(stack.start()):
            return 0
        console.print(await status_table(stack.services))
        console.print(f"logs in {stack.logs}", soft_wrap=True)
        console.print("all five services are ready; Ctrl-C stops everything")
        console.print(CURL_HINT)
        if once:
            return 0
        return 0 if await until_stopped(watch(stack)) else 1
    finally:
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--broker-port", type=int, default=9092)
    parser.add_argument("--http-base-port", type=int, default=8081, help="intake on this port, the others after it")
    parser.add_argument("--once", action="store_true", help="start, show the status, stop (a smoke check)")
    args = parser.parse_args()
    raise SystemExit(asyncio.run(run(args.data_dir, args.broker_port, args.http_base_port, args.once)))


if __name__ == "__main__":
    main()
