"""The guarded consumer without a broker: batches, duplicates, dead letters and write clashes, on real SQLite."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from caseflow_contracts.cases import CaseClosed
from caseflow_contracts.stations import StationAcknowledged, StationUpdatePayload
from caseflow_contracts.topics import CASES_LIFECYCLE, STATIONS_UPDATES
from caseflow_dev.rig import EPOCH, ServiceUnderTest, service_under_test
from caseflow_kit import Context, KitSettings, Refusal, Runtime, ServiceSpec, Subscription
from caseflow_kit.deadletters import BODIES
from caseflow_kit.errors import RecordedRefusal
from caseflow_kit.store import Collection, Replace, StoreUnavailableError

CLASHES: list[int] = []
OUTAGES: list[int] = []


async def count_acks(event: StationAcknowledged, ctx: Context[None]) -> None:
    doc = await ctx.uow.get("counters", "acks")
    if event.payload.station == "REJECT":
        raise Refusal("not_holder", "no")
    if event.payload.station == "RECORDED":  # the refusal is written down (here: counted) before it is raised
        ctx.uow.put("counters", {"_id": "refused", "n": 1})
        raise RecordedRefusal("forbidden_words", "reword it")
    if event.payload.station == "DOWN" and OUTAGES:
        OUTAGES.pop()
        raise StoreUnavailableError("primary stepped down")
    if event.payload.station == "CLASH" and CLASHES:
        CLASHES.pop()
        # Another replica bumps the same counter between our read and our commit.
        assert doc is not None
        store = ctx.uow._store
        current = await store.get("counters", "acks")
        assert current is not None
        await store.commit([Replace("counters", {**current, "n": current["n"] + 100}, current["_v"])])
    if doc is None:
        ctx.uow.add("counters", {"_id": "acks", "n": 1})
    else:
        ctx.uow.update("counters", {**doc, "n": doc["n"] + 1})


async def no_deps(runtime: Runtime[KitSettings, None]) -> None:
    return None


SPEC: ServiceSpec[KitSettings, None] = ServiceSpec(
    name="unit",
    http_port=0,
    settings_type=KitSettings,
    collections=[Collection("counters")],
    subscriptions=[
        Subscription(STATIONS_UPDATES, {"station.acknowledged": count_acks}),
        Subscription(CASES_LIFECYCLE, {}),
    ],
    build_deps=no_deps,
)
Rig = ServiceUnderTest[KitSettings, None]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    settings = KitSettings(data_dir=tmp_path, retry_backoff_ms=0, dead_letter_inline_bytes=4096)
    async with service_under_test(SPEC, settings) as under_test:
        yield under_test


def ack(station: str = "SH-01", event_id: str | None = None) -> StationAcknowledged:
    payload = StationUpdatePayload(case_id="CF-000001", station=station, at=EPOCH)
    return StationAcknowledged.create(payload, key="CF-000001", producer="t", event_id=event_id)


async def counter(rig: Rig) -> int:
    doc = await rig.runtime.store.get("counters", "acks")
    return int(doc["n"]) if doc else 0


async def reasons(rig: Rig) -> list[str]:
    return [m.headers["x-dlq-reason"] for m in await rig.dead_letters()]


async def test_one_batch_sees_its_own_writes_and_skips_duplicates(rig: Rig) -> None:
    same = ack(event_id="dup-1")
    records = [rig.record(ack()), rig.record(same), rig.record(same), rig.record(ack())]
    assert await rig.deliver_records(STATIONS_UPDATES, records) == ["duplicate", "handled", "handled", "handled"]
    assert await counter(rig) == 3
    assert await rig.deliver(same) == ["duplicate"]
    assert await counter(rig) == 3


async def test_bad_and_rejected_records_are_dead_lettered_without_spoiling_the_batch(rig: Rig) -> None:
    oops = rig.raw_record(STATIONS_UPDATES, b"{oops")
    records = [rig.record(ack()), oops, rig.record(ack("REJECT")), rig.record(ack())]
    await rig.deliver_records(STATIONS_UPDATES, records)
    assert await counter(rig) == 2
    assert await reasons(rig) == ["malformed_json", "not_holder"]
    assert all(m.topic == "stations.updates.dlq" for m in await rig.dead_letters())
    # The same offsets redelivered (a crash before the offset commit) are not dead-lettered twice.
    await rig.deliver_records(STATIONS_UPDATES, [oops])
    assert len(await rig.dead_letters()) == 2


async def test_a_recorded_refusal_commits_what_the_handler_wrote_with_the_dead_letter(rig: Rig) -> None:
    refused = rig.record(ack("RECORDED"))
    assert await rig.deliver_records(STATIONS_UPDATES, [refused, rig.record(ack("REJECT"))]) == ["dead_lettered"] * 2
    assert await reasons(rig) == ["forbidden_words", "not_holder"]
    assert await rig.runtime.store.get("counters", "refused") is not None  # kept, unlike a plain refusal's writes
    assert await rig.deliver_records(STATIONS_UPDATES, [refused]) == ["duplicate"]  # redelivered: recorded once
    assert len(await rig.dead_letters()) == 2


async def test_a_write_clash_with_another_replica_replays_the_batch_record_by_record(rig: Rig) -> None:
    await rig.deliver(ack())
    CLASHES.append(1)
    await rig.deliver(ack(), ack("CLASH"), ack(), batch=True)
    # 1 before, +100 from the other replica, +3 from this batch, replayed on top of the other replica's write.
    assert await counter(rig) == 104
    assert rig.outcomes()["handled"] == 4


async def test_an_unreachable_store_stops_the_batch_and_is_never_dead_lettered(rig: Rig) -> None:
    OUTAGES.append(1)
    with pytest.raises(StoreUnavailableError):
        await rig.deliver(ack(), ack("DOWN"), batch=True)
    assert await rig.dead_letters() == []
    assert await counter(rig) == 0  # nothing of the batch is committed: it comes back whole
    await rig.deliver(ack(), ack("DOWN"), batch=True)  # the redelivery, once the store is back
    assert await counter(rig) == 2


async def test_a_record_whose_kafka_key_is_not_the_events_key_is_dead_lettered(rig: Rig) -> None:
    event = ack()
    for key in (b"another-case", None):
        record = rig.record(event)
        record.key = key
        assert await rig.deliver_records(STATIONS_UPDATES, [record]) == ["dead_lettered"]
    assert await reasons(rig) == ["key_mismatch", "key_mismatch"]
    assert await counter(rig) == 0


async def test_an_outside_topics_header_is_a_hint_never_a_reason_to_skip_the_bytes(rig: Rig) -> None:
    """stations.updates is written by station systems: a type this service ignores is still parsed."""
    lying = [("x-event-type", b"station.resolved")]
    outcome = await rig.deliver_raw(STATIONS_UPDATES, b"garbage", headers=lying)
    assert outcome == "dead_lettered"
    real = rig.record(ack())
    real.headers = lying  # a real event under a false label is still handled
    assert await rig.deliver_records(STATIONS_UPDATES, [real]) == ["handled"]
    assert await reasons(rig) == ["malformed_json"]


async def test_on_our_own_topics_the_header_spares_parsing_what_this_service_does_not_handle(rig: Rig) -> None:
    closed = CaseClosed.create(
        {"case_id": "CF-000001", "closed_at": EPOCH, "reason": "done"}, key="CF-000001", producer="routing"
    )
    assert await rig.deliver(closed) == ["ignored"]


async def test_an_event_id_reused_for_another_payload_is_dead_lettered_not_dropped(rig: Rig) -> None:
    assert await rig.deliver(ack("SH-01", event_id="same-id")) == ["handled"]
    assert await rig.deliver(ack("SH-01", event_id="same-id")) == ["duplicate"]
    assert await rig.deliver(ack("SH-02", event_id="same-id")) == ["dead_lettered"]
    assert await reasons(rig) == ["event_id_reused"]
    assert await counter(rig) == 1


async def test_a_dead_letter_too_large_to_publish_keeps_its_bytes_in_the_store(rig: Rig) -> None:
    big = b"x" * 10_000  # the rig's inline limit is 4 KiB
    assert await rig.deliver_raw(STATIONS_UPDATES, big, headers=[("trace", b"t" * 100)]) == "dead_lettered"
    [letter] = await rig.dead_letters()
    assert letter.value == b""
    assert letter.headers["x-dlq-reason"] == "malformed_json"
    assert letter.headers["x-dlq-body-bytes"] == "10000"
    digest = letter.headers["x-dlq-body-sha256"]
    assert letter.headers["x-dlq-body-ref"] == f"{BODIES}/{digest}"
    stashed = await rig.runtime.store.get(BODIES, digest)
    assert stashed is not None
    import base64

    assert base64.b64decode(stashed["value"]) == big
    assert json.loads(json.dumps(stashed["headers"])) == [["trace", base64.b64encode(b"t" * 100).decode()]]


def test_a_handler_for_a_type_its_topic_never_carries_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match=r"never carries case\.opened"):
        Subscription(STATIONS_UPDATES, {"case.opened": count_acks})


def test_the_processed_marks_outlive_the_topics_they_come_from(tmp_path: Path) -> None:
    from caseflow_kit.runtime import processed_retention_days

    assert processed_retention_days(KitSettings(), [STATIONS_UPDATES, CASES_LIFECYCLE]) == 31
    with pytest.raises(ValueError, match="shorter than the 30 days"):
        processed_retention_days(KitSettings(processed_retention_days=14), [CASES_LIFECYCLE])
