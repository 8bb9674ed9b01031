"""The five services as separate processes on the real broker: healthy, consuming, and stopping cleanly."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx

from caseflow_contracts.topics import UPSTREAM_PARCEL_EXCEPTIONS
from caseflow_contracts.upstream import Customer, ExceptionKind, ParcelExceptionPayload, ParcelExceptionReported
from caseflow_dev.harness import ServiceProcess, fresh_keys
from caseflow_dev.testing import KafkaTestKit

SERVICES = ("intake", "routing", "sla", "claims", "notify")


def handled(metrics: str, topic: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("caseflow_events_handled_total{") and f'topic="{topic}"' in line
    )


async def test_five_services_start_answer_health_consume_and_stop_gracefully(kafka: KafkaTestKit) -> None:
    env = kafka.env(**fresh_keys())
    logs = kafka.data_dir / "logs"
    logs.mkdir()
    services = [ServiceProcess(name, env, log_file=logs / f"{name}.log").start() for name in SERVICES]
    try:
        await asyncio.gather(*(s.ready(90) for s in services))
        intake = services[0]
        exception = ParcelExceptionReported.create(
            ParcelExceptionPayload(
                source_system="oms",
                source_event_id="boot-1",
                waybill_no="BE2026112400001",
                exception_kind=ExceptionKind.DELAY,
                destination_station="SH-PD-01",
                scanned_at=datetime.now(UTC),
                customer=Customer(name="李四", phone="13900001111"),
                shipping_address=None,
            ),
            key="BE2026112400001",
            producer="oms",
        )
        await kafka.publish(exception)
        await kafka.publish_raw(UPSTREAM_PARCEL_EXCEPTIONS, b"not json at all", key=b"BE-bad")
        dead = await kafka.collect(UPSTREAM_PARCEL_EXCEPTIONS, 1, timeout_s=40, dlq=True)
        assert [dict(r.headers)["x-dlq-reason"] for r in dead] == [b"malformed_json"]
        async with httpx.AsyncClient(timeout=5) as http:
            for _ in range(100):
                metrics = (await http.get(f"{intake.url}/metrics")).text
                if handled(metrics, UPSTREAM_PARCEL_EXCEPTIONS.name) >= 1:
                    break
                await asyncio.sleep(0.2)
            assert handled(metrics, UPSTREAM_PARCEL_EXCEPTIONS.name) >= 1
            for svc in services:
                assert (await http.get(f"{svc.url}/healthz")).status_code == 200
                assert (await http.get(f"{svc.url}/readyz")).json()["status"] == "ready"
                assert "caseflow_outbox_backlog" in (await http.get(f"{svc.url}/metrics")).text
    finally:
        codes = [svc.terminate() for svc in services]
    assert codes == [0] * len(SERVICES), [(s.name, (logs / f"{s.name}.log").read_text()[-2000:]) for s in services]
    for svc in services:
        log = (logs / f"{svc.name}.log").read_text()
        assert "13900001111" not in log
        assert "李四" not in log
