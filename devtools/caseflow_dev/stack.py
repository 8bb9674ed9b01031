"""The embedded stack: Tansu on loopback, the catalog's topics, the five services as processes.

    python -m caseflow_dev.stack [--data-dir data] [--broker-port 9092]

Ctrl-C stops the services gracefully, then the broker. Service data (SQLite)
stays in the data folder and is reused by the next start; Tansu keeps topics in
memory, so the broker starts empty each time.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import secrets
import signal
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from caseflow_kit.topics import ensure_topics

from .broker import EmbeddedBroker
from .harness import ServiceProcess

SERVICES = {"intake": 8081, "routing": 8082, "sla": 8083, "claims": 8084, "notify": 8085}
console = Console()


def dev_pii_key(data_dir: Path) -> str:
    """A local key for the embedded stack only; production takes CASEFLOW_PII_KEY from a Secret."""
    if key := os.environ.get("CASEFLOW_PII_KEY"):
        return key
    path = data_dir / "dev-pii.key"
    if not path.exists():
        path.write_text(base64.b64encode(secrets.token_bytes(32)).decode())
        path.chmod(0o600)
    return path.read_text().strip()


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


async def run(data_dir: Path, broker_port: int, once: bool) -> int:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "logs").mkdir(exist_ok=True)
    broker = EmbeddedBroker(broker_port, log_file=data_dir / "logs" / "tansu.log").start()
    console.print(f"[bold]tansu[/] listening on {broker.bootstrap} (in-memory topics)")
    services: list[ServiceProcess] = []
    try:
        created = await ensure_topics(broker.bootstrap)
        console.print(f"created {len(created)} topics from the catalog")
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
            "CASEFLOW_DATA_DIR": str(data_dir.resolve()),
            "CASEFLOW_PII_KEY": dev_pii_key(data_dir),
            "CASEFLOW_LOG_FORMAT": "json",
        }
        for name, port in SERVICES.items():
            services.append(
                ServiceProcess(name, env, http_port=port, log_file=data_dir / "logs" / f"{name}.log").start()
            )
        await asyncio.gather(*(s.ready(90) for s in services))
        console.print(await status_table(services))
        console.print(f"logs in {data_dir / 'logs'}; Ctrl-C stops everything")
        if once:
            return 0
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        while not stop.is_set():
            for svc in services:
                if svc.process and svc.process.poll() is not None:
                    console.print(f"[red]{svc.name} exited with {svc.process.returncode}[/]; see its log")
                    stop.set()
            with __import__("contextlib").suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 2)
        return 0
    finally:
        console.print("stopping services…")
        for svc in services:
            svc.terminate()
        broker.stop()
        console.print("stopped")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--broker-port", type=int, default=9092)
    parser.add_argument("--once", action="store_true", help="start, show the status, stop (a smoke check)")
    args = parser.parse_args()
    raise SystemExit(asyncio.run(run(args.data_dir, args.broker_port, args.once)))


if __name__ == "__main__":
    main()
