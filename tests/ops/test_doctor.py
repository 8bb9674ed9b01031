"""caseflowctl doctor against the suite as processes on the embedded broker: healthy, then three things wrong."""

from __future__ import annotations

import asyncio
import io
import json
import time
from datetime import UTC, datetime
from typing import Any

from caseflow_contracts.topics import UPSTREAM_PARCEL_EXCEPTIONS
from caseflow_contracts.upstream import Customer, ExceptionKind, ParcelExceptionPayload, ParcelExceptionReported
from caseflow_dev.broker import free_port
from caseflow_dev.harness import ServiceProcess, fresh_keys
from caseflow_dev.testing import KafkaTestKit
from caseflow_ops.catalog import SERVICES
from caseflow_ops.cli import run


async def doctor(kafka: KafkaTestKit, urls: dict[str, str], *extra: str, as_json: bool = True) -> tuple[int, Any]:
    out = io.StringIO()
    flags = ["--json"] if as_json else []
    given = [arg for service, url in urls.items() for arg in ("--url", f"{service}={url}")]
    argv = ["--bootstrap", kafka.bootstrap, "--topic-prefix", kafka.prefix, *flags, "doctor", *given, *extra]
    code = await run(argv, out)
    return code, json.loads(out.getvalue()) if as_json else out.getvalue()


def problems(report: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(f["area"], f["subject"]): f["detail"] for f in report["findings"] if not f["ok"]}


def parcel_exception(n: int) -> ParcelExceptionReported:
    payload = ParcelExceptionPayload(
        source_system="oms",
        source_event_id=f"doctor-{n}",
        waybill_no=f"BE20261124{n:05d}",
        exception_kind=ExceptionKind.DELAY,
        destination_station="SH-PD-01",
        scanned_at=datetime.now(UTC),
        customer=Customer(name="王五", phone="13900002222"),
    )
    return ParcelExceptionReported.create(payload, key=payload.waybill_no, producer="oms")


async def test_doctor_finds_a_healthy_suite_healthy_and_names_what_breaks(kafka: KafkaTestKit) -> None:
    env = kafka.env(**fresh_keys())
    logs = kafka.data_dir / "logs"
    logs.mkdir()
    services = {name: ServiceProcess(name, env, log_file=logs / f"{name}.log").start() for name in SERVICES}
    urls = {name: svc.url for name, svc in services.items()}
    try:
        await asyncio.gather(*(s.ready(90) for s in services.values()))
        await kafka.publish(parcel_exception(1))
        # Healthy once intake has handled it and committed (a healthy suite with work done, not an idle one).
        deadline = time.monotonic() + 60
        while True:
            code, report = await doctor(kafka, urls, "--max-partitions", "3")
            groups = {f["subject"]: f["detail"] for f in report["findings"] if f["area"] == "groups"}
            if (
                code == 0
                and "no commit" not in groups[f"{kafka.prefix}caseflow-intake {UPSTREAM_PARCEL_EXCEPTIONS.name}"]
            ):
                break
            assert time.monotonic() < deadline, report
            await asyncio.sleep(0.2)
        assert report["ok"] is True
        areas = {f["area"] for f in report["findings"]}
        assert areas == {"topics", "groups", "dead letters", "services"}
        assert {f["subject"] for f in report["findings"] if f["area"] == "services"} == set(SERVICES)

        # Three things wrong: a dead letter waits, a service is down, the topics are not what was asked for.
        await kafka.publish_raw(UPSTREAM_PARCEL_EXCEPTIONS, b"not json at all", key=b"BE-bad")
        await kafka.collect(UPSTREAM_PARCEL_EXCEPTIONS, 1, timeout_s=40, dlq=True)
        assert services["sla"].terminate() == 0
        code, report = await doctor(kafka, urls, "--max-partitions", "4")
        assert code == 1
        found = problems(report)
        assert found[("dead letters", UPSTREAM_PARCEL_EXCEPTIONS.dlq)] == "1 not replayed: malformed_json 1"
        assert found[("services", "sla")].startswith("ConnectError")
        assert found[("topics", UPSTREAM_PARCEL_EXCEPTIONS.name)] == "3 partitions, the catalog says 4"
        assert ("topics", UPSTREAM_PARCEL_EXCEPTIONS.dlq) not in found  # dead-letter topics have one partition

        code, text = await doctor(kafka, urls, "--max-partitions", "4", as_json=False)
        assert code == 1
        assert text.startswith(f"caseflow doctor: {len(found)} problems\n")
        assert "dead letters  FAIL  upstream.parcel-exceptions.dlq: 1 not replayed: malformed_json 1" in text
        assert "services      ok    intake: ready, outbox backlog 0" in text
    finally:
        codes = {name: svc.terminate() for name, svc in services.items()}
    assert set(codes.values()) == {0}, {n: (logs / f"{n}.log").read_text()[-2000:] for n in services}


async def test_a_broker_it_cannot_reach_is_one_finding_and_the_services_are_still_checked() -> None:
    out = io.StringIO()
    dead = f"http://127.0.0.1:{free_port()}"
    argv = [
        "--bootstrap",
        f"127.0.0.1:{free_port()}",
        "--json",
        "doctor",
        "--service",
        "intake",
        "--url",
        f"intake={dead}",
    ]
    assert await run(argv, out) == 1
    report = json.loads(out.getvalue())
    assert [(f["area"], f["ok"]) for f in report["findings"]] == [("broker", False), ("services", False)]
    assert report["findings"][0]["detail"].startswith("KafkaConnectionError")
