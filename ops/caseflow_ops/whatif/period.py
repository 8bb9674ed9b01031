"""A recorded period: the suite's records as the broker kept them, read from Kafka or from an export file.

An export file has one JSON object per line: `topic` (the catalog's name, without prefix), `partition`,
`offset`, `timestamp_ms` (the broker's timestamp) and `event` (the event's envelope, as on the topic). Lines of
topic policies.versions carry the rules versions that decided the period (the export adds them).
"""

from __future__ import annotations

import heapq
from array import array
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO

import orjson
from aiokafka import TopicPartition

from caseflow_contracts import TOPICS, ContractError, Event, Topic, parse_event
from caseflow_contracts.topics import POLICIES_VERSIONS

from ..kafka import Cluster, partitions_of
from ..records import read_range

#: The event types each topic carries, by the topic's name (looked up for every line read).
_ACCEPT: dict[str, frozenset[str]] = {topic.name: topic.event_types for topic in TOPICS}
#: The topics of a period, read by broker time; policies.versions is read whole (see `read_versions`).
PERIOD_TOPICS = tuple(topic for topic in TOPICS if not topic.compacted)


class PeriodError(ValueError):
    """A period the replay cannot use: what is wrong and where (exit status 2)."""


@dataclass(frozen=True, slots=True)
class Recorded:
    """One record of the period: where it was, when the broker took it, and its event."""

    topic: str
    partition: int
    offset: int
    timestamp: float  # broker time, seconds since the epoch
    event: Event

    def line(self) -> bytes:
        head = orjson.dumps(
            {"topic": self.topic, "partition": self.partition, "offset": self.offset, "timestamp_ms": self.stamp_ms}
        )
        return head[:-1] + b',"event":' + self.event.to_bytes() + b"}\n"

    @property
    def stamp_ms(self) -> int:
        return round(self.timestamp * 1000)


#: A line's keys as `Recorded.line` writes them: the event last, after a catalog topic and three numbers.
_LINE_KEYS = ["topic", "partition", "offset", "timestamp_ms", "event"]
_EVENT_KEY = b',"event":'


def _event_bytes(raw: bytes, data: dict[str, object]) -> bytes:
    """The event's JSON: as it is in the line when the line is as the export writes it (nothing before it can
    hold the text of its key), else written again from what was read."""
    if list(data) == _LINE_KEYS and (start := raw.find(_EVENT_KEY)) != -1:
        return raw[start + len(_EVENT_KEY) : raw.rstrip().rfind(b"}")]
    return orjson.dumps(data["event"])


