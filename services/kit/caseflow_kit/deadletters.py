"""Dead letters: the original record, why it was refused, and where it came from, bounded in size.

Every dead letter is built here, whoever refuses the record (the consumer, a handler, notify's
worker giving up on a delivery). The original value and headers travel whole while the dead letter
stays well under the broker's record limit; beyond that the original bytes are kept in the service's
store (collection `_dead_letter_bodies`, by SHA-256) and the record carries a reference, the hash and
the size instead, so that a dead letter can always be published and never blocks what follows it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from .logs import scrub
from .store import Collection, Doc, OutboxMessage

BODIES = "_dead_letter_bodies"
BODIES_COLLECTION = Collection(BODIES)
DETAIL_LIMIT = 2000


@dataclass(frozen=True)
class Origin:
    """The record being refused, as it arrived."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


@dataclass(frozen=True)
class DeadLetter:
    message: OutboxMessage
    stashed_body: Doc | None


def build(
    origin: Origin,
    *,
    dlq_topic: str,
    reason: str,
    detail: str,
    consumer: str,
    at: datetime,
    slot: int,
    inline_limit: int,
) -> DeadLetter:
    value = origin.value or b""
    original = [[name, base64.b64encode(raw).decode()] for name, raw in origin.headers or ()]
    headers = {name: raw.decode("utf-8", "replace") for name, raw in origin.headers or ()}
    headers.update(
        {
            "x-dlq-reason": reason,
            "x-dlq-detail": scrub(detail)[:DETAIL_LIMIT],
            "x-dlq-consumer": consumer,
            "x-dlq-original-topic": origin.topic,
            "x-dlq-original-partition": str(origin.partition),
            "x-dlq-original-offset": str(origin.offset),
            "x-dlq-original-headers": json.dumps(original),
            "x-dlq-at": at.isoformat(),
        }
    )
    key = (origin.key or b"").decode("utf-8", "replace")
    if _size(key, value, headers) <= inline_limit:
        return DeadLetter(OutboxMessage(dlq_topic, key, value, headers, slot=slot), None)
    digest = hashlib.sha256(value + json.dumps(original).encode()).hexdigest()
    kept = {k: v for k, v in headers.items() if k.startswith("x-dlq-") and k != "x-dlq-original-headers"}
    kept.update(
        {
            "x-dlq-body-ref": f"{BODIES}/{digest}",
            "x-dlq-body-sha256": digest,
            "x-dlq-body-bytes": str(len(value)),
        }
    )
    stash = {
        "_id": digest,
        "value": base64.b64encode(value).decode(),
        "headers": original,
        "topic": origin.topic,
        "partition": origin.partition,
        "offset": origin.offset,
        "reason": reason,
        "at": at.isoformat(),
    }
    return DeadLetter(OutboxMessage(dlq_topic, key[:256], b"", kept, slot=slot), stash)


def _size(key: str, value: bytes, headers: dict[str, str]) -> int:
    return len(key.encode()) + len(value) + sum(len(k.encode()) + len(v.encode()) for k, v in headers.items())
