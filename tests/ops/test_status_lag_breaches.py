"""caseflowctl status, lag and breaches against a running service on the real broker (Tansu)."""

from __future__ import annotations

import asyncio
import io
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from caseflow_contracts import TOPICS
from caseflow_contracts.common import CaseKind, LadderLevel, Priority
from caseflow_contracts.sla import SlaBreached, SlaClockPayload, SlaMetric
from caseflow_contracts.stations import StationAcknowledged, StationUpdatePayload
from caseflow_contracts.topics import STATIONS_UPDATES, UPSTREAM_CUSTOMER_CONTACTS, UPSTREAM_PARCEL_EXCEPTIONS
from caseflow_dev.harness import run_in_process
from caseflow_dev.testing import KafkaTestKit
from caseflow_kit import Context, KitSettings, Runtime, ServiceSpec, Subscription
from caseflow_kit.store import Collection
from caseflow_ops.cli import run

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


async def on_acknowledged(event: StationAcknowledged, ctx: Context[None]) -> None:
    ctx.uow.add("acks", {"_id": event.payload.case_id})


async def no_deps(runtime: Runtime[KitSettings, None]) -> None:
    return None


SPEC: ServiceSpec[KitSettings, None] = ServiceSpec(
    name="routing",
    http_port=0,
    settings_type=KitSettings,
    collections=[Collection("acks")],
    subscriptions=[Subscription(STATIONS_UPDATES, {"station.acknowledged": on_acknowledged})],
    build_deps=no_deps,
)


async def ctl(kafka: KafkaTestKit, *args: str, as_json: bool = True) -> tuple[int, Any]:
    out = io.StringIO()
    flags = ["--json"] if as_json else []
    code = await run(["--bootstrap", kafka.bootstrap, "--topic-prefix", kafka.prefix, *flags, *args], out)
    text = out.getvalue()
    return code, (json.loads(text) if as_json and text else text)


def ack(n: int) -> StationAcknowledged:
    payload = StationUpdatePayload(case_id=f"CF-{n:06d}", station="SH-PD-01", at=NOW)
    return StationAcknowledged.create(payload, key=f"CF-{n:06d}", producer="station-system")


def breach(n: int) -> SlaBreached:
    payload = SlaClockPayload(
        case_id=f"CF-{n:06d}",
        metric=SlaMetric.CALLBACK,
        level=LadderLevel.STATION,
        station="SH-PD-01",
        kind=CaseKind.DELAY,
        priority=Priority.NORMAL,
        target_seconds=7200,
        elapsed_seconds=7260,
        started_at=NOW,
        deadline_at=NOW + timedelta(hours=2),
        policy_version="test",
    )
    return SlaBreached.create(payload, key=f"CF-{n:06d}", producer="sla")


async def stations_lag(kafka: KafkaTestKit) -> dict[str, Any]:
    code, rows = await ctl(kafka, "lag", "--group", f"{kafka.prefix}group")
    assert code == 0
    return next(r for r in rows if r["topic"] == STATIONS_UPDATES.name)


async def test_status_and_lag_of_a_running_service(kafka: KafkaTestKit) -> None:
    async with run_in_process(SPEC, kafka.settings(KitSettings)) as service:
        for n in range(3):
            await kafka.publish(ack(n))
        await kafka.publish_raw(STATIONS_UPDATES, b"{not json", key=b"CF-000009")
        assert len(await kafka.collect(STATIONS_UPDATES, 1, dlq=True, timeout_s=30)) == 1

        deadline = time.monotonic() + 30
        while (row := await stations_lag(kafka))["lag"] != 0:  # the offset commit follows the batch
            assert time.monotonic() < deadline, row
            await asyncio.sleep(0.1)
        assert sum(p["end"] for p in row["partitions"]) == 4

        code, found = await ctl(kafka, "status", "--service", "routing", "--url", f"routing={service.url}")
        assert code == 0
        (routing,) = found
        assert routing["ready"] is True
        assert routing["checks"] == {"started": True, "store": True, "broker": True}
        assert routing["outcomes"] == {"handled": 3, "dead_lettered": 1}
        assert routing["metrics"]["caseflow_ready"] == 1
        assert routing["dead_letters"] == {"stations.updates/malformed_json": 1.0}
        code, text = await ctl(
            kafka, "status", "--service", "routing", "--url", f"routing={service.url}", as_json=False
        )
        assert "routing  yes" in text
        assert "dead letters stations.updates/malformed_json: 1" in text

    # Stopped: not ready (exit status 1), and what arrives meanwhile is lag.
    code, found = await ctl(kafka, "status", "--service", "routing", "--url", f"routing={service.url}")
    assert code == 1
    assert found[0]["ready"] is False
    assert "ConnectError" in found[0]["error"]
    for n in range(10, 12):
        await kafka.publish(ack(n))
    assert (await stations_lag(kafka))["lag"] == 2


async def test_breaches_prints_each_breach_as_json(kafka: KafkaTestKit) -> None:
    events = [breach(n) for n in range(2)]
    for event in events:
        await kafka.publish(event)

    code, text = await ctl(kafka, "breaches", "--from-beginning", "--count", "2", "--timeout", "10", as_json=False)
    assert code == 0
    printed = [json.loads(line) for line in text.splitlines()]
    assert sorted(e["event_id"] for e in printed) == sorted(e.event_id for e in events)
    assert {e["type"] for e in printed} == {"sla.breached"}
    assert {e["payload"]["metric"] for e in printed} == {"callback"}

    # Without --from-beginning only new breaches are shown: none arrive, so it stops when idle.
    started = time.monotonic()
    code, text = await ctl(kafka, "breaches", "--timeout", "0.5", as_json=False)
    assert (code, text) == (0, "")
    assert time.monotonic() - started < 5


async def test_lag_of_a_service_that_never_committed_is_everything_retained(kafka: KafkaTestKit) -> None:
    for n in range(3):
        await kafka.publish_raw(UPSTREAM_PARCEL_EXCEPTIONS, b"{}", key=f"W{n}".encode())
    code, rows = await ctl(kafka, "lag", "--service", "intake")
    assert code == 0
    by_topic = {r["topic"]: r for r in rows}
    assert set(by_topic) == {t.name for t in TOPICS if "intake" in t.consumers}
    assert {UPSTREAM_PARCEL_EXCEPTIONS.name, UPSTREAM_CUSTOMER_CONTACTS.name} <= set(by_topic)
    assert {r["group"] for r in rows} == {kafka.prefix + "caseflow-intake"}
    assert by_topic[UPSTREAM_PARCEL_EXCEPTIONS.name]["lag"] == 3
    partitions = by_topic[UPSTREAM_PARCEL_EXCEPTIONS.name]["partitions"]
    assert partitions
    assert all(p["committed"] is None for p in partitions)
    assert by_topic[UPSTREAM_CUSTOMER_CONTACTS.name]["lag"] == 0
    code, text = await ctl(kafka, "lag", "--service", "intake", "--partitions", as_json=False)
    assert "(no commit yet)" in text
    assert "partition 0" in text
