"""Dead-letter topics: inspect what is parked and why, and replay it to its original topic after a fix.

A replay is idempotent twice over. Consumers de-duplicate on the event id, so a
record replayed twice changes nothing the second time; and the replay itself
keeps a cursor per dead-letter partition, committed as the offsets of the
consumer group `caseflow-dlq-replay`, so a second run starts where the last one
stopped and re-publishes nothing it already replayed. The cursor advances only
after the broker acknowledged the re-published records: a crash in between
re-publishes at most one chunk, which the consumers then skip.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import OffsetAndMetadata

from caseflow_contracts import TOPICS
from caseflow_contracts.topics import DLQ_SUFFIX

from .catalog import REPLAY_GROUP
from .kafka import Cluster, NoSuchTopic, partitions_of
from .records import Record, read_range

REPLAYED_FROM = "x-dlq-replayed-from"
CHUNK = 200


def dlq_name(cluster: Cluster, topic: str) -> str:
    """`cases.lifecycle` or `cases.lifecycle.dlq` -> the prefixed dead-letter topic."""
    base = topic.removesuffix(DLQ_SUFFIX)
    return cluster.name(base + DLQ_SUFFIX)


@dataclass(frozen=True)
class DeadLetter:
    """One parked record: where it sits, why it is there, and what it was."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]

    @classmethod
    def of(cls, record: Record) -> DeadLetter:
        return cls(
            record.topic, record.partition, record.offset, record.key, record.value or b"", tuple(record.headers or ())
        )

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value.decode("utf-8", "replace")
        return None

    @property
    def reason(self) -> str:
        return self.header("x-dlq-reason") or "unknown"

    @property
    def original_topic(self) -> str | None:
        return self.header("x-dlq-original-topic")

    def original_headers(self) -> list[tuple[str, bytes]]:
        """The headers the record had before it was dead-lettered.

        The kit keeps them verbatim (base64) in x-dlq-original-headers; a parker
        that does not (notify's delivery worker) left them beside its x-dlq-* ones.
        """
        kept = self.header("x-dlq-original-headers")
        if kept is not None:
            # A header that does not decode is no record of the originals: fall back to what travels beside it.
            with contextlib.suppress(ValueError, TypeError, binascii.Error):
                return [(str(name), base64.b64decode(value)) for name, value in json.loads(kept)]
        return [(name, value) for name, value in self.headers if not name.startswith("x-dlq-")]

    def event(self) -> dict[str, Any]:
        """What can be told about the parked bytes without trusting them."""
        try:
            doc = json.loads(self.value)
        except ValueError:
            return {"parsed": False, "size": len(self.value)}
        if not isinstance(doc, dict):
            return {"parsed": False, "size": len(self.value)}
        return {
            "parsed": True,
            "type": doc.get("type"),
            "event_id": doc.get("event_id"),
            "schema_version": doc.get("schema_version"),
            "key": doc.get("key"),
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "partition": self.partition,
            "offset": self.offset,
            "key": self.key.decode("utf-8", "replace") if self.key is not None else None,
            "reason": self.reason,
            "detail": self.header("x-dlq-detail"),
            "consumer": self.header("x-dlq-consumer"),
            "at": self.header("x-dlq-at"),
            "original": {
                "topic": self.original_topic,
                "partition": self.header("x-dlq-original-partition"),
                "offset": self.header("x-dlq-original-offset"),
            },
            "replayed_from": self.header(REPLAYED_FROM),
            "event": self.event(),
        }


async def inspect(cluster: Cluster, topic: str, *, limit: int | None = None) -> list[DeadLetter]:
    """Every record now on the dead-letter topic (the first `limit`), oldest first per partition."""
    name = dlq_name(cluster, topic)
    found: list[DeadLetter] = []
    async with cluster.consumer() as consumer:
        parts = await partitions_of(consumer, name)
        if not parts:
            raise NoSuchTopic(f"no topic {name}")
        starts = await consumer.beginning_offsets(parts)
        async for record in read_range(consumer, parts, starts):
            found.append(DeadLetter.of(record))
            if limit is not None and len(found) >= limit:
                break
    return found


@dataclass
class ReplayReport:
    dlq: str
    replayed: list[DeadLetter] = field(default_factory=list)
    refused: list[tuple[DeadLetter, str]] = field(default_factory=list)
    cursor: dict[int, int] = field(default_factory=dict)
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "dlq": self.dlq,
            "dry_run": self.dry_run,
            "replayed": len(self.replayed),
            "refused": [{"partition": d.partition, "offset": d.offset, "why": why} for d, why in self.refused],
            "cursor": {str(p): o for p, o in sorted(self.cursor.items())},
        }


