"""Consumer lag per group, topic and partition: the end offset minus the group's committed offset."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aiokafka import TopicPartition

from .catalog import GroupTopics
from .kafka import Cluster, partitions_of


@dataclass(frozen=True)
class PartitionLag:
    partition: int
    committed: int | None  # None: the group has committed nothing here yet
    start: int
    end: int

    @property
    def lag(self) -> int:
        return self.end - (self.committed if self.committed is not None else self.start)


@dataclass(frozen=True)
class TopicLag:
    group: str
    topic: str
    partitions: tuple[PartitionLag, ...]

    @property
    def lag(self) -> int:
        return sum(p.lag for p in self.partitions)

    @property
    def committed(self) -> bool:
        return any(p.committed is not None for p in self.partitions)

    def as_dict(self) -> dict[str, object]:
        return {
            "group": self.group,
            "topic": self.topic,
            "lag": self.lag,
            "partitions": [
                {"partition": p.partition, "committed": p.committed, "end": p.end, "lag": p.lag}
                for p in self.partitions
            ],
        }


async def consumer_lag(cluster: Cluster, groups: Mapping[str, GroupTopics]) -> list[TopicLag]:
    """Lag of each group on each of its topics: its own topics always, others only once it committed there.

    Offsets are fetched for explicit partitions: Tansu answers the "all partitions
    of the group" form of OffsetFetch with a response aiokafka cannot decode.
    """
    found: list[TopicLag] = []
    async with cluster.consumer() as consumer, cluster.admin() as admin:
        for group, wanted in groups.items():
            parts: list[TopicPartition] = []
            for topic in wanted.topics:
                parts += await partitions_of(consumer, cluster.name(topic))
            if not parts:
                continue
            committed = await admin.list_consumer_group_offsets(group, partitions=parts)
            ends = await consumer.end_offsets(parts)
            starts = await consumer.beginning_offsets(parts)
            for topic in wanted.topics:
                name = cluster.name(topic)
                rows = tuple(
                    PartitionLag(
                        tp.partition,
                        committed[tp].offset if tp in committed and committed[tp].offset >= 0 else None,
                        starts[tp],
                        ends[tp],
                    )
                    for tp in parts
                    if tp.topic == name
                )
                lag = TopicLag(group, topic, rows)
                if rows and (lag.committed or wanted.own):
                    found.append(lag)
    return found
