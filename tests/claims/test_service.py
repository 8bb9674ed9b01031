"""claims through the real broker (Tansu) and a real SQLite store: open, decide, pay, arbitrate, review, appeal."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import httpx

from caseflow_claims.app import SPEC
from caseflow_claims.settings import ClaimsSettings
from caseflow_claims.store import claim_id_for
from caseflow_contracts import Event, parse_event
from caseflow_contracts.common import CaseKind
from caseflow_contracts.topics import CASES_LIFECYCLE, CLAIMS_EVENTS, STATIONS_UPDATES
from caseflow_dev.harness import run_in_process
from caseflow_dev.testing import KafkaTestKit
from caseflow_kit.auth import Role

from .factories import arbitration_declared, case_opened, case_resolved


async def claims_events(kafka: KafkaTestKit, count: int) -> list[Event]:
    return [parse_event(r.value) for r in await kafka.collect(CLAIMS_EVENTS, count, timeout_s=30)]


async def wait_claim(client: httpx.AsyncClient, claim_id: str, ready: Any = None, timeout_s: float = 30) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        response = await client.get(f"/claims/{claim_id}")  # the client carries a reader's token
        if response.status_code == 200 and (ready is None or ready(response.json())):
            return response.json()
        assert time.monotonic() < deadline, f"{claim_id}: {response.status_code} {response.text[:300]}"
        await asyncio.sleep(0.1)


async def test_claims_service_end_to_end(kafka: KafkaTestKit) -> None:
    settings = kafka.settings(ClaimsSettings)
    small = case_opened(order_amount=2000, freight=1000)  # 2,000 + freight 1,000: approved by the rules
    big = case_opened(order_amount=100_000, freight=20_000, insured=True, declared=90_000)  # 90,000 + 20,000: review
    damage = case_opened(kind=CaseKind.DAMAGE, order_amount=10_000, freight=5000)  # extent unknown: review
    inquiry = case_opened(kind=CaseKind.INQUIRY, claimant=None)  # nobody asks: not a claim
    contact = case_opened(kind=CaseKind.COMPLAINT, category="claim_request")  # claim request, kind unknown: review
    s_id, b_id, d_id, c_id = (claim_id_for(e.payload.case_id) for e in (small, big, damage, contact))

    reviewer = kafka.auth(Role.CLAIMS_REVIEWER, subject="hq-7")
    arbiter = kafka.auth(Role.CLAIMS_ARBITER, subject="hq-arb-1")
    hz_agent = kafka.auth(Role.STATION_AGENT, subject="hz-agent", stations=["HZ-002"])
    sh_agent = kafka.auth(Role.STATION_AGENT, subject="sh-agent", stations=["SH-001"])
    async with (
        run_in_process(SPEC, settings) as svc,
        httpx.AsyncClient(base_url=svc.url, timeout=10, headers=reviewer) as client,
    ):
        for event in (small, big, damage, inquiry, contact):
            await kafka.publish(event)
        await kafka.publish(small)  # redelivered
        resent = small.model_copy(update={"event_id": "resent-" + small.event_id[:20]})
        await kafka.publish(resent)  # the same case opened again under a new event id
        await kafka.publish(arbitration_declared(small.payload.case_id, station="HZ-002", liable="HZ-002"))  # bad
        await kafka.publish(case_resolved(small.payload.case_id))

        # the rules decide and pay; the scan trail names the liable station, which is charged back
        events = await claims_events(kafka, 11)
        types = Counter(e.type for e in events)
        assert types == {
            "claim.opened": 4,
            "claim.decided": 4,
            "payout.issued": 1,
            "arbitration.decided": 1,
            "chargeback.issued": 1,
        }, types
        decided = {e.payload.claim_id: e.payload for e in events if e.type == "claim.decided"}  # type: ignore[attr-defined]
        assert decided[s_id].decision == "approved"
        assert decided[s_id].automatic is True
        assert decided[s_id].amount.amount_minor == 3000
        assert decided[s_id].appeal_until == decided[s_id].decided_at + timedelta(days=30)  # told from the rules
        assert decided[b_id].appeal_until is None  # waits for review: nothing to appeal yet
        assert [line.label for line in decided[s_id].lines] == ["Actual loss", "Freight refund", "Compensation"]
        assert {decided[x].decision for x in (b_id, d_id, c_id)} == {"pending_review"}
        assert "auto-approval limit" in decided[b_id].reason
        assert "extent of the damage" in decided[d_id].reason
        assert "Claim kind not established" in decided[c_id].reason
        cb = next(e for e in events if e.type == "chargeback.issued").payload
        assert (cb.station, cb.payout_share.amount_minor, cb.penalty.amount_minor) == ("HZ-002", 3000, 10_000)  # type: ignore[attr-defined]

        # the self-declaration went to the dead-letter topic with its reason
        dead = await kafka.collect(STATIONS_UPDATES, 1, dlq=True, timeout_s=10)
        assert len(dead) == 1
        assert dict(dead[0].headers)["x-dlq-reason"] == b"self_declaration"

        view = await wait_claim(client, s_id)
        assert view["status"] == "approved"
        assert {k: v for k, v in view["ledger"].items() if k != "entries"} == {
            "currency": "CNY",
            "paid_minor": 3000,
            "charged_back_minor": 3000,
            "absorbed_minor": 0,
            "penalties_minor": 10_000,
            "balanced": True,
        }
        assert [x["label"] for x in view["computation"]["lines"]][-1] == "Compensation"
        assert "customer_ref" not in view

        # the reviewers' queue, oldest first, says why each claim waits
        queue = (await client.get("/claims", params={"status": "pending_review"})).json()["claims"]
        assert sorted(c["claim_id"] for c in queue) == sorted([b_id, d_id, c_id])
        assert next(c for c in queue if c["claim_id"] == d_id)["missing"]
        assert (await client.get("/claims", params={"status": "nonsense"})).status_code == 422

        # a reviewer approves the big one (a retried request pays once) ...
        body = {"action": "approve", "request_id": "rq-1"}
        first = await client.post(f"/claims/{b_id}/review", json=body)
        again = await client.post(f"/claims/{b_id}/review", json=body)
        assert first.status_code == 200, first.text
        assert again.status_code == 200
        assert again.json()["payouts"] == first.json()["payouts"]
        assert [p["amount_minor"] for p in first.json()["payouts"]] == [90_000 + 20_000]
        assert first.json()["decisions"][-1]["reviewer_id"] == "hq-7"  # from the token
        other = await client.post(f"/claims/{b_id}/review", json={"action": "approve"})
        assert other.status_code == 409  # a different request on a decided claim is refused, not paid again
        assert other.json()["title"] == "not reviewable"
        assert other.headers["content-type"] == "application/problem+json"
        missing = await client.post("/claims/CL-NOSUCH/review", json={"action": "approve"})
        assert missing.status_code == 404
        # ... adjusts the damage with the inspected extent, and rejects the unclear request with a reason
        r = await client.post(
            f"/claims/{d_id}/review",
            json={
                "action": "adjust",
                "reason_code": "inspection_confirmed",
                "reason": "photos: 40% broken",
                "facts": {"loss_share_bp": 4000},
            },
        )
        assert r.status_code == 200, r.text
        assert r.json()["payouts"][0]["amount_minor"] == 4000
        r = await client.post(f"/claims/{c_id}/review", json={"action": "reject", "reason": "no loss shown"})
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "reason_code"
        r = await client.post(f"/claims/{c_id}/review", json={"action": "reject", "reason_code": "no_loss_shown"})
        assert r.json()["status"] == "rejected"

        # the customer appeals the rejection; the station appeals its chargeback
        r = await client.post(f"/claims/{c_id}/appeal", json={"reason": "I have the invoice"})
        assert r.json()["status"] == "appealed"
        appeal = f"/stations/HZ-002/chargebacks/{cb.chargeback_id}/appeal"  # type: ignore[attr-defined]
        r = await client.post(appeal, json={"reason": "handed over"}, headers=sh_agent)
        assert r.status_code == 403  # another station's chargeback
        r = await client.post(appeal, json={"reason": "handed over"}, headers=hz_agent)
        assert r.status_code == 200, r.text
        r = await client.post(
            f"/stations/SH-001/chargebacks/{cb.chargeback_id}/appeal", json={"reason": "x"}, headers=sh_agent
        )  # type: ignore[attr-defined]
        assert r.status_code == 404

        # HQ re-decides: the origin station packed it badly, half each
        r = await client.post(
            f"/claims/{s_id}/arbitration",
            json={
                "liable": [{"station": "SH-001", "share_bp": 5000}, {"station": "HZ-002", "share_bp": 5000}],
                "reason": "both share the fault",
            },
            headers=arbiter,
        )
        assert r.status_code == 200, r.text
        assert r.json()["ledger"]["balanced"] is True
        assert r.json()["ledger"]["charged_back_minor"] == 3000

        statement = (
            await client.get("/stations/HZ-002/chargebacks", params={"from": "2020-01-01T00:00:00Z"}, headers=hz_agent)
        ).json()
        kinds = sorted((e["kind"], e["total_minor"]) for e in statement["entries"])
        assert kinds == [
            ("chargeback", 1500 + 10_000),  # small, after HQ's split
            ("chargeback", 3000 + 10_000),  # small, by the scan trail
            ("chargeback", 110_000 + 10_000),  # big, by the scan trail
            ("reversal", -13_000),  # small, taken back by HQ's decision
        ]
        assert statement["totals"]["total_minor"] == 131_500
        empty = (
            await client.get("/stations/HZ-002/chargebacks", params={"to": "2020-01-01T00:00:00Z"}, headers=arbiter)
        ).json()
        assert empty["entries"] == []
        assert (await client.get("/claims/CL-NOSUCH")).status_code == 404

        events = [e for e in await claims_events(kafka, 32) if e.type != "claim.audited"]
        types = Counter(e.type for e in events)
        assert len(events) == 26
        assert types["payout.issued"] == 3
        assert types["chargeback.issued"] == 5
        assert types["chargeback.reversed"] == 1
        assert types["chargeback.appealed"] == 1
        assert types["claim.appealed"] == 1
        assert types["arbitration.decided"] == 4
        assert len({e.event_id for e in events}) == len(events)

    # nothing from the inquiry; nothing read by anyone else leaks personal data
    assert all(e.payload.case_id != inquiry.payload.case_id for e in events)  # type: ignore[attr-defined]
    raw = b"".join(r.value for r in await kafka.collect(CLAIMS_EVENTS, len(events), timeout_s=5))
    for personal in ("138****5678", "张*", "sealed-token", '"customer"'):
        assert personal.encode() not in raw
    assert await kafka.collect(CASES_LIFECYCLE, 1, dlq=True, timeout_s=1) == []


async def test_a_reviewer_opens_a_claim_for_a_claimant(kafka: KafkaTestKit) -> None:
    """A bare delay exception opens no claim; the customer asks; a reviewer records it with how they are paid."""
    bare = case_opened(kind=CaseKind.DELAY, freight=1200, claimant=None)
    case_id = bare.payload.case_id
    claim_id = claim_id_for(case_id)
    reviewer = kafka.auth(Role.CLAIMS_REVIEWER, subject="hq-7")
    body = {
        "case_id": case_id,
        "claimant": {"role": "recipient", "payout_method": "bank_transfer"},
        "facts": {"days_late": 2},
        "request_id": "open-1",
    }
    async with (
        run_in_process(SPEC, kafka.settings(ClaimsSettings)) as svc,
        httpx.AsyncClient(base_url=svc.url, timeout=10, headers=reviewer) as client,
    ):
        unknown = await client.post("/claims", json={**body, "case_id": "CF-NOTYETKNOWN01"})
        assert (unknown.status_code, unknown.json()["title"]) == (409, "case not known yet"), unknown.text
        await kafka.publish(bare)
        await kafka.publish(case_opened(kind=CaseKind.INQUIRY, claimant=None))
        deadline = time.monotonic() + 30
        while (opened := await client.post("/claims", json=body)).json().get("title") == "case not known yet":
            assert time.monotonic() < deadline, opened.text  # claims has not consumed the case yet
            await asyncio.sleep(0.1)
        assert opened.status_code == 201, opened.text
        view = opened.json()
        assert (view["claimant"], view["source"], view["opened_by"]["subject"]) == (
            {"role": "recipient", "payout_method": "bank_transfer"},
            "api",
            "hq-7",
        )
        assert view["status"] == "approved"
        assert [p["amount_minor"] for p in view["payouts"]] == [1200]  # the freight back, the lateness known
        retry = await client.post("/claims", json=body)
        assert (retry.status_code, retry.json()["claim_id"]) == (200, claim_id)
        other = await client.post("/claims", json={**body, "request_id": "open-2"})
        assert (other.status_code, other.json()["title"]) == (409, "claim exists")
        forbidden = await client.post("/claims", json=body, headers=kafka.auth(Role.CLAIMS_APPROVER))
        assert forbidden.status_code == 403
        events = await claims_events(kafka, 5)
    assert [e.type for e in events] == [
        "claim.opened",
        "claim.decided",
        "payout.issued",
        "arbitration.decided",
        "chargeback.issued",
    ]
    assert all(e.actor is not None and e.actor.subject == "hq-7" for e in events)
    assert events[0].payload.claimant.role == "recipient"  # type: ignore[attr-defined]
    assert len(await kafka.collect(CLAIMS_EVENTS, 6, timeout_s=2)) == 5  # nothing for the inquiry, nothing twice
