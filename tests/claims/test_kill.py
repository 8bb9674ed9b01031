"""Kill test: the process dies (SIGKILL) after the payout is committed and before it is published.

The claim is approved by the rules inside the consumer: the ledger, the idempotency marker and
the outgoing events commit together, then the process is killed as the outbox is about to be
published (test hook), before the consumed offset is committed. After a restart the case event
is delivered again and the outbox is published: one payout record, one payout.issued event.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from pathlib import Path

import httpx

from caseflow_claims import store
from caseflow_contracts import parse_event
from caseflow_contracts.topics import CLAIMS_EVENTS
from caseflow_dev.harness import ServiceProcess
from caseflow_dev.testing import KafkaTestKit
from caseflow_kit.auth import Role
from caseflow_kit.store import Query
from caseflow_kit.store.sqlite import SqliteStore

from .factories import case_opened


async def published(kafka: KafkaTestKit, count: int, timeout_s: float) -> Counter[str]:
    """Types of the claims events on the topic (waits for `count`, returns what there is)."""
    return Counter(parse_event(r.value).type for r in await kafka.collect(CLAIMS_EVENTS, count, timeout_s=timeout_s))


async def stored(data_dir: Path) -> tuple[int, list[bytes]]:
    db = SqliteStore(data_dir / "claims.db")
    await db.open(store.COLLECTIONS)
    try:
        payouts = await db.count(store.PAYOUTS, Query())
        pending = [r.message.value for r in await db.outbox_pending(100)]
    finally:
        await db.close()
    return payouts, pending


async def test_killed_between_ledger_write_and_publish(kafka: KafkaTestKit, tmp_path: Path) -> None:
    opened = case_opened(order_amount=2000, freight=1000)  # 2,000 + freight 1,000: approved and paid by the rules
    claim_id = store.claim_id_for(opened.payload.case_id)
    env = kafka.env(CASEFLOW_GROUP_ID=kafka.prefix + "group", CASEFLOW_OUTBOX_INTERVAL_MS="50")
    log = tmp_path / "claims.log"
    crashing = ServiceProcess("claims", {**env, "CASEFLOW_CRASH_AFTER_COMMIT": "payout.issued"}, log_file=log).start()
    try:
        await crashing.ready()
        await kafka.publish(opened)
        assert crashing.process is not None
        deadline = time.monotonic() + 30
        while crashing.process.poll() is None:
            assert time.monotonic() < deadline, "the hook never fired"
            await asyncio.sleep(0.05)
        assert crashing.process.returncode == -signal.SIGKILL
    finally:
        crashing.kill()

    # the ledger write is durable; its events wait in the outbox, unpublished
    payouts, pending = await stored(kafka.data_dir)
    assert payouts == 1
    assert sum(b'"payout.issued"' in value for value in pending) == 1
    assert await published(kafka, 1, timeout_s=2) == Counter()

    restarted = ServiceProcess("claims", env, log_file=log).start()
    try:
        await restarted.ready()
        first = await published(kafka, 5, timeout_s=20)
        assert first["payout.issued"] == 1
        # the case event is redelivered to the restarted consumer (its offset was never committed): give it time
        deadline = time.monotonic() + 20
        reader = kafka.auth(Role.CLAIMS_REVIEWER)
        async with httpx.AsyncClient(base_url=restarted.url, timeout=10, headers=reader) as client:
            while (await client.get("/metrics")).text.count('outcome="duplicate"') == 0:
                assert time.monotonic() < deadline, "no redelivery seen"
                await asyncio.sleep(0.1)
            view = (await client.get(f"/claims/{claim_id}")).json()
        assert await published(kafka, 6, timeout_s=2) == Counter(
            {
                "claim.opened": 1,
                "claim.decided": 1,
                "payout.issued": 1,
                "arbitration.decided": 1,
                "chargeback.issued": 1,
            }
        )
        assert len(view["payouts"]) == 1
        assert len(view["chargebacks"]) == 1
        assert view["ledger"]["paid_minor"] == 3000
        assert view["ledger"]["balanced"] is True
        assert restarted.terminate() == 0
    finally:
        restarted.kill()
    payouts, pending = await stored(kafka.data_dir)
    assert payouts == 1
    assert pending == []