def _parse(raw: bytes, where: str) -> Recorded:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise PeriodError(f"{where}: not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PeriodError(f"{where}: expected a JSON object, got {type(data).__name__}")
    topic = data.get("topic")
    if not isinstance(topic, str) or (accept := _ACCEPT.get(topic)) is None:
        raise PeriodError(f"{where}: unknown topic {topic!r}")
    partition, offset, stamp = (data.get(k) for k in ("partition", "offset", "timestamp_ms"))
    if (
        not (isinstance(partition, int) and isinstance(offset, int) and isinstance(stamp, int))
        or min(partition, offset, stamp) < 0
    ):
        raise PeriodError(f"{where}: partition, offset and timestamp_ms must be whole numbers of 0 or more")
    if not isinstance(data.get("event"), dict):
        raise PeriodError(f"{where}: no event")
    announced = data["event"].get("type")
    try:
        event = parse_event(
            _event_bytes(raw, data), accept=accept, announced=announced if isinstance(announced, str) else None
        )
    except ContractError as exc:
        raise PeriodError(f"{where}: {exc.message}") from None
    return Recorded(topic, partition, offset, stamp / 1000, event)


def read_file(path: Path) -> list[Recorded]:
    """Every record of an export file; the first bad line stops it with its line number."""
    try:
        with path.open("rb") as lines:
            return [_parse(raw, f"{path}:{n}") for n, raw in enumerate(lines, 1) if raw.strip()]
    except OSError as exc:
        raise PeriodError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _every(record: Recorded) -> bool:
    return True


class PeriodFile:
    """A period in an export file, read twice and never held: `scan` reads it in the file's order (a first pass
    that validates every line and notes where each record it will be asked for again is: 8 bytes a record),
    `records` then reads those again, one record at a time, in the period's order (see `in_order`)."""

    def __init__(self, path: Path, since: float = float("-inf"), until: float = float("inf")) -> None:
        self.path = path
        self._wanted = (since, until)
        self._places = array("q")
        self.count = 0
        #: The rules versions that came with the period (lines of topic policies.versions: few)
        self.versions: list[Recorded] = []

    def scan(self, again: Callable[[Recorded], bool] = _every) -> Iterator[Recorded]:
        """Every record of the period in [since, until), in the file's order; the first bad line stops it with
        its line number. `records` reads again only those `again` accepts (a replay needs only its inputs:
        parsing the rest a second time would be a third of its work)."""
        low, high = self._wanted
        runs: dict[tuple[str, int], list[tuple[int, float, int, bool]]] = defaultdict(list)
        self.count = 0
        for place, record in self._lines():
            if record.topic == POLICIES_VERSIONS.name:
                self.versions.append(record)
            elif low <= record.timestamp < high:
                self.count += 1
                runs[(record.topic, record.partition)].append((record.offset, record.timestamp, place, again(record)))
                yield record
        # Ordered with every record, then filtered: which records are left out must not change the order of the
        # rest (a partition's broker times need not rise with its offsets).
        ordered = [sorted(run) for _, run in sorted(runs.items())]
        merged = heapq.merge(*ordered, key=lambda item: item[1])
        self._places = array("q", (place for _, _, place, wanted in merged if wanted))

    def records(self) -> Iterator[Recorded]:
        """The records `scan` found and was asked to read again, in the period's order, read one at a time."""
        with self.path.open("rb") as lines:
            for place in self._places:
                lines.seek(place)
                yield _parse(lines.readline(), f"{self.path}@{place}")

    def _lines(self) -> Iterator[tuple[int, Recorded]]:
        try:
            with self.path.open("rb") as lines:
                place = 0
                for n, raw in enumerate(iter(lines.readline, b""), 1):
                    if raw.strip():
                        yield place, _parse(raw, f"{self.path}:{n}")
                    place += len(raw)
        except OSError as exc:
            raise PeriodError(f"{self.path}: cannot read: {exc.strerror or exc}") from None


async def read_kafka(
    cluster: Cluster, since: datetime | None, until: datetime | None
) -> tuple[list[Recorded], Counter[str]]:
    """Every record of the catalog's topics whose broker time is in [since, until), and the records that were
    not events the services could handle, by topic and why (bad bytes, a wrong key: they dead-lettered them,
    the replay skips them)."""
    found: list[Recorded] = []
    skipped = await read_kafka_into(found.append, cluster, since, until)
    return found, skipped


async def read_kafka_into(
    keep: Callable[[Recorded], object], cluster: Cluster, since: datetime | None, until: datetime | None
) -> Counter[str]:
    """`read_kafka`, each record handed to `keep` as it comes (e.g. written to a file: nothing is held)."""
    low = since.timestamp() if since else float("-inf")
    high = until.timestamp() if until else float("inf")
    return await _read_topics(keep, cluster, PERIOD_TOPICS, lambda stamp: low <= stamp < high)


async def read_versions(cluster: Cluster) -> tuple[list[Recorded], Counter[str]]:
    """Every record on policies.versions: each rules version the services loaded, whenever."""
    found: list[Recorded] = []
    skipped = await _read_topics(found.append, cluster, (POLICIES_VERSIONS,), lambda stamp: True)
    return found, skipped


async def _read_topics(
    keep: Callable[[Recorded], object], cluster: Cluster, topics: Iterable[Topic], wanted: Callable[[float], bool]
) -> Counter[str]:
    skipped: Counter[str] = Counter()
    async with cluster.consumer() as consumer:
        parts: list[TopicPartition] = []
        for topic in topics:
            parts += await partitions_of(consumer, cluster.name(topic.name))
        starts = await consumer.beginning_offsets(parts)
        async for record in read_range(consumer, parts, starts):
            stamp = record.timestamp / 1000
            if not wanted(stamp):
                continue
            try:
                event = parse_event(record.value or b"")
            except ContractError as exc:
                skipped[f"{cluster.unprefixed(record.topic)}: {exc.code}"] += 1
                continue
            if (record.key or b"") != event.key.encode() or event.key != event.partition_key():
                skipped[f"{cluster.unprefixed(record.topic)}: key_mismatch"] += 1
                continue
            keep(Recorded(cluster.unprefixed(record.topic), record.partition, record.offset, stamp, event))
    return skipped


def split_versions(records: Iterable[Recorded]) -> tuple[list[Recorded], list[Recorded]]:
    """The period's case records, and the rules versions that came with it (an export's policies.versions lines)."""
    period: list[Recorded] = []
    versions: list[Recorded] = []
    for r in records:
        (versions if r.topic == POLICIES_VERSIONS.name else period).append(r)
    return period, versions


def in_order(records: Iterable[Recorded]) -> Iterator[Recorded]:
    """Every partition in offset order, partitions merged by broker time (ties: topic, partition)."""
    by_partition: dict[tuple[str, int], list[Recorded]] = defaultdict(list)
    for r in records:
        by_partition[(r.topic, r.partition)].append(r)
    runs = [sorted(run, key=lambda r: r.offset) for _, run in sorted(by_partition.items())]
    return heapq.merge(*runs, key=lambda r: r.timestamp)


def write_lines(records: Iterable[Recorded], out: TextIO) -> int:
    count = 0
    for r in in_order(records):
        out.write(r.line().decode())
        count += 1
    return count
