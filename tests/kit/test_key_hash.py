"""Which partition and slot a key goes to: the default partitioner's answer, from the kept hash as from a fresh one."""

from __future__ import annotations

import pytest
from aiokafka.partitioner import DefaultPartitioner

from caseflow_kit.ownership import partition_of_key, slot_of_key

KEYS = ["CF-20261205-8F3A2B1C", "", "7", "客户-王小明", "x" * 300]


@pytest.mark.parametrize("count", [1, 6, 7, 12, 36])
def test_a_keys_partition_is_the_default_partitioners(count: int) -> None:
    partitions = list(range(count))
    default = DefaultPartitioner()
    for key in KEYS:
        expected = default(key.encode(), partitions, partitions)
        assert partition_of_key(key, partitions) == expected
        assert partition_of_key(key, partitions) == expected  # again, from the kept hash
        assert slot_of_key(key, count) == expected


def test_a_slot_groups_the_partitions_that_agree_across_topics() -> None:
    """Partition p of a 12- and of a 6-partition topic is slot p mod 6: a key's partitions land in one slot."""
    default = DefaultPartitioner()
    for key in KEYS:
        of_12 = default(key.encode(), list(range(12)), list(range(12)))
        of_6 = default(key.encode(), list(range(6)), list(range(6)))
        assert of_12 % 6 == of_6 == slot_of_key(key, 6)
