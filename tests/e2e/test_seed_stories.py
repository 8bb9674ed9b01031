"""The seed manuals' stories, end to end: upstream event → five services as processes → customer and ledger.

One suite (Tansu, intake, routing, sla, claims, notify, a real SMTP server and a
real HTTP receiver) serves every story; each story uses its own waybill. SLA
policies are the packaged ones scaled by SPEED, so 2 hours last 4 seconds.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import pytest_asyncio

from caseflow_contracts import Event, Money
from caseflow_contracts.cases import CaseEscalated, CaseOpened
from caseflow_contracts.claims import ChargebackIssued
from caseflow_contracts.common import Channel, ClaimantRole
from caseflow_contracts.stations import (
    ArbitrationDeclared,
    ArbitrationDeclaredPayload,
    CallbackOutcome,
    CallbackPayload,
    HqRuling,
    HqRulingPayload,
    ResolutionResult,
    ResolvedPayload,
    StationAcknowledged,
    StationCalledBack,
    StationHqRuled,
    StationResolved,
    StationTransferRequested,
    StationUpdatePayload,
    TransferRequestedPayload,
)
from caseflow_contracts.upstream import (
    ContactCategory,
    CustomerContacted,
    CustomerContactPayload,
    ExceptionKind,
    SaleStage,
    SatisfactionAnswered,
    SatisfactionAnswerPayload,
)
from caseflow_dev.broker import EmbeddedBroker
from caseflow_dev.testing import KafkaTestKit, until
from caseflow_kit.auth import Role

from .suite import CHAOYANG, Suite, claim_request, contact, customer, exception, scaled, start_suite, waybill

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


def assert_clock(event: Event, metric: str, hours: float) -> None:
    """The clock ran against the packaged target for `metric` (scaled like the suite), and its deadline is that
    target after its start: on wall-clock time, as the scaled policy counts it (no calendar)."""
    p = event.payload
    assert str(p.metric) == metric  # type: ignore[attr-defined]
    assert p.target_seconds == scaled(hours), (metric, p.target_seconds)  # type: ignore[attr-defined]
    assert p.business_hours is False  # type: ignore[attr-defined]
    assert (p.deadline_at - p.started_at).total_seconds() == scaled(hours)  # type: ignore[attr-defined]


def dead_letters_of(suite: Suite, case_id: str) -> list[str]:
    """The reasons of every dead letter that names the case."""
    return [
        headers.get("x-dlq-reason", b"?").decode() for _, headers, value in suite.log.dead if case_id.encode() in value
    ]


async def kpis(suite: Suite, **query: str) -> dict[str, Any]:
    async with httpx.AsyncClient(headers=suite.kit.auth(Role.CASES_READER)) as http:
        response = await http.get(f"{suite.url('sla')}/kpis", params=query)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


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
    assert_clock(met, "callback", 2)  # seed 000: call back within 2 hours, telling the result
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
    assert_clock(await suite.log.case_event(case_id, "sla.met", metric="resolution"), "resolution", 48)
    # A complaint, whatever its kind, is answered within 7 days (《快递暂行条例》 art. 28).
    assert_clock(await suite.log.case_event(case_id, "sla.met", metric="complaint_answer"), "complaint_answer", 7 * 24)
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
    assert_clock(breach, "callback", 2)
    await suite.log.case_event(case_id, "notification.sent", trigger_type="sla.breached")
    # The station calls back at last: late, and still its own duty, so accepted (never `not_holder`).
    await station_says(
        suite,
        StationCalledBack,
        CallbackPayload(
            **base(case_id, "BJ-CY-01"), outcome=CallbackOutcome.REACHED, result="已告知客户：包裹今日下午派送"
        ),
        case_id,
        "BJ-CY-01",
    )
    late = await suite.log.case_event(case_id, "case.callback_logged", station="BJ-CY-01")
    assert late.payload.counts_as_response is True  # type: ignore[attr-defined]
    assert dead_letters_of(suite, case_id) == []
    reader = suite.kit.auth(Role.CASES_READER)
    async with httpx.AsyncClient(headers=reader) as http:
        record = (await http.get(f"{suite.url('routing')}/cases/{case_id}")).json()
        scorecard = (await http.get(f"{suite.url('sla')}/stations/BJ-CY-01/scorecard")).json()
    assert record["holder"] == "BJ-CY-01"
    # The missed 2-hour response stays on the station's QA scorecard: 100 points (seed 000, QA table).
    lines = [(e["metric"], e["points"], e["reversed_at"]) for e in scorecard["entries"] if e["case_id"] == case_id]
    assert lines == [("callback", 100, None)], lines


async def test_a_regulator_appeal_is_handled_as_urgent_at_hq(suite: Suite) -> None:
    wb = waybill()
    await suite.kit.publish(contact(wb, ContactCategory.REGULATOR_APPEAL, "我已向12305申诉，包裹丢失无人处理"))
    opened = await suite.log.case_opened_for(wb)
    assert opened.payload.priority.value == "urgent"  # type: ignore[attr-defined]
    assert opened.payload.kind.value == "regulator_appeal"  # type: ignore[attr-defined]
    case_id = opened.payload.case_id  # type: ignore[attr-defined]
    escalated = await suite.log.case_event(case_id, "case.escalated")
    assert escalated.payload.level.value == "hq"  # type: ignore[attr-defined]
    assert escalated.payload.holder == "HQ-CS"  # type: ignore[attr-defined]
    await station_says(
        suite,
        StationCalledBack,
        CallbackPayload(**base(case_id, "HQ-CS"), outcome=CallbackOutcome.REACHED, result="已告知客户：已立案查找包裹"),
        case_id,
        "HQ-CS",
    )
    # Urgent: call back within 1 hour, resolve within 24; the regulator's 10-day answer clock runs meanwhile.
    assert_clock(await suite.log.case_event(case_id, "sla.met", metric="callback"), "callback", 1)
    await station_says(
        suite,
        StationResolved,
        ResolvedPayload(**base(case_id, "HQ-CS"), result=ResolutionResult.RESOLVED, solution="包裹已找到并改派送达"),
        case_id,
        "HQ-CS",
    )
    assert_clock(await suite.log.case_event(case_id, "sla.met", metric="resolution"), "resolution", 24)
    assert_clock(await suite.log.case_event(case_id, "sla.met", metric="complaint_answer"), "complaint_answer", 240)


def platform_question(platform: str, stage: SaleStage, text: str, **extra: Any) -> CustomerContacted:
    """A question a platform forwards about an order (seed 001 §2.2): before sale there is no parcel yet."""
    payload = CustomerContactPayload(
        source_system="platform-gateway",
        source_id="pq-" + uuid.uuid4().hex[:12],
        channel=Channel.IM,
        category=ContactCategory.INQUIRY,
        sale_stage=stage,
        platform=platform,
        platform_order_id="PO" + uuid.uuid4().hex[:12].upper(),
        customer=customer(name="钱多多"),
        text=text,
        language="zh-CN",
        received_at=datetime.now(UTC),
        **extra,
    )
    return CustomerContacted.create(payload, key=payload.platform_order_id or "", producer=payload.source_system)


@pytest.mark.parametrize(
    ("asked", "team"),
    [
        (("淘宝", SaleStage.PRE_SALE, "这款有现货吗？什么时候能发货？", {}), "PST-TAOBAO"),
        (("京东", SaleStage.IN_SALE, "付款后一直没发货", {}), "PST-JD"),
        (("拼多多", SaleStage.AFTER_SALE, "尺码不合适，想换一件", {"after_sale_type": "exchange"}), "PST-PLATFORMS"),
    ],
)
async def test_a_platforms_sale_question_goes_to_its_platform_service_team(
    suite: Suite, asked: tuple[str, SaleStage, str, dict[str, Any]], team: str
) -> None:
    """Seed 001 §2.2, §3.1: pre-, in- and after-sale questions are the platform service team's, not a station's."""
    platform, stage, text, extra = asked
    question = platform_question(platform, stage, text, **extra)
    await suite.kit.publish(question)
    order = question.payload.platform_order_id
    opened = await suite.log.wait(
        lambda e: e.type == "case.opened" and getattr(e.payload, "platform_order_id", None) == order,
        what=f"case.opened for order {order}",
    )
    p: Any = opened.payload
    assert (p.kind.value, p.sale_stage, p.platform) == (stage.value, stage, platform)
    assigned = await suite.log.case_event(p.case_id, "case.escalated", trigger="initial_assignment")
    assert assigned.payload.holder == team  # type: ignore[attr-defined]
    assert assigned.payload.level.value == "station"  # type: ignore[attr-defined]
    assert dead_letters_of(suite, p.case_id) == []


async def test_an_out_of_area_parcel_goes_to_the_covering_station_by_hqs_rule(suite: Suite) -> None:
    wb = waybill()
    await suite.kit.publish(exception(wb, ExceptionKind.OUT_OF_AREA, destination="SH-XH-01"))
    case_id = (await suite.log.case_opened_for(wb)).payload.case_id  # type: ignore[attr-defined]
    # The parcel was routed to Xuhui, which does not cover Pudong, where the customer lives: the case goes to
    # the covering station straight away, and its history says where it came from.
    assigned = await suite.log.case_event(case_id, "case.escalated")
    assert (assigned.payload.holder, assigned.payload.level.value) == ("SH-PD-01", "station")  # type: ignore[attr-defined]
    assert "SH-XH-01" in assigned.payload.reason  # type: ignore[attr-defined]
    async with httpx.AsyncClient(headers=suite.kit.auth(Role.CASES_READER)) as http:
        record = (await http.get(f"{suite.url('routing')}/cases/{case_id}")).json()
    moves = [(e["action"], e.get("from_station")) for e in record["history"] if e["action"] == "transferred"]
    assert moves == [("transferred", "SH-XH-01")]


async def test_a_station_asks_for_a_transfer_and_hqs_desk_rules(suite: Suite) -> None:
    wb = waybill()
    # Nobody upstream knows the address: the station the parcel went to holds the case.
    await suite.kit.publish(exception(wb, ExceptionKind.OUT_OF_AREA, destination="SH-XH-01", area=None))
    case_id = (await suite.log.case_opened_for(wb)).payload.case_id  # type: ignore[attr-defined]
    await suite.log.case_event(case_id, "case.escalated", holder="SH-XH-01")
    ask = TransferRequestedPayload(
        **base(case_id, "SH-XH-01"), to_station="SH-PD-01", reason="收件地址在浦东新区", reason_code="out_of_area"
    )
    await station_says(suite, StationTransferRequested, ask, case_id, "SH-XH-01")
    # The area is unknown, so no rule decides: HQ's desk does, and only HQ reassigns.
    ruling = HqRulingPayload(
        case_id=case_id,
        station="HQ-CS",
        agent_id="A9001",
        at=datetime.now(UTC),
        ruling=HqRuling.TRANSFER_APPROVED,
        about_station="SH-XH-01",
        to_station="SH-PD-01",
        reason="核实收件地址在浦东新区，同意转派",
    )
    await station_says(suite, StationHqRuled, ruling, case_id, "HQ-CS")
    ruled = await suite.log.case_event(case_id, "case.hq_ruled")
    assert (ruled.payload.ruling.value, ruled.payload.decided_by) == ("transfer_approved", "HQ-CS:A9001")  # type: ignore[attr-defined]
    moved = await suite.log.case_event(case_id, "case.transferred")
    assert (moved.payload.from_station, moved.payload.to_station) == ("SH-XH-01", "SH-PD-01")  # type: ignore[attr-defined]
    assert moved.payload.decided_by == "HQ-CS:A9001"  # type: ignore[attr-defined]
    assert dead_letters_of(suite, case_id) == []


async def test_a_lost_uninsured_parcel_is_paid_at_most_three_times_the_freight(suite: Suite) -> None:
    wb = waybill()
    await suite.kit.publish(
        exception(wb, ExceptionKind.LOSS, current="SH-PD-01", declared=100000, order_amount=100000, freight=1000)
    )
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
    # Nobody declared against anybody: the scan trail settles liability. A loss is the last scanning station's.
    ruled = await suite.log.case_event(case_id, "arbitration.decided")
    assert ruled.payload.decided_by == "scan_trail"  # type: ignore[attr-defined]
    liable = [(x.station, x.share_basis_points) for x in ruled.payload.liable]  # type: ignore[attr-defined]
    assert liable == [("SH-PD-01", 10000)]
    # Charged the whole payout, 40.00, plus the loss penalty: 100 points at 1.00 each.
    chargeback = await suite.log.case_event(case_id, "chargeback.issued")
    assert isinstance(chargeback, ChargebackIssued)
    charged = chargeback.payload
    assert (charged.station, charged.payout_share.amount_minor, charged.penalty.amount_minor) == (
        "SH-PD-01",
        4000,
        10000,
    )
    assert charged.total.amount_minor == 14000


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
                "facts": {"loss_share_bp": 10000, "outer_box_intact": False},
            }
            response = await http.post(f"/claims/{claim_id}/review", json=review)
            assert response.status_code == 200, response.text
        payout = await suite.log.case_event(case_id, "payout.issued")
        # Completely damaged = lost: the insured 300.00 (not above the actual loss) plus the 12.00 freight back.
        assert payout.payload.amount.amount_minor == 31200  # type: ignore[attr-defined]
        # The box arrived broken, so the trail names the delivering station; its declaration names the sending
        # one. A dispute: HQ decides. (Whether the trail's verdict came first depends on whether the declaration
        # on stations.updates overtook the claim on cases.lifecycle; either way HQ's ruling is the final word.)
        ruling = {
            "liable": [
                {"station": "HZ-XH-01", "share_bp": 10000, "reason": "易碎品未加固，外箱途中破裂：始发网点包装不当"}
            ],
            "reason": "接受上海浦东陆家嘴网点的仲裁申报",
        }
        response = await http.post(f"/claims/{claim_id}/arbitration", json=ruling, headers=arbiter)
        assert response.status_code == 200, response.text
        ruled = await suite.log.case_event(case_id, "arbitration.decided", decided_by="hq")
        assert ruled.payload.decided_by == "hq"  # type: ignore[attr-defined]
        chargeback = await suite.log.case_event(case_id, "chargeback.issued", station="HZ-XH-01")
        assert isinstance(chargeback, ChargebackIssued)
        charged = chargeback.payload
        # The whole payout, 312.00, plus the damage penalty: 50 points at 1.00 each; nothing to the declarer.
        assert (charged.station, charged.payout_share.amount_minor, charged.penalty.amount_minor) == (
            "HZ-XH-01",
            31200,
            5000,
        )
        assert charged.total.amount_minor == 36200
        record = (await http.get(f"/claims/{claim_id}")).json()
    assert record["ledger"]["balanced"] is True
    station = suite.kit.auth(Role.STATION_AGENT, subject="hz-xh-agent", stations=["HZ-XH-01"])
    async with httpx.AsyncClient(base_url=suite.url("claims"), headers=station) as http:
        statement = (await http.get("/stations/HZ-XH-01/chargebacks")).json()
    assert any(entry.get("claim_id") == claim_id for entry in statement["entries"])


async def resolve(suite: Suite, case_id: str, station: str) -> None:
    """The station calls the customer back telling the result, then resolves the case."""
    told = CallbackPayload(**base(case_id, station), outcome=CallbackOutcome.REACHED, result="已告知客户处理结果")
    await station_says(suite, StationCalledBack, told, case_id, station)
    done = ResolvedPayload(**base(case_id, station), result=ResolutionResult.RESOLVED, solution="已改派，次日送达")
    await station_says(suite, StationResolved, done, case_id, station)
    await suite.log.case_event(case_id, "case.closed")


async def test_a_japanese_customer_is_answered_in_japanese(suite: Suite) -> None:
    wb = waybill()
    await suite.kit.publish(contact(wb, ContactCategory.INQUIRY, "荷物がまだ届きません", language="ja"))
    opened = await suite.log.case_opened_for(wb)
    case_id = opened.payload.case_id  # type: ignore[attr-defined]
    assert opened.payload.language == "ja"  # type: ignore[attr-defined]
    await suite.log.case_event(case_id, "notification.sent", channel="sms", trigger_type="case.escalated")
    texts = await sms_about(suite, case_id)
    # The station-assigned SMS from the ja templates, opened by the network's SMS prefix.
    assert any("が担当いたします" in text and "【BEST Express】" in text for text in texts), texts
    assert not any("您的" in text for text in texts), texts


async def test_a_customers_rating_counts_in_the_kpis_and_a_later_contact_reopens_the_case(suite: Suite) -> None:
    wb = waybill()
    await suite.kit.publish(contact(wb, ContactCategory.INQUIRY, "快递显示派送中，一直没有送到"))
    case_id = (await suite.log.case_opened_for(wb)).payload.case_id  # type: ignore[attr-defined]
    await suite.log.case_event(case_id, "case.escalated", holder="SH-PD-01")
    before = await kpis(suite, station="SH-PD-01")
    await resolve(suite, case_id, "SH-PD-01")
    # The customer answers the satisfaction question by SMS on their phone ("PJ <case> 5"): CSAT counts it.
    answer = SatisfactionAnswerPayload(
        source_system="sms-gateway",
        source_id="pj-" + case_id,
        channel=Channel.PHONE,
        case_id=case_id,
        score=5,
        answered_at=datetime.now(UTC),
    )
    await suite.kit.publish(SatisfactionAnswered.create(answer, key=case_id, producer="sms-gateway"))
    recorded = await suite.log.case_event(case_id, "case.satisfaction_recorded")
    assert recorded.payload.score == 5  # type: ignore[attr-defined]

    after: dict[str, Any] = {}

    async def counted() -> bool:
        after.update(await kpis(suite, station="SH-PD-01"))
        return bool(after["csat_answers"] > before["csat_answers"])

    await until(counted, timeout_s=30, what="the CSAT answer in the station's KPIs")
    assert after["csat_answers"] == before["csat_answers"] + 1
    assert after["csat"] > 0
    # The customer calls again after the close: the case reopens at the station that held it.
    await suite.kit.publish(contact(wb, ContactCategory.INQUIRY, "说好送到的，还是没收到"))
    reopened = await suite.log.case_event(case_id, "case.reopened")
    assert reopened.payload.reopen_count == 1  # type: ignore[attr-defined]
    back = await suite.log.case_event(case_id, "case.escalated", trigger="reopened")
    assert back.payload.holder == "SH-PD-01"  # type: ignore[attr-defined]
    assert suite.log.of_case(case_id, "case.opened")[1:] == []

    async def reopen_counted() -> bool:
        return bool((await kpis(suite, station="SH-PD-01"))["reopen_rate"] > 0)

    # sla counts the reopening when it reads case.reopened, which may be after the test has seen it.
    await until(reopen_counted, timeout_s=30, what="the reopening in the station's KPIs")
