"""Reading a topic's records between two positions, without joining a consumer group."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import TypeAlias

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

Record: TypeAlias = ConsumerRecord[bytes, bytes]


async def read_range(
    consumer: AIOKafkaConsumer,
    parts: list[TopicPartition],
    start: Mapping[TopicPartition, int],
    *,
    poll_ms: int = 200,
) -> AsyncIterator[Record]:
    """Every record from `start` up to each partition's end as it was when called, in partition order.

    The end offsets the broker gives are a floor, not the end: Tansu (0.6) answers a partition whose last
    batch holds several records with that batch's first offset + 1. So a partition ends when a fetch past
    that offset brings nothing more, or a record the broker took after this call began.
    """
    called_ms = time.time() * 1000
    ends = await consumer.end_offsets(parts)
    pending = {tp for tp in parts if start[tp] < ends[tp]}
    if not pending:
        return
    consumer.assign(sorted(pending, key=lambda tp: tp.partition))
    for tp in pending:
        consumer.seek(tp, start[tp])
    while pending:
        batch = await consumer.getmany(*pending, timeout_ms=poll_ms)
        for tp, records in sorted(batch.items(), key=lambda item: item[0].partition):
            for record in records:
                if record.offset >= ends[tp] and record.timestamp > called_ms:
                    pending.discard(tp)
                    break
                yield record
        for tp in list(pending):  # gaps (transaction markers, compaction) end a partition too
            if not batch.get(tp) and await consumer.position(tp) >= ends[tp]:
                pending.discard(tp)


async def follow(
    consumer: AIOKafkaConsumer, parts: list[TopicPartition], *, from_beginning: bool, poll_ms: int = 200
) -> AsyncGenerator[Record, None]:
    """Records as they arrive (from the start, or only new ones), forever."""
    consumer.assign(parts)
    if from_beginning:
        await consumer.seek_to_beginning(*parts)
    else:
        await consumer.seek_to_end(*parts)
    while True:
        batch = await consumer.getmany(*parts, timeout_ms=poll_ms)
        for _tp, records in sorted(batch.items(), key=lambda item: item[0].partition):
            for record in records:
                yield record
