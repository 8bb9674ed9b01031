"""The fault drill: a faulty run reconciles with a clean run of the same day (see caseflow_dev.faults)."""

from __future__ import annotations

from pathlib import Path

from caseflow_dev.broker import EmbeddedBroker
from caseflow_dev.faults import differences, drill, report


async def test_kills_a_rebalance_and_a_broker_freeze_change_no_outcome(broker: EmbeddedBroker, tmp_path: Path) -> None:
    clean = await drill(broker, tmp_path / "clean", cases=24, faults=False, settle_s=15)
    faulty = await drill(broker, tmp_path / "faulty", cases=24, faults=True, settle_s=15)
    print(report(clean, faulty))
    assert clean.per_waybill, "the clean run opened no case"
    assert differences(clean, faulty) == []
    assert faulty.duplicates == []
    assert faulty.lost == []
    assert clean.duplicates == []
    assert sum(clean.dead.values()) == sum(faulty.dead.values()) > 0
    assert faulty.counts["payout.issued"] == clean.counts["payout.issued"] > 0
