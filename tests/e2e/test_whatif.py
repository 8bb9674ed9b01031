"""What if, end to end: a simulated period recorded through the real broker by the five services as processes,
exported with `caseflowctl export`, replayed with `caseflowctl whatif`: under the recorded policies the replay
agrees with the recording (0 differences)."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from caseflow_dev.broker import EmbeddedBroker
from caseflow_dev.simulator import simulate
from caseflow_dev.testing import KafkaTestKit
from caseflow_ops.cli import run as caseflowctl

from .suite import SPEED, Suite, start_suite

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def recorded(
    broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Suite, Path]]:
    """A simulated period through the suite, the suite left quiet, and the period exported."""
    data = tmp_path_factory.mktemp("whatif")
    kit = KafkaTestKit(broker.bootstrap, data)
    await kit.create_topics()
    suite, follower = await start_suite(kit, data)
    try:
        await simulate(kit.bootstrap, rate=4, speed=SPEED, duration=20, prefix=kit.prefix, bad_share=0.05)
        await quiet(suite, for_s=2.5, within_s=60)
        export = data / "period.jsonl"
        out = io.StringIO()
        assert (
            await caseflowctl(
                ["export", "--bootstrap", kit.bootstrap, "--topic-prefix", kit.prefix, "--out", str(export)], out
            )
            == 0
        )
        yield suite, export
    finally:
        follower.cancel()
        for process in suite.processes.values():
            process.terminate()
        await suite.http.stop()
        suite.smtp.stop()
        await kit.close()


async def quiet(suite: Suite, *, for_s: float, within_s: float) -> None:
    """Until no event has reached the log for `for_s` (the clocks still armed are due later than that)."""
    deadline = time.monotonic() + within_s
    seen, since = len(suite.log.events), time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        if len(suite.log.events) != seen:
            seen, since = len(suite.log.events), time.monotonic()
        elif time.monotonic() - since >= for_s:
            return
    raise AssertionError(f"the suite never went quiet for {for_s} s within {within_s} s")


@pytest.fixture
def recorded_policies(recorded: tuple[Suite, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """caseflowctl finds the rules files the suite ran on the way the services did: their settings."""
    suite, _ = recorded
    monkeypatch.setenv("CASEFLOW_POLICIES_FILE", str(suite.data / "demo-sla-policies.yaml"))


async def test_the_replay_under_the_recorded_policies_agrees_with_the_recording(
    recorded: tuple[Suite, Path], recorded_policies: None
) -> None:
    _, export = recorded
    lines = export.read_text(encoding="utf-8").splitlines()
    types = {json.loads(line)["event"]["type"] for line in lines}
    assert {"case.opened", "case.escalated", "sla.breached", "qa.points_charged", "claim.decided"} <= types, types
    out = io.StringIO()
    code = await caseflowctl(["whatif", str(export), "--json"], out)
    answer = json.loads(out.getvalue())
    assert answer["differences"] == [], answer["differences"][:5]
    assert answer["faithful"] is True
    assert code == 0
