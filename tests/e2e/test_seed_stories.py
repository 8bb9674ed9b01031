"""The seed manuals' stories, end to end: upstream event → five services as processes → customer and ledger.

One suite (Tansu, intake, routing, sla, claims, notify, a real SMTP server and a
real HTTP receiver) serves every story; each story uses its own waybill. SLA
policies are the packaged ones scaled by SPEED, so 2 hours last 4 seconds.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
import pytest_asyncio

from caseflow_contracts import Money
from caseflow_contracts.cases import CaseEscalated, CaseOpened
from caseflow_contracts.common import ClaimantRole
from caseflow_contracts.stations import (
    ArbitrationDeclared,
    ArbitrationDeclaredPayload,
    CallbackOutcome,
    CallbackPayload,
    ResolutionResult,
    ResolvedPayload,
    StationAcknowledged,
    StationCalledBack,
    StationResolved,
    StationUpdatePayload,
)
from caseflow_contracts.upstream import ContactCategory, ExceptionKind
from caseflow_dev.broker import EmbeddedBroker
from caseflow_dev.testing import KafkaTestKit
from caseflow_kit.auth import Role

from .suite import CHAOYANG, Suite, claim_request, contact, exception, start_suite, waybill

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def suite(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Suite]:
    data = tmp_path_factory.mktemp("e2e")
    kit = KafkaTestKit(broker.bootstrap, data)
    await kit.create_topics()
    running, follower = await start_suite(kit, data)
    yield running
    follower.cancel()
    for process in running.processes.values():
        assert process.terminate() == 0, process.name
    await running.http.stop()
    running.smtp.stop()
    await kit.close()


async def station_says(suite: Suite, model: type, payload: object, case_id: str, station: str) -> None:
    await suite.kit.publish(model.create(payload, key=case_id, producer=station))


def base(case_id: str, station: str) -> dict[str, object]:
    return {"case_id": case_id, "station": station, "agent_id": "A1024", "at": datetime.now(UTC)}


async def sms_about(suite: Suite, case_id: str, timeout_s: float = 30) -> list[str]:
    """The SMS texts the gateway accepted that name the case (notify records `sent` once the gateway said so)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        texts = [json.dumps(body, ensure_ascii=False) for body in suite.http.accepted]
        found = [t for t in texts if case_id in t]
        if found or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.1)


async def test_a_delay_complaint_is_called_back_within_two_hours(suite: Suite) -> None:
    wb = waybill()
    await suite.kit.publish(exception(wb, ExceptionKind.DELAY))
    opened = await suite.log.case_opened_for(wb)
    assert isinstance(opened, CaseOpened)
    case_id = opened.payload.case_id
    assert opened.payload.kind.value == "delay"
    assert "13812345678" not in opened.to_bytes().decode()
    escalated = await suite.log.case_event(case_id, "case.escalated")
    assert isinstance(escalated, CaseEscalated)
    assert escalated.payload.holder == "SH-PD-01"
    assert escalated.payload.level.value == "station"

    await suite.kit.publish(contact(wb, ContactCategory.COMPLAINT, "快递延误三天了，我要投诉"))
    await station_says(
        suite, StationAcknowledged, StationUpdatePayload(**base(case_id, "SH-PD-01")), case_id, "SH-PD-01"
    )
    await station_says(
        suite,
        StationCalledBack,
        CallbackPayload(
            **base(case_id, "SH-PD-01"), outcome=CallbackOutcome.REACHED, result="已告知客户：明日改派，上午送达"
        ),
        case_id,
        "SH-PD-01",
    )
    await suite.log.case_event(case_id, "case.callback_logged")
    met = await suite.log.case_event(case_id, "sla.met", metric="callback")
    assert met.payload.station == "SH-PD-01"  # type: ignore[attr-defined]
    await station_says(
        suite,
        StationResolved,
        ResolvedPayload(
            **base(case_id, "SH-PD-01"), result=ResolutionResult.RESOLVED, solution="已改派，次日送达", satisfaction=5
        ),
        case_id,
        "SH-PD-01",
    )
    await suite.log.case_event(case_id, "case.resolved")
    # Told once, on the channel the network reaches them by (a scan opened the case: SMS first), never twice.
    sent = await suite.log.case_event(case_id, "notification.sent", channel="sms", trigger_type="case.resolved")
    assert "13812345678" not in sent.payload.recipient  # type: ignore[attr-defined]
    assert "5678" in sent.payload.recipient  # type: ignore[attr-defined]
    assert await sms_about(suite, case_id)
    resolved_told = [
        e for e in suite.log.of_case(case_id, "notification.sent") if e.payload.trigger_type == "case.resolved"
    ]  # type: ignore[attr-defined]
    assert len(resolved_told) == 1
    breaches = [e for e in suite.log.of_case(case_id, "sla.breached") if str(e.payload.metric) == "callback"]  # type: ignore[attr-defined]
    assert breaches == []
    assert suite.log.of_case(case_id, "qa.points_charged") == []
    async with httpx.AsyncClient(headers=suite.kit.auth(Role.CASES_READER)) as http:
        record = (await http.get(f"{suite.url('routing')}/cases/{case_id}")).json()
        history = (await http.get(f"{suite.url('notify')}/cases/{case_id}/notifications")).json()
    assert record["holder"] == "SH-PD-01"
    assert "13812345678" not in str(history)