def _refusal(letter: DeadLetter, base: str) -> str | None:
    """Why a record may not be re-published (None: it may)."""
    original = letter.original_topic
    if original is None:
        return "no x-dlq-original-topic header"
    if original != base:
        return f"original topic {original} is not {base}"
    return None


async def replay(
    cluster: Cluster, topic: str, *, limit: int | None = None, dry_run: bool = False, group: str = REPLAY_GROUP
) -> ReplayReport:
    """Re-publish dead letters not yet replayed to their original topic, with their original key and headers.

    Records that cannot be replayed (no original topic, or one that is not this
    dead-letter topic's own) are reported and passed over. With `dry_run`
    nothing is published and the cursor does not move.
    """
    name = dlq_name(cluster, topic)
    base = name.removesuffix(DLQ_SUFFIX)
    report = ReplayReport(name, dry_run=dry_run)
    async with cluster.consumer(group) as consumer, cluster.admin() as admin, cluster.producer() as producer:
        parts = await partitions_of(consumer, name)
        if not parts:
            raise NoSuchTopic(f"no topic {name}")
        start = await _cursor(admin, consumer, parts, group)
        report.cursor = {tp.partition: start[tp] for tp in parts}
        chunk: list[DeadLetter] = []

        async def flush() -> None:
            if not chunk:
                return
            if not dry_run:
                sent = []
                for letter in chunk:
                    if _refusal(letter, base) is None:
                        headers = [
                            *letter.original_headers(),
                            (REPLAYED_FROM, f"{name}:{letter.partition}:{letter.offset}".encode()),
                        ]
                        sent.append(await producer.send(base, letter.value, key=letter.key, headers=headers))
                for future in sent:
                    await future
                moved = {
                    TopicPartition(name, letter.partition): OffsetAndMetadata(letter.offset + 1, "") for letter in chunk
                }
                await consumer.commit(moved)
            for letter in chunk:
                report.cursor[letter.partition] = letter.offset + 1
            chunk.clear()

        async for record in read_range(consumer, parts, start):
            letter = DeadLetter.of(record)
            why = _refusal(letter, base)
            if why is None:
                if limit is not None and len(report.replayed) >= limit:
                    break
                report.replayed.append(letter)
            else:
                report.refused.append((letter, why))
            chunk.append(letter)
            if len(chunk) >= CHUNK:
                await flush()
        await flush()
    return report


def summarize(letters: Sequence[DeadLetter]) -> dict[str, int]:
    """How many dead letters per reason."""
    counts: dict[str, int] = {}
    for letter in letters:
        counts[letter.reason] = counts.get(letter.reason, 0) + 1
    return dict(sorted(counts.items()))


async def _cursor(
    admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer, parts: list[TopicPartition], group: str
) -> dict[TopicPartition, int]:
    """Where the replay stands in each partition: its committed offset, or the oldest retained record."""
    committed = await admin.list_consumer_group_offsets(group, partitions=parts)
    beginning = await consumer.beginning_offsets(parts)
    return {
        tp: max(committed[tp].offset, beginning[tp]) if tp in committed and committed[tp].offset >= 0 else beginning[tp]
        for tp in parts
    }


@dataclass(frozen=True)
class Depth:
    """One dead-letter topic: records parked, records not yet replayed, and why those were parked."""

    dlq: str
    parked: int
    pending_replay: int
    reasons: dict[str, int]
    complete: bool  # False: more records wait than were read for `reasons`

    def as_dict(self) -> dict[str, Any]:
        return {
            "dlq": self.dlq,
            "parked": self.parked,
            "pending_replay": self.pending_replay,
            "reasons": self.reasons,
            "reasons_complete": self.complete,
        }


async def depths(cluster: Cluster, *, scan: int = 10_000, group: str = REPLAY_GROUP) -> list[Depth]:
    """Every dead-letter topic of the catalog that exists; the reasons of at most `scan` waiting records each."""
    found: list[Depth] = []
    async with cluster.consumer() as consumer, cluster.admin() as admin:
        for topic in TOPICS:
            parts = await partitions_of(consumer, cluster.name(topic.dlq))
            if not parts:
                continue
            starts = await consumer.beginning_offsets(parts)
            ends = await consumer.end_offsets(parts)
            cursor = await _cursor(admin, consumer, parts, group)
            pending = sum(ends[tp] - cursor[tp] for tp in parts)
            letters: list[DeadLetter] = []
            truncated = False
            if pending:
                async for record in read_range(consumer, parts, cursor):
                    if len(letters) >= scan:
                        truncated = True
                        break
                    letters.append(DeadLetter.of(record))
            found.append(
                Depth(
                    topic.dlq,
                    sum(ends[tp] - starts[tp] for tp in parts),
                    pending,
                    summarize(letters),
                    complete=not truncated,
                )
            )
    return found
