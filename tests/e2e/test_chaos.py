"""The chaos run, short form: two replicas of every service, kill -9 of a replica of each service in turn
and a broker freeze change no outcome, duplicate nothing, lose nothing and reorder no story
(see caseflow_dev.chaos; `python -m caseflow_dev.chaos` is the ten-minute form)."""

from __future__ import annotations

from pathlib import Path

from caseflow_dev.broker import EmbeddedBroker
from caseflow_dev.chaos import SERVICES, Chaos, problems, report, run


async def test_kills_rebalances_and_a_broker_freeze_change_nothing(broker: EmbeddedBroker, tmp_path: Path) -> None:
    clean = await run(broker, tmp_path / "clean", cases=24)
    # slower traffic in the chaotic run (the same traffic): the monkey gets half a minute to work in, kills a
    # replica of every service, in a random order, and freezes the broker once
    chaos = Chaos(kill_every_s=3, pause_s=4, pause_after_s=8, kills=len(SERVICES))
    chaotic = await run(broker, tmp_path / "chaotic", cases=24, chaos=chaos, pace_s=0.3)
    print(report(clean, chaotic))
    assert clean.per_waybill, "the clean run opened no case"
    killed = [f.removeprefix("kill -9 ").rsplit("-", 1)[0] for f in chaotic.faults if f.startswith("kill -9 ")]
    assert sorted(killed) == sorted(SERVICES), chaotic.faults
    assert any("froze" in f for f in chaotic.faults)
    assert chaotic.stories > 50  # the order check had stories to check
    found = problems(clean, chaotic)
    assert found == [], "\n".join(found)
    assert sum(clean.dead.values()) == sum(chaotic.dead.values()) > 0
    assert chaotic.counts["payout.issued"] == clean.counts["payout.issued"] > 0