async def test_a_station_that_never_calls_back_breaches_and_the_case_climbs_the_ladder(suite: Suite) -> None:
    wb = waybill()
    await suite.kit.publish(
        exception(wb, ExceptionKind.DELAY, destination="BJ-CY-01", origin="SH-PD-01", area=CHAOYANG)
    )
    case_id = (await suite.log.case_opened_for(wb)).payload.case_id  # type: ignore[attr-defined]
    await suite.log.case_event(case_id, "case.escalated", holder="BJ-CY-01")
    # A scan alone calls nobody back; the customer's complaint starts the station's 2-hour clock.
    await suite.kit.publish(contact(wb, ContactCategory.COMPLAINT, "快递三天没动了，也没人联系我"))
    breach = await suite.log.case_event(case_id, "sla.breached", timeout_s=40, metric="callback", level="station")
    assert breach.payload.station == "BJ-CY-01"  # type: ignore[attr-defined]
    assert breach.payload.elapsed_seconds >= breach.payload.target_seconds  # type: ignore[attr-defined]
    charged = await suite.log.case_event(case_id, "qa.points_charged", metric="callback")
    assert (charged.payload.station, charged.payload.points) == ("BJ-CY-01", 100)  # type: ignore[attr-defined]
    # Oversight climbs to the hub; the station keeps its case and its duties (DOMAIN.md, seed 000).
    climbed = await suite.log.case_event(case_id, "case.escalated", trigger="sla_breach")
    assert climbed.payload.holder == "BJ-CY-01"  # type: ignore[attr-defined]
    assert climbed.payload.supervisor == "HUB-BJ"  # type: ignore[attr-defined]
    assert climbed.payload.level.value == "hub"  # type: ignore[attr-defined]
    # The hub's own follow-up deadline passes later than the station's: by then a second station breach
    # would have come, and none did.
    await suite.log.case_event(case_id, "sla.breached", timeout_s=40, metric="escalation_follow_up", level="hub")
    same = [
        e
        for e in suite.log.of_case(case_id, "sla.breached")
        if str(e.payload.metric) == "callback" and str(e.payload.level) == "station"  # type: ignore[attr-defined]
    ]
    assert len(same) == 1
    await suite.log.case_event(case_id, "notification.sent", trigger_type="sla.breached")
    async with httpx.AsyncClient(headers=suite.kit.auth(Role.CASES_READER)) as http:
        record = (await http.get(f"{suite.url('routing')}/cases/{case_id}")).json()
    assert record["holder"] == "BJ-CY-01"


async def test_a_regulator_appeal_is_handled_as_urgent_at_hq(suite: Suite) -> None:
    wb = waybill()
    await suite.kit.publish(contact(wb, ContactCategory.REGULATOR_APPEAL, "我已向12305申诉，包裹丢失无人处理"))
    opened = await suite.log.case_opened_for(wb)
    assert opened.payload.priority.value == "urgent"  # type: ignore[attr-defined]
    assert opened.payload.kind.value == "regulator_appeal"  # type: ignore[attr-defined]
    escalated = await suite.log.case_event(opened.payload.case_id, "case.escalated")  # type: ignore[attr-defined]
    assert escalated.payload.level.value == "hq"  # type: ignore[attr-defined]
    assert escalated.payload.holder == "HQ-CS"  # type: ignore[attr-defined]


async def test_an_out_of_area_parcel_is_transferred_to_the_covering_station(suite: Suite) -> None:
    wb = waybill()
    await suite.kit.publish(exception(wb, ExceptionKind.OUT_OF_AREA, destination="SH-XH-01"))
    case_id = (await suite.log.case_opened_for(wb)).payload.case_id  # type: ignore[attr-defined]
    moved = await suite.log.wait(
        lambda e: (
            getattr(e.payload, "case_id", None) == case_id
            and (
                e.type == "case.transferred"
                or (e.type == "case.escalated" and getattr(e.payload, "holder", "") == "SH-PD-01")
            )
        ),
        what="transfer to SH-PD-01",
    )
    if moved.type == "case.transferred":
        assert moved.payload.to_station == "SH-PD-01"  # type: ignore[attr-defined]
    else:
        assert "SH-PD-01" in moved.payload.reason or "cover" in moved.payload.reason.lower()  # type: ignore[attr-defined]


