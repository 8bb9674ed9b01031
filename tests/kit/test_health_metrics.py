"""caseflow_ready and caseflow_outbox_backlog tell the truth between start and stop.

They were set once at start and stop (an outage of the store left a pod "ready" in Prometheus) and the
backlog counted only the relay's memory (rows a crashed process left in the store were invisible and the
gauge reset on restart). Now the runtime refreshes both: readiness checks and the store's outbox count.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from caseflow_contracts.topics import STATIONS_UPDATES
from caseflow_dev.harness import run_in_process
from caseflow_dev.testing import KafkaTestKit
from caseflow_kit import KitSettings, Runtime, ServiceSpec
from caseflow_kit import runtime as runtime_module
from caseflow_kit.store import Collection, OutboxMessage
from caseflow_kit.store.sqlite import SqliteStore


async def no_deps(runtime: Runtime[KitSettings, None]) -> None:
    return None


SPEC: ServiceSpec[KitSettings, None] = ServiceSpec(
    name="routing",
    http_port=0,
    settings_type=KitSettings,
    collections=[Collection("acks")],
    subscriptions=[],
    build_deps=no_deps,
)


async def test_the_outbox_backlog_counts_rows_waiting_in_the_store(tmp_path: Path) -> None:
    """Rows committed by a process that crashed before publishing them: in the store, not in anyone's memory."""
    settings = KitSettings(kafka_bootstrap_servers="127.0.0.1:1", data_dir=tmp_path)
    runtime = Runtime(SPEC, settings, SqliteStore(tmp_path / "routing.db"))
    await runtime.start_dependencies()
    try:
        await runtime.store.commit([OutboxMessage(STATIONS_UPDATES.name, f"CF-{n}", b"{}", slot=0) for n in range(3)])
        await runtime.refresh_health()
        sample = runtime.registry.get_sample_value
        assert sample("caseflow_outbox_backlog") == 3
        assert sample("caseflow_ready") == 0  # never started, no broker
    finally:
        await runtime.store.close()


async def metric(client: httpx.AsyncClient, url: str, name: str) -> float:
    for line in (await client.get(f"{url}/metrics")).text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not exported")


async def until(client: httpx.AsyncClient, url: str, name: str, value: float) -> None:
    deadline = time.monotonic() + 20
    while await metric(client, url, name) != value:
        assert time.monotonic() < deadline, f"{name} never became {value}"
        await asyncio.sleep(0.05)


async def test_ready_drops_during_a_store_outage_and_comes_back(
    kafka: KafkaTestKit, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime_module, "HEALTH_INTERVAL_S", 0.05)
    async with run_in_process(SPEC, kafka.settings(KitSettings)) as service, httpx.AsyncClient(timeout=5) as client:
        await until(client, service.url, "caseflow_ready", 1)
        healthy_ping = service.runtime.store.ping

        async def store_down() -> None:
            raise ConnectionError("store unreachable")

        monkeypatch.setattr(service.runtime.store, "ping", store_down)
        await until(client, service.url, "caseflow_ready", 0)
        monkeypatch.setattr(service.runtime.store, "ping", healthy_ping)
        await until(client, service.url, "caseflow_ready", 1)
