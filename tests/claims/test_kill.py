"""Kill test: the process dies (SIGKILL) after the payout is committed and before it is published.

After a restart the outbox publishes it: one payout record, one payout.issued event,
however often the reviewer's request and the case event are delivered again.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx
import pytest

from caseflow_claims import store
from caseflow_contracts import parse_event
from caseflow_contracts.topics import CLAIMS_EVENTS
from caseflow_dev.harness import ServiceProcess
from caseflow_dev.testing import KafkaTestKit
from caseflow_kit.store import Query
from caseflow_kit.store.sqlite import SqliteStore

from .factories import case_opened


async def wait_for(client: httpx.AsyncClient, path: str, timeout_s: float = 40) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while True:
        response = await client.get(path)
        if response.status_code == 200:
            return response
        assert time.monotonic() < deadline, f"{path}: {response.status_code}"
        await asyncio.sleep(0.1)


async def published(kafka: KafkaTestKit, count: int, timeout_s: float) -> list[str]:
    """Types of the claims events on the topic (waits for `count`, returns what there is)."""
    return [parse_event(r.value).type for r in await kafka.collect(CLAIMS_EVENTS, count, timeout_s=timeout_s)]


async def stored(data_dir: Path) -> tuple[int, list[bytes]]:
    db = SqliteStore(data_dir / "claims.db")
    await db.open(store.COLLECTIONS)
    try:
        payouts = await db.count(store.PAYOUTS, Query())
        pending = [r.message.value for r in await db.outbox_pending(100)]
    finally:
        await db.close()
    return payouts, pending


@pytest.mark.slow
async def test_killed_between_ledger_write_and_publish(kafka: KafkaTestKit, tmp_path: Path) -> None:
    opened = case_opened(order_amount=100_000, freight=20_000)  # 60,000 + 20,000: above the limit, a reviewer decides
    claim_id = store.claim_id_for(opened.payload.case_id)
    env = kafka.env(CASEFLOW_GROUP_ID=kafka.prefix + "group", CASEFLOW_OUTBOX_INTERVAL_MS="50")
    log = tmp_path / "claims.log"
    crashing = ServiceProcess(
        "claims",
        {**env, "CASEFLOW_CLAIMS_CRASH_AFTER_COMMIT": "payout", "CASEFLOW_OUTBOX_INTERVAL_MS": "600000"},
        log_file=log,
    ).start()
    review = {"action": "approve", "reviewer_id": "hq-7", "request_id": "rq-kill-1"}
    try:
        await crashing.ready()
        await kafka.publish(opened)
        async with httpx.AsyncClient(base_url=crashing.url, timeout=10) as client:
            await wait_for(client, f"/claims/{claim_id}")
            with pytest.raises(httpx.HTTPError):
                await client.post(f"/claims/{claim_id}/review", json=review)
        assert crashing.process is not None
        assert crashing.process.wait(10) == -signal.SIGKILL
    finally:
        crashing.kill()

    # the ledger write is durable; its event waits in the outbox, unpublished
    payouts, pending = await stored(kafka.data_dir)
    assert payouts == 1
    assert any(b'"payout.issued"' in value for value in pending)
    assert sorted(await published(kafka, 3, timeout_s=2)) == ["claim.decided", "claim.opened"]

    restarted = ServiceProcess("claims", env, log_file=log).start()
    try:
        await restarted.ready()
        await kafka.publish(opened)  # the case event again, for good measure
        async with httpx.AsyncClient(base_url=restarted.url, timeout=10) as client:
            retry = await client.post(f"/claims/{claim_id}/review", json=review)  # the reviewer's client retries
            assert retry.status_code == 200, retry.text
            assert [p["amount_minor"] for p in retry.json()["payouts"]] == [80_000]
            view = (await client.get(f"/claims/{claim_id}")).json()
        assert "payout.issued" in await published(kafka, 4, timeout_s=20)
        types = await published(kafka, 5, timeout_s=2)  # anything published twice would show up by now
        assert sorted(types) == ["claim.decided", "claim.decided", "claim.opened", "payout.issued"]
        assert len(view["payouts"]) == 1
        assert view["ledger"]["summary"]["paid_minor"] == 80_000
        assert view["ledger"]["summary"]["balanced"] is True
        assert restarted.terminate() == 0
    finally:
        restarted.kill()
    payouts, pending = await stored(kafka.data_dir)
    assert payouts == 1
    assert pending == []