async def test_a_lost_uninsured_parcel_is_paid_at_most_three_times_the_freight(suite: Suite) -> None:
    wb = waybill()
    await suite.kit.publish(exception(wb, ExceptionKind.LOSS, declared=100000, order_amount=100000, freight=1000))
    case_id = (await suite.log.case_opened_for(wb)).payload.case_id  # type: ignore[attr-defined]
    # Nobody is paid unasked: the sender, who paid the freight, claims.
    await suite.kit.publish(claim_request(wb, "包裹丢了，申请赔偿", ClaimantRole.SENDER))
    decided = await suite.log.case_event(case_id, "claim.decided")
    assert decided.payload.decision.value == "approved"  # type: ignore[attr-defined]
    # Actual loss 1,000.00 capped at 3 × freight 10.00 = 30.00, plus the freight refunded: 40.00.
    assert decided.payload.amount == Money(amount_minor=4000)  # type: ignore[attr-defined]
    assert any("3" in line.basis for line in decided.payload.lines)  # type: ignore[attr-defined]
    payout = await suite.log.case_event(case_id, "payout.issued")
    assert payout.payload.amount.amount_minor == 4000  # type: ignore[attr-defined]
    await suite.log.case_event(case_id, "notification.sent", trigger_type="payout.issued")


async def test_a_damaged_parcel_claim_is_paid_and_charged_back_to_the_liable_station(suite: Suite) -> None:
    wb = waybill()
    await suite.kit.publish(exception(wb, ExceptionKind.DAMAGE, insured=True, declared=30000, order_amount=30000))
    case_id = (await suite.log.case_opened_for(wb)).payload.case_id  # type: ignore[attr-defined]
    await suite.kit.publish(claim_request(wb, "收到时内件全部摔坏，申请保价赔偿", ClaimantRole.SENDER))
    claim = await suite.log.case_event(case_id, "claim.opened")
    claim_id = claim.payload.claim_id  # type: ignore[attr-defined]
    await suite.kit.publish(
        ArbitrationDeclared.create(
            ArbitrationDeclaredPayload(
                **base(case_id, "SH-PD-01"),
                waybill_no=wb,
                liable_station="HZ-XH-01",
                amount_claimed=Money(amount_minor=30000),
            ),
            key=case_id,
            producer="SH-PD-01",
        )
    )
    decided = await suite.log.case_event(case_id, "claim.decided")
    reviewer = suite.kit.auth(Role.CLAIMS_REVIEWER, subject="R007")
    arbiter = suite.kit.auth(Role.CLAIMS_ARBITER, subject="HQ-ARB-01")
    async with httpx.AsyncClient(base_url=suite.url("claims"), headers=reviewer) as http:
        if decided.payload.decision.value == "pending_review":  # type: ignore[attr-defined]
            review = {
                "action": "adjust",
                "reason_code": "inspection_confirmed",
                "reason": "照片显示内件完全损毁",
                "facts": {"loss_share_bp": 10000, "outer_box_intact": True},
            }
            response = await http.post(f"/claims/{claim_id}/review", json=review)
            assert response.status_code == 200, response.text
        payout = await suite.log.case_event(case_id, "payout.issued")
        # Completely damaged = lost: the insured 300.00 (not above the actual loss) plus the 12.00 freight back.
        assert payout.payload.amount.amount_minor == 31200  # type: ignore[attr-defined]
        # HQ arbitration accepts the station's declaration: the sending station packed it badly.
        ruling = {
            "liable": [{"station": "HZ-XH-01", "share_bp": 10000, "reason": "外箱完好、内件破损：始发网点包装不当"}],
            "reason": "接受上海浦东陆家嘴网点的仲裁申报",
        }
        response = await http.post(f"/claims/{claim_id}/arbitration", json=ruling, headers=arbiter)
        assert response.status_code == 200, response.text
        await suite.log.case_event(case_id, "arbitration.decided")
        chargeback = await suite.log.case_event(case_id, "chargeback.issued")
        assert chargeback.payload.station == "HZ-XH-01"  # type: ignore[attr-defined]
        record = (await http.get(f"/claims/{claim_id}")).json()
    assert record["ledger"]["balanced"] is True
    station = suite.kit.auth(Role.STATION_AGENT, subject="hz-xh-agent", stations=["HZ-XH-01"])
    async with httpx.AsyncClient(base_url=suite.url("claims"), headers=station) as http:
        statement = (await http.get("/stations/HZ-XH-01/chargebacks")).json()
    assert any(entry.get("claim_id") == claim_id for entry in statement["entries"])
