"""Through the real broker (Tansu) and one SQLite file: two sla replicas in one group, one restarted mid-stream.

Time is the test's: both replicas read the same ManualTime, so nothing waits
for real deadlines. Every (case, metric, level) must breach exactly once.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import replace
from typing import Any

import httpx

from caseflow_contracts import parse_event
from caseflow_contracts.topics import SLA_BREACHES, SLA_EVENTS
from caseflow_dev.harness import run_in_process
from caseflow_dev.testing import KafkaTestKit
from caseflow_kit import Runtime
from caseflow_kit.auth import Role
from caseflow_kit.store import Query
from caseflow_sla.app import SPEC, build_deps
from caseflow_sla.handlers import SlaDeps
from caseflow_sla.settings import SlaSettings
from caseflow_sla.store import CLOCKS

from .conftest import T0, H, Lifecycle, ManualTime, new_case_id

DAY = 24 * H


def spec_with(clock: ManualTime) -> Any:
    async def deps_on_test_time(runtime: Runtime[SlaSettings, SlaDeps]) -> SlaDeps:
        deps = await build_deps(runtime)
        deps.now = clock
        return deps

    return replace(SPEC, build_deps=deps_on_test_time)


async def until(predicate: Callable[[], Awaitable[bool]], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not await predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_two_replicas_and_a_restart_breach_each_clock_exactly_once(
    kafka: KafkaTestKit, lifecycle: Lifecycle
) -> None:
    clock = ManualTime()
    spec = spec_with(clock)
    settings = kafka.settings(SlaSettings, timer_poll_ms=50, relay_lease_s=1.0)
    cases = [new_case_id() for _ in range(16)]
    answered, silent = cases[:8], cases[8:]

    async def count_clocks(runtime: Any, **where: Any) -> int:
        return int(await runtime.store.count(CLOCKS, Query(where=where)))

    async def armed(runtime: Any) -> bool:
        return await count_clocks(runtime, metric="callback") == len(cases)

    # One replica takes the escalations, then stops: nobody watches while the warnings come due.
    async with run_in_process(spec, settings) as first:
        for case in cases:
            await kafka.publish(lifecycle.escalated(case, T0, holder="SH-PUDONG-01"))
        await until(lambda: armed(first.runtime))
    clock.advance(1.7 * H)

    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(run_in_process(spec, settings))
        # On start it fires at once, and once, what came due while it was down.
        warnings = await kafka.collect(SLA_EVENTS, len(cases), timeout_s=30)
        assert len(warnings) == len(cases)

        b_stack = AsyncExitStack()
        await b_stack.enter_async_context(run_in_process(spec, settings))  # same group, same SQLite file
        for case in answered:
            await kafka.publish(lifecycle.callback(case, T0 + 1.8 * H))
        mets = await kafka.collect(SLA_EVENTS, len(cases) + len(answered), timeout_s=30)
        assert len(mets) == len(cases) + len(answered)

        # The second replica stops mid-stream; the first fires the callback breaches of the silent half.
        await b_stack.aclose()
        clock.advance(0.8 * H)
        callback_breaches = await kafka.collect(SLA_BREACHES, len(silent), timeout_s=30)
        assert len(callback_breaches) == len(silent)

        # It comes back; both race for the resolution and customer-update breaches of every case.
        await stack.enter_async_context(run_in_process(spec, settings))
        clock.value = T0 + 3 * DAY
        expected = len(silent) + 2 * len(cases)
        records = await kafka.collect(SLA_BREACHES, expected, timeout_s=60)
        assert len(records) == expected
        for case in silent:  # a callback long after the breach: recorded late, publishes nothing
            await kafka.publish(lifecycle.callback(case, T0 + 3 * DAY + 60))

        async def recorded() -> bool:
            return await count_clocks(a.runtime, metric="callback", outcome="late") == len(silent)

        await until(recorded)
        async with httpx.AsyncClient(base_url=a.url, headers=kafka.auth(Role.CASES_READER)) as http:
            response = await http.get("/kpis", params={"station": "SH-PUDONG-01", "from": str(T0 - 60)})
        body = response.json()
        assert response.status_code == 200, body
        assert body["callback_within_target_rate"] == 0.5
        assert body["callbacks_decided"] == len(cases)
        assert body["open_breaches"] == 2 * len(cases)  # resolution and customer update: still open
        assert body["mean_time_to_callback_s"] == (8 * 1.8 * H + 8 * (3 * DAY + 60)) / 16

        # Nothing more comes: no duplicate of any breach, warning or met.
        records = await kafka.collect(SLA_BREACHES, expected + 1, timeout_s=3)
        events = await kafka.collect(SLA_EVENTS, len(cases) + len(answered) + 1, timeout_s=1)

    breaches = [parse_event(r.value) for r in records]
    keys = Counter((e.payload.case_id, e.payload.metric, e.payload.level) for e in breaches)  # type: ignore[attr-defined]
    assert len(breaches) == expected
    assert set(keys.values()) == {1}
    assert Counter(k[1] for k in keys) == {
        "callback": len(silent),
        "resolution": len(cases),
        "customer_update": len(cases),
    }
    assert all(r.key.decode() == parse_event(r.value).key for r in records)  # keyed by case id
    others = Counter((e.type, e.payload.case_id) for e in map(parse_event, (r.value for r in events)))  # type: ignore[attr-defined]
    assert len(events) == len(cases) + len(answered)
    assert set(others.values()) == {1}
