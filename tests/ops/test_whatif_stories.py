"""A case's story: the records linked to it by causation, kept whole when a period is split across processes."""

from __future__ import annotations

from caseflow_contracts import parse_event
from caseflow_ops.whatif.period import Recorded
from caseflow_ops.whatif.split import shards
from caseflow_ops.whatif.stories import Memory, stories
from tests.contracts.examples import encode, example


def record(event_type: str, event_id: str, key: str, cause: str | None = None, offset: int = 0) -> Recorded:
    document = example(event_type)
    document.update(event_id=event_id, key=key, causation_id=cause)
    return Recorded("any", 0, offset, float(offset), parse_event(encode(document)))


def period() -> list[Recorded]:
    return [
        record("parcel.exception_reported", "up-1", "SF1"),
        record("case.opened", "ev-1", "CF-A", cause="up-1", offset=1),
        record("customer.contacted", "up-2", "PO-9", offset=2),
        record("case.merged", "ev-2", "CF-A", cause="up-2", offset=3),
        record("parcel.exception_reported", "up-3", "SF2", offset=4),
        record("case.opened", "ev-3", "CF-B", cause="up-3", offset=5),
    ]


def test_records_linked_by_causation_are_one_story() -> None:
    story = stories(period())
    assert story["SF1"] == story["CF-A"] == story["PO-9"]
    assert story["SF2"] == story["CF-B"] != story["CF-A"]


def test_a_split_keeps_every_story_whole_and_in_order() -> None:
    for count in (1, 2, 3):
        parts = shards(period(), count)
        assert sorted(r.offset for part in parts for r in part) == list(range(6))
        for part in parts:
            keys = {r.event.key for r in part}
            assert {"SF1", "CF-A", "PO-9"} <= keys or not keys & {"SF1", "CF-A", "PO-9"}
            assert [r.offset for r in part] == sorted(r.offset for r in part)


def test_a_story_is_over_when_its_last_work_is_done() -> None:
    memory = Memory(stories(period()), {})
    a = memory.story("CF-A")
    memory.more(a)
    memory.more(a)
    assert not memory.done(a)
    assert memory.done(a)
    assert memory.story("unknown-key") == "unknown-key"  # an event only a candidate made: its own story
