"""caseflowctl dlq against the real broker (Tansu): inspect, replay once, never replay twice."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

from caseflow_contracts.topics import CASES_LIFECYCLE, STATIONS_UPDATES, TOPICS
from caseflow_dev.testing import KafkaTestKit
from caseflow_ops.cli import run


async def ctl(kafka: KafkaTestKit, *args: str) -> tuple[int, Any]:
    out = io.StringIO()
    code = await run(["--bootstrap", kafka.bootstrap, "--topic-prefix", kafka.prefix, "--json", *args], out)
    return code, json.loads(out.getvalue()) if out.getvalue() else None


def dead_letter_headers(kafka: KafkaTestKit, offset: int, reason: str, original: list[tuple[str, bytes]]) -> list[Any]:
    """What the kit's consumer writes beside a parked record (caseflow_kit.consumer._dead_letter)."""
    kept = [[name, base64.b64encode(value).decode()] for name, value in original]
    headers = {
        **{name: value.decode("utf-8", "replace") for name, value in original},
        "x-dlq-reason": reason,
        "x-dlq-detail": f"{reason} at {offset}",
        "x-dlq-consumer": f"{kafka.prefix}group",
        "x-dlq-original-topic": kafka.topic(STATIONS_UPDATES),
        "x-dlq-original-partition": "0",
        "x-dlq-original-offset": str(offset),
        "x-dlq-original-headers": json.dumps(kept),
        "x-dlq-at": "2026-11-24T08:00:00+00:00",
    }
    return [(k, v.encode()) for k, v in headers.items()]


def event_bytes(n: int) -> bytes:
    return json.dumps({"type": "station.acknowledged", "event_id": f"ev-{n}", "schema_version": "1.0"}).encode()


async def send_dlq(kafka: KafkaTestKit, value: bytes, key: bytes, headers: list[Any]) -> None:
    producer = await kafka.producer()
    await producer.send_and_wait(kafka.prefix + STATIONS_UPDATES.dlq, value, key=key, headers=headers)


async def park(kafka: KafkaTestKit, n: int, reason: str = "not_holder") -> None:
    original = [("x-event-id", f"ev-{n}".encode()), ("x-binary", bytes([0, 255, n]))]
    headers = dead_letter_headers(kafka, 100 + n, reason, original)
    await send_dlq(kafka, event_bytes(n), f"CF-{n:06d}".encode(), headers)


async def test_inspect_shows_why_and_replay_republishes_each_dead_letter_once(kafka: KafkaTestKit) -> None:
    for n in range(3):
        await park(kafka, n, "handler_failed" if n == 1 else "not_holder")
    # A record without its origin (hand-made, or from an old version) is reported, never guessed at.
    await send_dlq(kafka, b"orphan", b"x", [("x-dlq-reason", b"malformed_json")])

    code, listed = await ctl(kafka, "dlq", "list")
    assert code == 0
    assert {
        "dlq": "stations.updates.dlq",
        "parked": 4,
        "pending_replay": 4,
        "reasons": {"handler_failed": 1, "malformed_json": 1, "not_holder": 2},
        "reasons_complete": True,
    } in listed

    code, seen = await ctl(kafka, "dlq", "inspect", "stations.updates")
    assert code == 0
    assert seen["summary"] == {"handler_failed": 1, "malformed_json": 1, "not_holder": 2}
    first = seen["records"][0]
    assert first["reason"] == "not_holder"
    assert first["original"] == {"topic": kafka.topic(STATIONS_UPDATES), "partition": "0", "offset": "100"}
    assert first["event"] == {
        "parsed": True,
        "type": "station.acknowledged",
        "event_id": "ev-0",
        "schema_version": "1.0",
        "key": None,
    }
    assert seen["records"][3]["event"] == {"parsed": False, "size": 6}

    code, dry = await ctl(kafka, "dlq", "replay", "stations.updates", "--dry-run")
    assert (code, dry["replayed"], dry["cursor"]) == (0, 3, {"0": 4})
    code, first_run = await ctl(kafka, "dlq", "replay", "stations.updates.dlq", "--limit", "2")
    assert (first_run["replayed"], first_run["cursor"]) == (2, {"0": 2})
    code, second_run = await ctl(kafka, "dlq", "replay", "stations.updates")
    assert second_run["replayed"] == 1
    assert second_run["refused"] == [{"partition": 0, "offset": 3, "why": "no x-dlq-original-topic header"}]
    code, third_run = await ctl(kafka, "dlq", "replay", "stations.updates")
    assert (third_run["replayed"], third_run["refused"], third_run["cursor"]) == (0, [], {"0": 4})

    replayed = await kafka.collect(STATIONS_UPDATES, 4, timeout_s=1.5)
    assert len(replayed) == 3  # each replayable dead letter exactly once, across three runs
    by_key = {r.key: r for r in replayed}
    assert set(by_key) == {b"CF-000000", b"CF-000001", b"CF-000002"}
    one = by_key[b"CF-000001"]
    assert one.value == event_bytes(1)
    headers = dict(one.headers)
    assert headers["x-event-id"] == b"ev-1"
    assert headers["x-binary"] == bytes([0, 255, 1])  # the original headers, byte for byte
    assert headers["x-dlq-replayed-from"] == f"{kafka.prefix}stations.updates.dlq:0:1".encode()
    assert not any(name.startswith("x-dlq-reason") for name in headers)

    # A new dead letter after the replay is the only one the next replay sends.
    await park(kafka, 7)
    code, listed = await ctl(kafka, "dlq", "list")
    (stations,) = [row for row in listed if row["dlq"] == "stations.updates.dlq"]
    assert (stations["parked"], stations["pending_replay"]) == (5, 1)
    code, fourth_run = await ctl(kafka, "dlq", "replay", "stations.updates")
    assert (fourth_run["replayed"], fourth_run["cursor"]) == (1, {"0": 5})
    assert len(await kafka.collect(STATIONS_UPDATES, 5, timeout_s=1.5)) == 4


