"""Test helpers over the real broker: unique topics per test, publish, collect."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import inspect
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import httpx
import jwt
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord

from caseflow_contracts import Event, Topic, topic_for
from caseflow_kit import Runtime
from caseflow_kit.settings import KitSettings, token_verifier
from caseflow_kit.topics import ensure_topics
from caseflow_kit.uow import event_headers
from caseflow_ops.tokens import LocalIssuer

S = TypeVar("S", bound=KitSettings)


async def until(
    condition: Callable[[], object | Awaitable[object]], timeout_s: float = 60, what: str = "the condition"
) -> None:
    """Poll, bounded, for something real I/O brings about (a server's own timer, another process): never a
    fixed sleep that hopes it was long enough. The condition may be a coroutine function (an HTTP read)."""
    deadline = time.monotonic() + timeout_s
    while not await _holds(condition):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not come about within {timeout_s} s")
        await asyncio.sleep(0.02)


async def _holds(condition: Callable[[], object | Awaitable[object]]) -> object:
    result = condition()
    return await result if inspect.isawaitable(result) else result


@dataclass
class KafkaTestKit:
    """One test's slice of the shared broker: its own topic prefix, consumer group and data folder."""

    bootstrap: str
    data_dir: Path
    prefix: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:10]}.")
    _producer: AIOKafkaProducer | None = None

    async def create_topics(self) -> None:
        await ensure_topics(self.bootstrap, self.prefix, max_partitions=3)

    def settings(self, settings_type: type[S], **overrides: Any) -> S:
        """Settings for a service under test: this test's broker slice, group and data folder."""
        values: dict[str, Any] = {
            "kafka_bootstrap_servers": self.bootstrap,
            "topic_prefix": self.prefix,
            "data_dir": self.data_dir,
            "group_id": f"{self.prefix}group",
            "retry_backoff_ms": 10,
            "outbox_interval_ms": 50,
            "log_format": "console",
            **self.issuer.settings(),
        }
        values.update(overrides)
        return settings_type.model_validate(values)

    def env(self, **extra: str) -> dict[str, str]:
        """The same, as environment variables for a service run as a subprocess."""
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "CASEFLOW_TOPIC_PREFIX": self.prefix,
            "CASEFLOW_DATA_DIR": str(self.data_dir),
            "CASEFLOW_LOG_FORMAT": "json",
            **self.issuer.env(),
            **extra,
        }

    @property
    def issuer(self) -> LocalIssuer:
        """This test's own token issuer (a key pair in its data folder); services under test trust it."""
        return LocalIssuer.ensure(self.data_dir)

    def auth(self, *roles: str, subject: str = "tester-1", stations: Sequence[str] = ()) -> dict[str, str]:
        """An Authorization header with a fresh token of this test's issuer."""
        return {"Authorization": "Bearer " + self.issuer.mint(subject, list(roles), list(stations))}

    def topic(self, topic: Topic) -> str:
        return self.prefix + topic.name

    async def producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=1)
            await self._producer.start()
        return self._producer

    async def publish(self, event: Event, *, topic: Topic | None = None) -> None:
        """Publish an event the way an upstream producer would."""
        producer = await self.producer()
        name = self.topic(topic or topic_for(type(event)))
        headers = [(k, v.encode()) for k, v in event_headers(event).items()]
        await producer.send_and_wait(name, event.to_bytes(), key=event.key.encode(), headers=headers)

    async def publish_raw(
        self, topic: Topic, value: bytes, *, key: bytes | None = b"raw", headers: Sequence[tuple[str, bytes]] = ()
    ) -> None:
        producer = await self.producer()
        await producer.send_and_wait(self.topic(topic), value, key=key, headers=list(headers))

    async def collect(
        self, topic: Topic | str, count: int, *, timeout_s: float = 30, dlq: bool = False
    ) -> list[ConsumerRecord[bytes, bytes]]:
        """Read a topic from the beginning until `count` records arrived (or time out and return what came)."""
        name = topic if isinstance(topic, str) else self.topic(topic)
        if dlq:
            name += ".dlq"
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50)
        await consumer.start()
        try:
            deadline = time.monotonic() + timeout_s
            partitions = consumer.partitions_for_topic(name)
            while partitions is None:
                if time.monotonic() > deadline:
                    raise AssertionError(f"topic {name} unknown to the broker after {timeout_s} s")
                await consumer.topics()
                partitions = consumer.partitions_for_topic(name)
                await asyncio.sleep(0.05)
            assigned = [TopicPartition(name, p) for p in partitions]
            consumer.assign(assigned)
            await consumer.seek_to_beginning(*assigned)
            records: list[ConsumerRecord[bytes, bytes]] = []
            while len(records) < count and time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=100)
                for part in batch.values():
                    records.extend(part)
            return records
        finally:
            await consumer.stop()

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged_tokens(issuer: LocalIssuer, roles: Sequence[str], elsewhere: Path) -> dict[str, str]:
    """Tokens a service must refuse with 401, each carrying `roles`: the attacks the edge is tested against."""
    claims = {"iss": issuer.issuer, "aud": issuer.audience, "sub": "mallory", "roles": list(roles)}
    now = int(time.time())
    unsigned = _b64(b'{"alg":"none","typ":"JWT"}') + "." + _b64(json.dumps({**claims, "exp": now + 600}).encode()) + "."
    # HMAC "signed" with the issuer's public key as the secret: the classic key-confusion attack.
    confused = jwt.encode({**claims, "exp": now + 600}, "k" * 32, algorithm="HS256")
    confused = (
        confused.rsplit(".", 1)[0]
        + "."
        + _b64(
            hmac.new(issuer.public_key_file.read_bytes(), confused.rsplit(".", 1)[0].encode(), hashlib.sha256).digest()
        )
    )
    return {
        "garbage": "not-a-token",
        "alg_none": unsigned,
        "hmac_with_public_key": confused,
        "expired": issuer.mint("mallory", list(roles), ttl_s=60, now=now - 3600),
        "not_yet_valid": issuer.mint("mallory", list(roles), ttl_s=600, now=now + 3600),
        "wrong_issuer": replace(issuer, issuer="https://evil.example").mint("mallory", list(roles)),
        "wrong_audience": replace(issuer, audience="another-api").mint("mallory", list(roles)),
        "other_key": LocalIssuer.ensure(elsewhere).mint("mallory", list(roles)),
    }


def edge_client(runtime: Runtime[Any, Any], issuer: LocalIssuer) -> httpx.AsyncClient:
    """The service's HTTP edge in this process, without its lifespan (a harness runs the runtime),
    trusting `issuer`: endpoint tests over a store the test fills itself."""
    runtime.edge.verifier = token_verifier(KitSettings.model_validate(issuer.settings()))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=runtime.asgi()), base_url="http://edge")
