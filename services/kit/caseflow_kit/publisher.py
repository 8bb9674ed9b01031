"""The outbox relay's producer: record batches straight through aiokafka, one per partition per flush.

Publishing through the broker object one message at a time costs more than handling the
event did; this keeps the same contract (topic, key, value, headers of each row; partition
by the Kafka default partitioner on the key, so a case stays on one partition) and sends
each flush as record batches per partition.

It reports, message by message, what became of a flush: acknowledged, refused for good
(the record itself can never be accepted: too large, corrupt), or not sent this time
(the broker could not be reached, a partition had no leader...). A partition stops at its
first failure, so nothing after an unsent record is published before it.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    CorruptRecordException,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)
from faststream.kafka.security import parse_security

from .ownership import partition_of_key
from .settings import KitSettings, kafka_security
from .store import OutboxMessage

#: Errors about the record itself: sending it again can never work.
REFUSED_FOR_GOOD = (MessageSizeTooLargeError, RecordTooLargeError, RecordListTooLargeError, CorruptRecordException)
#: Bytes a record adds to its key, value and headers in a batch (lengths, offsets, attributes): an upper bound.
RECORD_OVERHEAD = 128


def record_size(message: OutboxMessage) -> int:
    headers = sum(len(name.encode()) + len(value.encode()) + 8 for name, value in message.headers.items())
    return len(message.key.encode()) + len(message.value) + headers + RECORD_OVERHEAD


@dataclass
class Published:
    """What became of each message of a flush, by its index in the flush."""

    sent: list[int] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)
    unsent: list[int] = field(default_factory=list)
    error: BaseException | None = None


class BatchPublisher:
    def __init__(self, settings: KitSettings, *, client_id: str) -> None:
        security = kafka_security(settings)
        self.max_request_size = settings.max_request_size
        self._config: dict[str, Any] = {
            "bootstrap_servers": settings.kafka_bootstrap_servers,
            "client_id": client_id,
            "linger_ms": 0,
            "enable_idempotence": settings.kafka_idempotence,
            "max_request_size": settings.max_request_size,
            **(parse_security(security) if security is not None else {}),
        }
        self._running: AIOKafkaProducer | None = None
        self._starting = asyncio.Lock()

    @property
    def _producer(self) -> AIOKafkaProducer:
        if self._running is None:
            raise RuntimeError("the publisher is not started")
        return self._running

    async def start(self) -> None:
        """Connect on first use (a service that never publishes never connects); once, however many ask."""
        async with self._starting:
            if self._running is None:
                producer = AIOKafkaProducer(**self._config)
                await producer.start()
                self._running = producer

    async def stop(self) -> None:
        if self._running is not None:
            producer, self._running = self._running, None
            await producer.stop()

    async def partitions(self, topic: str) -> list[int]:
        await self.start()
        partitions = self._producer.client.cluster.partitions_for_topic(topic)
        while not partitions:
            await self._producer.client.force_metadata_update()
            partitions = self._producer.client.cluster.partitions_for_topic(topic)
            if not partitions:
                await asyncio.sleep(0.05)
        return sorted(partitions)

    async def publish(self, messages: Sequence[OutboxMessage]) -> Published:
        """Publish in order per partition; wait until the broker acknowledged what it accepted."""
        await self.start()
        result = Published()
        by_partition: dict[tuple[str, int], list[int]] = defaultdict(list)
        for index, message in enumerate(messages):
            if record_size(message) > self.max_request_size:
                result.refused[index] = "oversized"
                continue
            partitions = await self.partitions(message.topic)
            partition = partition_of_key(message.key, partitions)
            by_partition[(message.topic, partition)].append(index)
        await asyncio.gather(
            *(
                self._send_partition(topic, partition, indexes, messages, result)
                for (topic, partition), indexes in by_partition.items()
            )
        )
        return result

    async def _send_partition(
        self, topic: str, partition: int, indexes: list[int], messages: Sequence[OutboxMessage], result: Published
    ) -> None:
        pending = list(indexes)
        alone = False  # after a refused batch: one record at a time, to find the culprit
        while pending:
            batch, chunk = self._next_batch(pending[:1] if alone else pending, messages)
            try:
                await (await self._producer.send_batch(batch, topic, partition=partition))
            except REFUSED_FOR_GOOD as exc:
                if len(chunk) > 1:
                    alone = True
                    continue
                result.refused[chunk[0]] = type(exc).__name__
            except Exception as exc:  # noqa: BLE001 - anything else: try again later, in the same order
                result.unsent += pending
                result.error = exc
                return
            else:
                result.sent += chunk
            pending = pending[len(chunk) :]

    def _next_batch(self, pending: list[int], messages: Sequence[OutboxMessage]) -> tuple[Any, list[int]]:
        """As many records from the head as one batch takes (the first always fits)."""
        batch = self._producer.create_batch()
        taken: list[int] = []
        for index in pending:
            message = messages[index]
            headers = [(name, value.encode()) for name, value in message.headers.items()]
            if batch.append(key=message.key.encode(), value=message.value, timestamp=None, headers=headers) is None:
                break
            taken.append(index)
        return batch, taken
