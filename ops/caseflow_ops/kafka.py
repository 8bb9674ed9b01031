"""Kafka clients for the operator tools, configured like the services (same environment variables)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from caseflow_kit.settings import KitSettings, kafka_tls_context


class NoSuchTopic(LookupError):
    """The topic is not on the broker (wrong name, or a missing --topic-prefix)."""


@dataclass(frozen=True)
class Cluster:
    """Where the broker is and how to talk to it; `prefix` is prepended to every catalog topic name."""

    bootstrap: str
    prefix: str = ""
    client: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def from_settings(
        cls, settings: KitSettings, *, bootstrap: str | None = None, prefix: str | None = None
    ) -> Cluster:
        return cls(
            bootstrap or settings.kafka_bootstrap_servers,
            settings.topic_prefix if prefix is None else prefix,
            tuple(security_options(settings).items()),
        )

    def name(self, topic: str) -> str:
        return self.prefix + topic

    def unprefixed(self, name: str) -> str:
        return name.removeprefix(self.prefix)

    @property
    def options(self) -> dict[str, Any]:
        return {"bootstrap_servers": self.bootstrap, **dict(self.client)}

    @asynccontextmanager
    async def admin(self) -> AsyncIterator[AIOKafkaAdminClient]:
        admin = AIOKafkaAdminClient(**self.options)
        try:
            await admin.start()
            yield admin
        finally:
            await admin.close()

    @asynccontextmanager
    async def consumer(self, group_id: str | None = None) -> AsyncIterator[AIOKafkaConsumer]:
        """A consumer that never joins a group: partitions are assigned by hand (no rebalance wait)."""
        consumer = AIOKafkaConsumer(
            **self.options, group_id=group_id, enable_auto_commit=False, auto_offset_reset="earliest"
        )
        try:
            await consumer.start()
            yield consumer
        finally:
            await consumer.stop()

    @asynccontextmanager
    async def producer(self) -> AsyncIterator[AIOKafkaProducer]:
        producer = AIOKafkaProducer(**self.options, acks="all", linger_ms=5)
        try:
            await producer.start()
            yield producer
        finally:
            await producer.stop()


def security_options(settings: KitSettings) -> dict[str, Any]:
    """aiokafka keyword arguments for the security settings the services use."""
    protocol = settings.kafka_security_protocol
    options: dict[str, Any] = {"security_protocol": protocol}
    if context := kafka_tls_context(settings):
        options["ssl_context"] = context
    if protocol.startswith("SASL"):
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username or ""
        password = settings.kafka_sasl_password
        options["sasl_plain_password"] = password.get_secret_value() if password else ""
    return options


async def partitions_of(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """The topic's partitions (fresh metadata), or [] when the topic does not exist."""
    if topic not in await consumer.topics():
        return []
    return [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