async def test_unknown_topic_is_an_error_not_an_empty_answer(kafka: KafkaTestKit) -> None:
    code, _ = await ctl(kafka, "dlq", "inspect", "no.such-topic")
    assert code == 2
    code, _ = await ctl(kafka, "dlq", "replay", CASES_LIFECYCLE.name + "x")
    assert code == 2


async def test_topics_creates_what_is_missing_once(kafka: KafkaTestKit) -> None:
    fresh = KafkaTestKit(kafka.bootstrap, kafka.data_dir)
    code, made = await ctl(fresh, "topics", "--max-partitions", "2")
    assert code == 0
    assert sorted(made["created"]) == sorted(fresh.prefix + n for t in TOPICS for n in (t.name, t.dlq))
    code, again = await ctl(fresh, "topics")
    assert again == {"created": []}
    code, listed = await ctl(fresh, "dlq", "list")
    assert [row["dlq"] for row in listed] == [t.dlq for t in TOPICS]


async def test_inspect_shows_a_record_without_dlq_headers_in_text_and_json(kafka: KafkaTestKit) -> None:
    """A record put on a .dlq by hand (or by an old version) has no x-dlq-* headers: shown, never a crash."""
    await send_dlq(kafka, b"\x00 not an event", b"k", [])
    code, found = await ctl(kafka, "dlq", "inspect", "stations.updates")
    assert code == 0
    (record,) = found["records"]
    assert (record["reason"], record["original"]["topic"], record["detail"]) == ("unknown", None, None)
    assert found["summary"] == {"unknown": 1}
    out = io.StringIO()
    args = ["--bootstrap", kafka.bootstrap, "--topic-prefix", kafka.prefix, "dlq", "inspect", "stations.updates"]
    assert await run(args, out) == 0
    assert "unknown" in out.getvalue()
    assert "from ?:?:?" in out.getvalue()
    assert "1 dead letters: unknown 1" in out.getvalue()


async def test_lag_of_the_replay_group_is_what_is_not_replayed_yet(kafka: KafkaTestKit) -> None:
    for n in range(3):
        await park(kafka, n)
    code, report = await ctl(kafka, "dlq", "replay", "stations.updates", "--limit", "1")
    assert (code, report["replayed"]) == (0, 1)
    code, rows = await ctl(kafka, "lag", "--group", "caseflow-dlq-replay")
    assert code == 0
    by_topic = {row["topic"]: row["lag"] for row in rows}
    assert set(by_topic) == {t.dlq for t in TOPICS}  # its own topics, even those it never committed on
    assert by_topic[STATIONS_UPDATES.dlq] == 2
    assert sum(by_topic.values()) == 2
