"""Who publishes what: one owner per slot, so a case's events leave in the order they were committed.

A service's input topics are all keyed so that one key's records sit on partition numbers that agree
across topics (the default partitioner, murmur2(key) mod partitions). Their partitions are grouped
into `slots`: partition p of any input topic is slot p mod S, where S divides every input topic's
partition count (the greatest common divisor). The consumer group assigns whole slots (all topics'
partitions of a slot go to one member), and every outbox row remembers its slot:
- a row written while handling a record belongs to that record's slot;
- a row written outside a consumer (a timer, an HTTP command, a delivery worker) belongs to the slot
  of its key, which for case-keyed topics is the slot of every record of that case.
Only the member that holds a slot publishes its rows, in commit order; before it consumes a slot it
was just given, it publishes what the slot's previous holder left in the store. Nothing is ever
republished on a guess about whether someone else is still alive.
"""

from __future__ import annotations

import collections
import functools
import math
from collections.abc import Iterable, Mapping, Sequence

from aiokafka.cluster import ClusterMetadata
from aiokafka.coordinator.assignors.abstract import AbstractPartitionAssignor
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment, ConsumerProtocolMemberMetadata
from aiokafka.partitioner import murmur2


def slot_count(partition_counts: Iterable[int]) -> int:
    """The number of slots for input topics with these partition counts."""
    counts = list(partition_counts)
    if not counts or min(counts) < 1:
        raise ValueError(f"input topics need partitions, got {counts}")
    return math.gcd(*counts)


@functools.lru_cache(maxsize=16_384)
def key_hash(key: str) -> int:
    """What the default partitioner (murmur2, as Kafka's Java client) makes of a key: its partition is this modulo
    the topic's partition count. Kept for the keys seen lately: aiokafka's murmur2 is pure Python (3-5 us a key),
    and a case's key is hashed again at each step of its story (its slot, each event published)."""
    hashed: int = murmur2(key.encode())
    return hashed & 0x7FFFFFFF


def partition_of_key(key: str, partitions: Sequence[int]) -> int:
    """The partition the default partitioner puts a key on, of a topic's `partitions` (in their order)."""
    return partitions[key_hash(key) % len(partitions)]


def slot_of_key(key: str, slots: int) -> int:
    """The slot of a key: the same as the slot of the partition the default partitioner puts it on."""
    return key_hash(key) % slots


class Ownership:
    """The slots this process holds now; the relay publishes only their rows."""

    def __init__(self) -> None:
        self.count: int | None = None
        self.owned: frozenset[int] = frozenset()

    def configure(self, count: int) -> None:
        if self.count is not None and self.count != count:
            raise RuntimeError(f"the input topics changed from {self.count} to {count} slots while running")
        self.count = count

    @property
    def known(self) -> bool:
        return self.count is not None

    def slot_of_key(self, key: str) -> int:
        if self.count is None:
            raise RuntimeError("slots are known once the input topics' partitions are")
        return slot_of_key(key, self.count)

    def slot_of_partition(self, partition: int) -> int:
        if self.count is None:
            raise RuntimeError("slots are known once the input topics' partitions are")
        return partition % self.count

    def slots_of(self, partitions: Iterable[int]) -> frozenset[int]:
        return frozenset(self.slot_of_partition(p) for p in partitions)

    def own_everything(self, count: int) -> None:
        """A process alone, with no consumer group (tests of one handler, in-process replays)."""
        self.configure(count)
        self.owned = frozenset(range(count))


class SlotAssignor(AbstractPartitionAssignor):  # type: ignore[misc]
    """Assigns whole slots: every input topic's partitions of one slot to the same member.

    Members are taken in a fixed order and slots dealt round-robin, so every member computes the same
    answer. With more members than slots the extra members hold nothing (standbys).
    """

    name = "caseflow-slots"
    version = 0

    @classmethod
    def assign(
        cls, cluster: ClusterMetadata, members: Mapping[str, ConsumerProtocolMemberMetadata]
    ) -> dict[str, ConsumerProtocolMemberAssignment]:
        topics = sorted({topic for metadata in members.values() for topic in metadata.subscription})
        partitions = {topic: sorted(cluster.partitions_for_topic(topic) or ()) for topic in topics}
        known = [len(p) for p in partitions.values() if p]
        assignment: dict[str, dict[str, list[int]]] = collections.defaultdict(dict)
        if known:
            slots = slot_count(known)
            order = sorted(members)
            owner = {slot: order[slot % len(order)] for slot in range(slots)}
            for topic in topics:
                for partition in partitions[topic]:
                    member = owner[partition % slots]
                    if topic in members[member].subscription:
                        assignment[member].setdefault(topic, []).append(partition)
        return {
            member: ConsumerProtocolMemberAssignment(cls.version, sorted(assignment[member].items()), b"")
            for member in members
        }

    @classmethod
    def metadata(cls, topics: Iterable[str]) -> ConsumerProtocolMemberMetadata:
        return ConsumerProtocolMemberMetadata(cls.version, sorted(topics), b"")

    @classmethod
    def on_assignment(cls, assignment: ConsumerProtocolMemberAssignment) -> None:
        return None
