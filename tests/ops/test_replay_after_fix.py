"""Replay after a fix, end to end: a service rejects an event, the cause is fixed, the replay is handled.

NOT collected yet (no test_ prefix): it fails against today's kit. When the kit dead-letters a
Refusal or failed event it records the event id as processed (caseflow_kit.consumer._dead_letter
is given marker=<group>|<event_id>), so the replayed copy is skipped as a duplicate and the fix
never takes effect. With the dead-letter mark keyed by the record's position instead
(<group>|<topic>:<partition>:<offset>, what the kit already does for unparseable bytes), a
redelivery of the same record still dead-letters once, and the replay (a new offset) is handled.
Verified by monkeypatching that change in. Rename to test_replay_after_fix.py once the kit has it.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from caseflow_contracts.stations import StationAcknowledged, StationUpdatePayload
from caseflow_contracts.topics import STATIONS_UPDATES
from caseflow_dev.harness import run_in_process
from caseflow_dev.testing import KafkaTestKit
from caseflow_kit import Context, KitSettings, Refusal, Runtime, ServiceSpec, Subscription
from caseflow_kit.store import Collection
from caseflow_ops.cli import run

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


@dataclass
class Directory:
    known: set[str] = field(default_factory=lambda: {"SH-PD-01"})


async def on_acknowledged(event: StationAcknowledged, ctx: Context[Directory]) -> None:
    if event.payload.station not in ctx.deps.known:
        raise Refusal("unknown_station", f"{event.payload.station} is not in the directory")
    ctx.uow.add("acks", {"_id": event.payload.case_id, "station": event.payload.station})


DIRECTORY = Directory()


async def deps(runtime: Runtime[KitSettings, Directory]) -> Directory:
    return DIRECTORY


SPEC: ServiceSpec[KitSettings, Directory] = ServiceSpec(
    name="routing",
    http_port=0,
    settings_type=KitSettings,
    collections=[Collection("acks")],
    subscriptions=[Subscription(STATIONS_UPDATES, {"station.acknowledged": on_acknowledged})],
    build_deps=deps,
)


def ack(n: int, station: str) -> StationAcknowledged:
    payload = StationUpdatePayload(case_id=f"CF-{n:06d}", station=station, at=NOW)
    return StationAcknowledged.create(payload, key=f"CF-{n:06d}", producer="station-system")


async def test_a_rejected_event_is_handled_when_replayed_after_the_fix(kafka: KafkaTestKit) -> None:
    async with run_in_process(SPEC, kafka.settings(KitSettings)) as service:
        await kafka.publish(ack(1, "SH-PD-01"))
        await kafka.publish(ack(2, "BJ-CY-09"))
        (dead,) = await kafka.collect(STATIONS_UPDATES, 1, dlq=True, timeout_s=30)
        assert dict(dead.headers)["x-dlq-reason"] == b"unknown_station"

        DIRECTORY.known.add("BJ-CY-09")  # the fix: the station joins the directory
        out = io.StringIO()
        args = ["--bootstrap", kafka.bootstrap, "--topic-prefix", kafka.prefix, "--json"]
        assert await run([*args, "dlq", "replay", "stations.updates"], out) == 0
        assert json.loads(out.getvalue())["replayed"] == 1

        store = service.runtime.store
        deadline = time.monotonic() + 30
        while await store.get("acks", "CF-000002") is None:
            assert time.monotonic() < deadline, "the replayed event was not handled"
            await asyncio.sleep(0.1)
