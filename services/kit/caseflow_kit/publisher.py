"""The outbox relay's producer: record batches straight through aiokafka, one per partition per flush.

Publishing through the broker object one message at a time costs more than handling the
event did; this keeps the same contract (topic, key, value, headers of each row; partition
by the Kafka default partitioner on the key, so a case stays on one partition) and sends
each flush as one record batch per partition.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from faststream.kafka.security import parse_security

from .settings import KitSettings, kafka_security
from .store import OutboxMessage


class BatchPublisher:
    def __init__(self, settings: KitSettings, *, client_id: str) -> None:
        security = kafka_security(settings)
        self._config: dict[str, Any] = {
            "bootstrap_servers": settings.kafka_bootstrap_servers,
            "client_id": client_id,
            "linger_ms": 0,
            "enable_idempotence": settings.kafka_idempotence,
            **(parse_security(security) if security is not None else {}),
        }
        self._partitioner = DefaultPartitioner()
        self._running: AIOKafkaProducer | None = None

    @property
    def _producer(self) -> AIOKafkaProducer:
        if self._running is None:
            raise RuntimeError("the publisher is not started")
        return self._running

    async def start(self) -> None:
        """Connect on first use (a service that never publishes never connects)."""
        if self._running is None:
            producer = AIOKafkaProducer(**self._config)
            await producer.start()
            self._running = producer

    async def stop(self) -> None:
        if self._running is not None:
            producer, self._running = self._running, None
            await producer.stop()

    async def _partitions(self, topic: str) -> list[int]:
        partitions = self._producer.client.cluster.partitions_for_topic(topic)
        while not partitions:
            await self._producer.client.force_metadata_update()
            partitions = self._producer.client.cluster.partitions_for_topic(topic)
            if not partitions:
                await asyncio.sleep(0.05)
        return sorted(partitions)

    async def publish(self, messages: Sequence[OutboxMessage]) -> None:
        """Publish in order per partition and wait until the broker acknowledged every record."""
        await self.start()
        by_partition: dict[tuple[str, int], list[OutboxMessage]] = defaultdict(list)
        for message in messages:
            partitions = await self._partitions(message.topic)
            key = message.key.encode()
            partition = self._partitioner(key, partitions, partitions)
            by_partition[(message.topic, partition)].append(message)
        pending: list[Any] = []
        for (topic, partition), rows in by_partition.items():
            batch = self._producer.create_batch()
            for row in rows:
                headers = [(name, value.encode()) for name, value in row.headers.items()]
                if batch.append(key=row.key.encode(), value=row.value, timestamp=None, headers=headers) is None:
                    pending.append(await self._producer.send_batch(batch, topic, partition=partition))
                    batch = self._producer.create_batch()
                    batch.append(key=row.key.encode(), value=row.value, timestamp=None, headers=headers)
            pending.append(await self._producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*pending)
