"""An export file read twice: the second read gives the records asked for again, in the period's order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from caseflow_contracts import parse_event
from caseflow_ops.whatif.period import PeriodError, PeriodFile, Recorded, in_order
from tests.contracts.examples import example


def test_a_second_read_of_some_records_keeps_the_order_of_the_whole_period(tmp_path: Path) -> None:
    # Broker times need not rise with offsets: partition 0 holds 10 s, then 1 s, then 3 s; partition 1 holds 2 s.
    # Merged whole, the period reads 2 s (p1) before 10 s, 1 s, 3 s (p0); left out, the 10 s record would let
    # the 1 s one go first: the order must come from the whole period, then be filtered.
    stamps = {(0, 0): 10_000, (0, 1): 1_000, (0, 2): 3_000, (1, 0): 2_000}
    lines = []
    for (partition, offset), stamp in stamps.items():
        event = {**example("case.opened"), "event_id": f"ev-{partition}-{offset}"}
        lines.append(
            json.dumps(
                {
                    "topic": "cases.lifecycle",
                    "partition": partition,
                    "offset": offset,
                    "timestamp_ms": stamp,
                    "event": event,
                }
            )
        )
    path = tmp_path / "period.jsonl"
    path.write_text("\n".join(lines) + "\n")

    def again(record: Recorded) -> bool:
        return record.event.event_id != "ev-0-0"

    period = PeriodFile(path)
    scanned = list(period.scan(again=again))
    whole = [r.event.event_id for r in in_order(scanned)]
    assert whole == ["ev-1-0", "ev-0-0", "ev-0-1", "ev-0-2"]
    assert [r.event.event_id for r in period.records()] == [i for i in whole if i != "ev-0-0"]
    assert period.count == 4  # the period's size, not what is read again


def test_a_line_reads_the_same_however_it_is_written(tmp_path: Path) -> None:
    # The export's own lines are read from their bytes (the event last); any other writing is read as JSON.
    record = Recorded("cases.lifecycle", 3, 7, 1764000000.123, parse_event(json.dumps(example("case.opened")).encode()))
    as_exported = record.line()
    head = {"topic": "cases.lifecycle", "partition": 3, "offset": 7, "timestamp_ms": 1764000000123}
    event = json.loads(record.event.to_bytes())
    variants = [
        as_exported,
        as_exported.rstrip(b"\n") + b"  \r\n",
        (json.dumps({**head, "event": event}, ensure_ascii=False) + "\n").encode(),
        (json.dumps({"event": event, **head}) + "\n").encode(),
    ]
    path = tmp_path / "period.jsonl"
    path.write_bytes(b"".join(variants))
    assert list(PeriodFile(path).scan()) == [record] * len(variants)


def test_an_exported_line_whose_event_does_not_validate_is_named(tmp_path: Path) -> None:
    record = Recorded("cases.lifecycle", 0, 1, 1764000000.0, parse_event(json.dumps(example("case.opened")).encode()))
    path = tmp_path / "period.jsonl"
    path.write_bytes(record.line() + record.line().replace(b'"case_id":"', b'"case_id":"not a case '))
    with pytest.raises(PeriodError, match=r"period.jsonl:2: .*case_id"):
        list(PeriodFile(path).scan())
