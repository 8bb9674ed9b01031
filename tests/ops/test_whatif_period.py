"""An export file read twice: the second read gives the records asked for again, in the period's order."""

from __future__ import annotations

import json
from pathlib import Path

from caseflow_ops.whatif.period import PeriodFile, Recorded, in_order
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
