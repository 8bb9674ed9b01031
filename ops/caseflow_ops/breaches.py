"""Tail the breach topic: every sla.breached event as one JSON line."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from caseflow_contracts.topics import SLA_BREACHES

from .kafka import Cluster, NoSuchTopic, partitions_of
from .records import Record, follow


def breach_view(record: Record) -> dict[str, Any]:
    """The event as published, plus where it sits; bytes that are not JSON are shown as such."""
    try:
        event = json.loads(record.value or b"")
    except ValueError:
        event = {"unparsed": (record.value or b"").decode("utf-8", "replace")}
    return {"partition": record.partition, "offset": record.offset, "event": event}


async def tail(
    cluster: Cluster,
    *,
    from_beginning: bool = False,
    count: int | None = None,
    idle_timeout_s: float | None = None,
    topic: str = SLA_BREACHES.name,
) -> AsyncIterator[dict[str, Any]]:
    """Breaches as they arrive; stops after `count` of them or `idle_timeout_s` without one."""
    name = cluster.name(topic)
    seen = 0
    async with cluster.consumer() as consumer:
        parts = await partitions_of(consumer, name)
        if not parts:
            raise NoSuchTopic(f"no topic {name}")
        stream = follow(consumer, parts, from_beginning=from_beginning)
        while count is None or seen < count:
            try:
                record = await asyncio.wait_for(anext(stream), idle_timeout_s)
            except TimeoutError:
                break
            seen += 1
            yield breach_view(record)
        await stream.aclose()
