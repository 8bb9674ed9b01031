"""A case's events leave in commit order even when intake dies between a commit and its publish.

intake commits case.opened and is killed before publishing it (the kit's test hook); meanwhile the
customer calls about the same parcel. The restarted process holds the same slot: it publishes what its
previous incarnation left before it consumes anything, so case.opened reaches the topic before the
repeat contact's case.merged (before slots, the merge went out first and routing dead-lettered it).
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

from caseflow_contracts import parse_event
from caseflow_contracts.topics import CASES_LIFECYCLE
from caseflow_contracts.upstream import ContactCategory, ExceptionKind
from caseflow_dev.harness import ServiceProcess
from caseflow_dev.testing import KafkaTestKit

from .factories import NOW, TEST_KEY, TEST_PSEUDONYM_KEY, contact, exception, waybill


async def test_a_restart_publishes_what_the_crash_left_before_anything_newer(
    kafka: KafkaTestKit, tmp_path: Path
) -> None:
    env = kafka.env(
        CASEFLOW_PII_KEY=TEST_KEY,
        CASEFLOW_PSEUDONYM_KEY=TEST_PSEUDONYM_KEY,
        CASEFLOW_GROUP_ID=kafka.prefix + "intake",
        CASEFLOW_SESSION_TIMEOUT_MS="6000",
        CASEFLOW_HEARTBEAT_INTERVAL_MS="1000",
    )
    log = tmp_path / "intake.log"
    wb = waybill()
    crashing = ServiceProcess("intake", {**env, "CASEFLOW_CRASH_AFTER_COMMIT": "case.opened"}, log_file=log).start()
    try:
        await crashing.ready()
        await kafka.publish(exception(wb, ExceptionKind.DELAY))
        assert crashing.process is not None
        deadline = time.monotonic() + 60
        while crashing.process.poll() is None:
            assert time.monotonic() < deadline, "the hook never fired"
            await asyncio.sleep(0.05)
        assert crashing.process.returncode == -signal.SIGKILL
    finally:
        crashing.kill()
    assert await kafka.collect(CASES_LIFECYCLE, 1, timeout_s=1) == []  # committed, never published

    await kafka.publish(contact(wb, ContactCategory.COMPLAINT, text="还没到", at=NOW))
    restarted = ServiceProcess("intake", env, log_file=log).start()
    try:
        await restarted.ready()
        story = [parse_event(r.value) for r in await kafka.collect(CASES_LIFECYCLE, 2, timeout_s=60)]
        assert [e.type for e in story] == ["case.opened", "case.merged"]
        assert story[1].payload.case_id == story[0].payload.case_id  # type: ignore[attr-defined]
        assert restarted.terminate() == 0
    finally:
        restarted.kill()
