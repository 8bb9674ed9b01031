"""Decisions notify takes from other services' copies of facts, and what happens when those copies lag
(issue 20; the README's "Late facts" lists them). Through the shared rig: real consumer, SQLite, the
worker, the receivers, and a ManualClock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from caseflow_contracts import parse_event
from caseflow_contracts.cases import EscalationTrigger
from caseflow_contracts.common import Channel, Priority
from caseflow_contracts.notify import NotifyChannel

from .rig import Rig, notify_rig
from .support import (
    NOW,
    breach_withdrawn,
    breached,
    case_id,
    claim_decided,
    closed,
    escalated,
    opened,
    progress,
    reopened,
    resolved,
    transferred,
)

#: NOW is 14:00 in Shanghai; at NOW + 8 h it is 22:00 there, outside the SMS hours of 08:00-21:00.
SMS_DAYTIME = {
    "sending_hours": {"sms": {"week": {d: ["08:00-21:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}}}
}
EVENING = NOW + timedelta(hours=8)


@pytest.fixture
async def rig(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    async with notify_rig(tmp_path, **getattr(request, "param", {})) as the_rig:
        yield the_rig


async def test_a_claim_that_overtakes_case_opened_goes_on_the_channel_the_contact_then_names(rig: Rig) -> None:
    cid = case_id()
    await rig.handle(claim_decided(cid))  # claims.events: another topic, consumed independently
    await rig.worker.run_once()
    waiting = {d.channel: d.deferred for d in await rig.deliveries(cid)}
    assert waiting == {None: "awaiting_case", NotifyChannel.WEBHOOK: "awaiting_case"}  # the customer's: not chosen yet

    await rig.handle(opened(cid, channel=Channel.EMAIL, platform=None))  # they wrote to us by e-mail
    await rig.drain()
    by_template = {(d.template, d.any_channel.value): d.state.value for d in await rig.deliveries(cid)}
    assert by_template == {
        ("claim_decided", "email"): "sent",
        ("claim_decided", "webhook"): "skipped",  # no platform on this case after all
        ("case_acknowledged", "email"): "sent",
    }
    assert rig.sms.accepted == []


async def test_a_contact_that_never_comes_fails_the_delivery_for_a_person(rig: Rig) -> None:
    cid = case_id()
    trigger = claim_decided(cid)
    await rig.handle(trigger)
    rig.clock.advance(3599)
    await rig.worker.run_once()
    assert {d.state.value for d in await rig.deliveries(cid)} == {"pending"}  # still within contact_wait_s
    await rig.drain(wait_up_to_s=10)
    assert {(d.state.value, d.last_error) for d in await rig.deliveries(cid)} == {
        ("failed", "no contact details: case.opened never arrived")
    }
    assert len(await rig.events("notification.failed")) == 2
    letters = await rig.dead_letters()
    assert {m.topic for m in letters} == {"claims.events.dlq"}
    assert {parse_event(m.value).event_id for m in letters} == {trigger.event_id}


async def test_a_breach_handled_after_the_resolution_is_not_apologised_for(rig: Rig) -> None:
    cid = case_id()
    await rig.handle(opened(cid, platform=None), resolved(cid))
    await rig.handle(breached(cid))  # sla.breaches is consumed apart from cases.lifecycle: it came in later
    await rig.drain()
    states = {d.template: (d.state.value, d.last_error) for d in await rig.deliveries(cid)}
    assert states["sla_apology"] == ("skipped", "case resolved before this was said")
    assert states["case_resolved"] == ("sent", None)
    assert not [m for m in rig.sms.accepted if "抱歉" in m["text"]]


@pytest.mark.parametrize("rig", [SMS_DAYTIME], indirect=True)
async def test_updates_held_overnight_lapse_when_the_case_is_resolved_meanwhile(rig: Rig) -> None:
    cid = case_id()
    await rig.handle(opened(cid, platform=None))
    await rig.drain(wait_up_to_s=0)
    rig.clock.set(EVENING)
    await rig.handle(progress(cid, at=EVENING), breached(cid, at=EVENING))
    await rig.drain(wait_up_to_s=0)
    held = {d.template: d.deferred for d in await rig.deliveries(cid) if d.state.value == "pending"}
    assert held == {"progress_update": "quiet_hours", "sla_apology": "quiet_hours"}

    later = EVENING + timedelta(hours=1)
    await rig.handle(resolved(cid, at=later))
    await rig.drain(wait_up_to_s=12 * 3600)  # the morning comes
    states = {d.template: (d.state.value, d.last_error) for d in await rig.deliveries(cid)}
    assert states == {
        "case_acknowledged": ("sent", None),
        "progress_update": ("skipped", "case resolved before it was sent"),
        "sla_apology": ("skipped", "case resolved before it was sent"),
        "case_resolved": ("sent", None),
    }
    assert len(rig.sms.accepted) == 2


@pytest.mark.parametrize("rig", [SMS_DAYTIME], indirect=True)
async def test_a_withdrawn_breach_is_not_apologised_for_once_disproved(rig: Rig) -> None:
    cid, sent_first = case_id(), case_id()
    rig.clock.set(EVENING)
    await rig.handle(
        opened(cid, platform=None, at=EVENING),
        opened(sent_first, platform=None, email=None, priority=Priority.URGENT, at=EVENING),
    )
    breach, urgent_breach = breached(cid, at=EVENING), breached(sent_first, priority=Priority.URGENT, at=EVENING)
    await rig.handle(breach, urgent_breach)
    await rig.drain(wait_up_to_s=0)
    await rig.handle(breach_withdrawn(breach, at=EVENING), breach_withdrawn(urgent_breach, at=EVENING))
    await rig.drain(wait_up_to_s=12 * 3600)

    apology = {
        d.case_id: (d.state.value, d.last_error) for d in await rig.all_deliveries() if d.template == "sla_apology"
    }
    assert apology[cid] == ("skipped", "breach withdrawn")  # it waited for the morning; by then it was disproved
    assert apology[sent_first] == ("sent", None)  # urgent: it had gone out already, and stays told


async def test_a_reopened_case_gets_its_updates_again(rig: Rig) -> None:
    cid = case_id()
    await rig.handle(opened(cid, platform=None), resolved(cid), closed(cid))
    await rig.handle(progress(cid, "关闭后补充说明"))
    await rig.handle(reopened(cid), escalated(cid, trigger=EscalationTrigger.REOPENED, supervisor="SH-HUB-01"))
    await rig.handle(progress(cid, "已重新派送"))
    await rig.drain()
    told = sorted((d.template, d.variables.get("note", ""), d.state.value) for d in await rig.deliveries(cid))
    assert told == [
        ("case_acknowledged", "", "skipped"),  # the story came at once: the resolution made it moot
        ("case_escalated", "", "sent"),
        ("case_resolved", "", "sent"),
        ("progress_update", "关闭后补充说明", "skipped"),  # closed when it came
        ("progress_update", "已重新派送", "sent"),
    ]


async def test_a_japanese_customer_is_answered_in_japanese_by_the_station_that_now_holds_the_case(rig: Rig) -> None:
    cid = case_id()
    await rig.handle(opened(cid, language="ja", time_zone="Asia/Tokyo", platform=None))
    await rig.handle(transferred(cid, "SH-MH-02"))
    await rig.drain()
    texts = sorted(m["text"] for m in rig.sms.accepted)
    assert len(texts) == 2
    assert all(t.startswith("【BEST Express】") and "お問い合わせ" in t for t in texts)
    assert any("SH-MH-02が担当いたします" in t for t in texts)
    sent = await rig.events("notification.sent")
    assert {e.payload.locale for e in sent} == {"ja"}  # type: ignore[attr-defined]


async def test_the_appeal_window_told_is_the_claims(rig: Rig) -> None:
    cid = case_id()
    await rig.handle(opened(cid, platform=None), claim_decided(cid, appeal_until=NOW + timedelta(days=30)))
    await rig.drain()
    [claim_sms] = [m["text"] for m in rig.sms.accepted if "理赔" in m["text"]]
    assert "2026年04月01日 14:00前申诉" in claim_sms  # 30 days on, in Shanghai time
