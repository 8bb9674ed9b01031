"""Reading a partition to its end on the real broker, including a last batch of several records (Tansu answers
its end offset with the batch's first offset + 1)."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from caseflow_contracts.topics import QA_SCORECARD
from caseflow_dev.testing import KafkaTestKit
from caseflow_ops.records import read_range


async def test_every_record_of_a_last_batch_is_read(kafka: KafkaTestKit) -> None:
    name = kafka.topic(QA_SCORECARD)
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, linger_ms=50)
    await producer.start()
    try:
        for value in (b"a", b"b", b"c"):  # one batch
            await producer.send(name, value, partition=0)
        await producer.flush()
        await producer.send_and_wait(name, b"x", partition=1)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [TopicPartition(name, 0), TopicPartition(name, 1)]
        read = [(r.partition, r.value) async for r in read_range(consumer, parts, dict.fromkeys(parts, 0))]
    finally:
        await consumer.stop()
    assert read == [(0, b"a"), (0, b"b"), (0, b"c"), (1, b"x")]
