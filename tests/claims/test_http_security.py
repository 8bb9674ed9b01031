"""Who may move money: every write endpoint of claims against forged, foreign and under-privileged tokens,
and the four-eyes path through the real broker (Tansu) and a real SQLite store."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from caseflow_claims.app import SPEC
from caseflow_claims.settings import ClaimsSettings
from caseflow_claims.store import CLAIMS, claim_id_for
from caseflow_contracts import Event, parse_event
from caseflow_contracts.topics import CLAIMS_EVENTS
from caseflow_dev.harness import run_in_process
from caseflow_dev.testing import KafkaTestKit, forged_tokens
from caseflow_kit.auth import Role

from .factories import case_opened
from .test_service import wait_claim

REVIEWER, APPROVER, ARBITER, AGENT, FINANCE = (
    Role.CLAIMS_REVIEWER,
    Role.CLAIMS_APPROVER,
    Role.CLAIMS_ARBITER,
    Role.STATION_AGENT,
    Role.FINANCE_AUDITOR,
)


async def all_claims_events(kafka: KafkaTestKit, at_least: int) -> list[Event]:
    return [parse_event(r.value) for r in await kafka.collect(CLAIMS_EVENTS, at_least, timeout_s=30)]


async def test_write_endpoints_refuse_bad_callers_and_change_nothing(kafka: KafkaTestKit, tmp_path: Path) -> None:
    big = case_opened(order_amount=1_000_000, freight=20_000, insured=True, declared=900_000)  # review, four eyes
    small = case_opened(order_amount=2000, freight=1000)  # paid by the rules, charged back to HZ-002
    b_id, s_id = claim_id_for(big.payload.case_id), claim_id_for(small.payload.case_id)
    async with run_in_process(SPEC, kafka.settings(ClaimsSettings)) as svc:
        http = httpx.AsyncClient(base_url=svc.url, timeout=10, headers=kafka.auth(REVIEWER, APPROVER, ARBITER))
        async with http:
            await kafka.publish(big)
            await kafka.publish(small)
            before_events = await all_claims_events(kafka, 7)  # 2 opened, 2 decided, payout, arbitration, chargeback
            await wait_claim(http, b_id)
            cb = next(e for e in before_events if e.type == "chargeback.issued").payload
            claimant = {"role": "sender", "payout_method": "original_payment"}
            calls: dict[str, tuple[str, dict[str, Any], tuple[Role, ...]]] = {
                "open": ("/claims", {"case_id": big.payload.case_id, "claimant": claimant}, (REVIEWER,)),
                "review": (f"/claims/{b_id}/review", {"action": "approve"}, (REVIEWER,)),
                "approval": (f"/claims/{b_id}/approval", {"decision": "approve"}, (APPROVER,)),
                "appeal": (f"/claims/{s_id}/appeal", {"reason": "more"}, (REVIEWER,)),
                "arbitration": (f"/claims/{s_id}/arbitration", {"liable": [], "reason": "none"}, (ARBITER,)),
                "chargeback": (
                    f"/stations/HZ-002/chargebacks/{cb.chargeback_id}/appeal",  # type: ignore[attr-defined]
                    {"reason": "handed over"},
                    (AGENT,),
                ),
            }
            docs_before = {k: await svc.runtime.store.get(CLAIMS, k) for k in (b_id, s_id)}
            forged = forged_tokens(kafka.issuer, [r.value for r in Role], tmp_path / "elsewhere")
            for name, (path, body, roles) in calls.items():
                no_token = await http.post(path, json=body, headers={"Authorization": ""})
                assert no_token.status_code == 401, (name, no_token.text)
                assert no_token.headers["www-authenticate"] == 'Bearer realm="caseflow"'
                assert no_token.headers["content-type"] == "application/problem+json"
                for attack, token in forged.items():
                    r = await http.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
                    assert r.status_code == 401, (name, attack, r.text)
                    assert 'error="invalid_token"' in r.headers["www-authenticate"]
                    assert token not in r.text
                others = [role for role in Role if role not in roles]
                wrong_role = await http.post(path, json=body, headers=kafka.auth(*others, stations=["SH-001"]))
                assert wrong_role.status_code == 403, (name, wrong_role.text)
            other_station = kafka.auth(AGENT, stations=["SH-001"])
            r = await http.post(calls["chargeback"][0], json={"reason": "not ours"}, headers=other_station)
            assert (r.status_code, r.json()["title"]) == (403, "station scope")

            # Caller input never makes a 500: size, syntax, fields, amounts beyond the cap, unknown routes.
            review = f"/claims/{b_id}/review"
            huge = await http.post(review, content=b'{"reason": "' + b"x" * 70_000 + b'"}')
            assert huge.status_code == 413
            assert (
                await http.post(review, content=b"{not json", headers={"content-type": "application/json"})
            ).status_code == 400
            invalid = await http.post(review, json={"action": "approve", "reviewer_id": "someone-else"})
            assert invalid.status_code == 422
            assert invalid.json()["errors"][0]["field"] == "reviewer_id"  # the actor comes from the token only
            too_much = await http.post(
                review, json={"action": "adjust", "reason_code": "goodwill", "amount_minor": 5_000_000_000}
            )
            assert too_much.status_code == 422
            assert too_much.json()["errors"] == [{"field": "amount_minor", "message": too_much.json()["detail"]}]
            float_money = await http.post(
                review, json={"action": "adjust", "reason_code": "goodwill", "amount_minor": 1.5}
            )
            assert float_money.status_code == 422
            assert (await http.get("/no/such/route")).status_code == 404
            assert (await http.get(f"/claims/{b_id}/audit")).status_code == 403  # finance reads the audit

            # Nothing changed, nothing was published.
            assert {k: await svc.runtime.store.get(CLAIMS, k) for k in (b_id, s_id)} == docs_before
            assert len(await kafka.collect(CLAIMS_EVENTS, 8, timeout_s=2)) == 7
            metrics = (await http.get("/metrics")).text
        assert 'caseflow_http_refusals_total{reason="missing_token",route="/claims/{claim_id}/review"} 1.0' in metrics
        assert 'caseflow_http_refusals_total{reason="alg_not_allowed",route="/claims/{claim_id}/review"} 2.0' in metrics
        assert 'reason="station_scope",route="/stations/{code}/chargebacks/{chargeback_id}/appeal"} 1.0' in metrics
        assert 'reason="body_too_large"' in metrics
        assert 'reason="internal_error"' not in metrics


async def test_four_eyes_end_with_one_payout_carrying_both_actors(kafka: KafkaTestKit) -> None:
    big = case_opened(order_amount=1_000_000, freight=20_000, insured=True, declared=900_000)
    claim_id = claim_id_for(big.payload.case_id)
    reviewer = kafka.auth(REVIEWER, APPROVER, subject="hq-7")  # holds both roles, still one pair of eyes
    approver = kafka.auth(APPROVER, subject="hq-9")
    async with (
        run_in_process(SPEC, kafka.settings(ClaimsSettings)) as svc,
        httpx.AsyncClient(base_url=svc.url, timeout=10, headers=reviewer) as http,
    ):
        await kafka.publish(big)
        await wait_claim(http, claim_id)
        review = {"action": "approve", "request_id": "rq-big-1"}
        proposed = await http.post(f"/claims/{claim_id}/review", json=review, headers={"X-Request-ID": "req-001"})
        assert proposed.status_code == 200, proposed.text
        assert proposed.json()["status"] == "awaiting_approval"
        assert proposed.json()["proposal"] == {
            "proposed_by": "hq-7",
            "amount_minor": 920_000,
            "at": proposed.json()["proposal"]["at"],
        }
        assert proposed.json()["payouts"] == []
        again = await http.post(f"/claims/{claim_id}/review", json=review)  # a client retry: nothing new
        assert again.status_code == 200
        own = await http.post(f"/claims/{claim_id}/approval", json={"decision": "approve"})
        assert (own.status_code, own.json()["title"]) == (403, "self approval")
        assert (await svc.runtime.store.get(CLAIMS, claim_id))["status"] == "awaiting_approval"  # type: ignore[index]

        approved = await http.post(
            f"/claims/{claim_id}/approval",
            json={"decision": "approve"},
            headers={**approver, "X-Request-ID": "req-002"},
        )
        assert approved.status_code == 200, approved.text
        assert approved.json()["status"] == "approved"
        twice = await http.post(f"/claims/{claim_id}/approval", json={"decision": "approve"}, headers=approver)
        assert twice.status_code == 409

        events = await all_claims_events(kafka, 8)
        assert len(await kafka.collect(CLAIMS_EVENTS, 9, timeout_s=2)) == 8
        types = Counter(e.type for e in events)
        assert types == {
            "claim.opened": 1,
            "claim.decided": 2,  # pending review, then approved
            "claim.audited": 2,  # proposed, approved
            "payout.issued": 1,
            "arbitration.decided": 1,
            "chargeback.issued": 1,
        }, types
        payout = next(e for e in events if e.type == "payout.issued")
        assert [a.subject for a in payout.payload.approved_by] == ["hq-7", "hq-9"]  # type: ignore[attr-defined]
        assert payout.payload.amount.amount_minor == 920_000  # type: ignore[attr-defined]
        assert payout.actor is not None
        assert payout.actor.subject == "hq-9"
        decided = [e for e in events if e.type == "claim.decided"][-1].payload
        assert (decided.reviewer_id, decided.approver_id) == ("hq-7", "hq-9")  # type: ignore[attr-defined]
        audits = [e.payload for e in events if e.type == "claim.audited"]
        assert [
            (a.action, a.actor.subject, a.before.amount_minor, a.after.amount_minor, a.request_id) for a in audits
        ] == [  # type: ignore[attr-defined]
            ("proposed", "hq-7", 0, 920_000, "req-001"),
            ("approved", "hq-9", 0, 920_000, "req-002"),
        ]
        trail = await http.get(f"/claims/{claim_id}/audit", headers=kafka.auth(FINANCE, subject="fin-1"))
        assert trail.status_code == 200
        assert [r["action"] for r in trail.json()["records"]] == ["proposed", "approved"]
        [claim_opened] = [e for e in events if e.type == "claim.opened"]
        assert claim_opened.actor is None  # caused by an event, not a person
