"""Creating the catalog's topics (and their dead-letter topics) on a broker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from caseflow_contracts import TOPICS
from caseflow_contracts.topics import DAY_MS, DLQ_RETENTION_DAYS

log = logging.getLogger("caseflow.topics")


def catalog_topics(prefix: str = "", *, max_partitions: int | None = None, replication: int = 1) -> list[NewTopic]:
    """Every topic of the catalog and its .dlq, as NewTopic specs."""
    specs = []
    for topic in TOPICS:
        partitions = min(topic.partitions, max_partitions) if max_partitions else topic.partitions
        configs = {"retention.ms": str(topic.retention_ms), "cleanup.policy": topic.cleanup_policy}
        specs.append(NewTopic(prefix + topic.name, partitions, replication, topic_configs=configs))
        specs.append(
            NewTopic(
                prefix + topic.dlq, 1, replication, topic_configs={"retention.ms": str(DLQ_RETENTION_DAYS * DAY_MS)}
            )
        )
    return specs


async def ensure_topics(
    bootstrap: str, prefix: str = "", *, max_partitions: int | None = None, timeout_s: float = 30, **client: Any
) -> list[str]:
    """Create what is missing; return the names created. Retries while the broker is still starting."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client)
        try:
            await admin.start()
            break
        except KafkaConnectionError:
            await admin.close()
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in catalog_topics(prefix, max_partitions=max_partitions) if t.name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
        return [t.name for t in missing]
    finally:
        await admin.close()
