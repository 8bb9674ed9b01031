"""notify as a service: real broker (Tansu), real SQLite, real SMTP and HTTP receivers."""

from __future__ import annotations

from pathlib import Path

import httpx

from caseflow_contracts import parse_event
from caseflow_contracts.topics import CASES_LIFECYCLE, NOTIFY_DELIVERIES
from caseflow_dev.harness import run_in_process
from caseflow_dev.sinks import HttpSink, SmtpSink
from caseflow_dev.testing import KafkaTestKit
from caseflow_kit.auth import Role
from caseflow_kit.uow import event_headers
from caseflow_notify.app import SPEC
from caseflow_notify.settings import NotifySettings

from .support import (
    WEBHOOK_SECRET,
    breached,
    case_id,
    claim_decided,
    escalated,
    notify_overrides,
    opened,
    payout,
    progress,
    resolved,
    sms_gateway,
    webhook_receiver,
    write_policy,
)


async def test_notify_through_the_broker(kafka: KafkaTestKit, tmp_path: Path) -> None:
    with SmtpSink(fail_next=1) as smtp:
        async with (
            webhook_receiver(fail_next=2) as web,
            HttpSink(fail_next=10_000, fail_status=500) as dead,
            sms_gateway() as sms,
        ):
            # the old fan-out (every channel at once), so that every channel is exercised through the broker
            overrides = notify_overrides(write_policy(tmp_path, fan_out="all"), web, sms, smtp)
            overrides["webhook_targets"] = {**overrides["webhook_targets"], "shop-b": f"{dead.url}/hooks"}
            overrides["webhook_secrets"] = {**overrides["webhook_secrets"], "shop-b": "shop-b-" + WEBHOOK_SECRET}
            settings = kafka.settings(NotifySettings, **overrides)
            async with run_in_process(SPEC, settings) as service:
                story, other = case_id(), case_id()
                first = opened(story)
                for event in (
                    first,
                    first,  # redelivered: changes nothing
                    escalated(story),
                    progress(story),
                    breached(story),
                    claim_decided(story),
                    payout(story),
                ):
                    await kafka.publish(event)
                # The other case's opening, whose webhook fails for good, as a producer may write it: bytes that are
                # not how caseflow would write the event again, and a header caseflow does not give it.
                other_opened = opened(other, platform="shop-b", language="en")
                as_written = b" " + other_opened.to_bytes()
                written_headers = [(k, v.encode()) for k, v in event_headers(other_opened).items()]
                written_headers.append(("x-upstream-trace", b"trace-7"))
                await kafka.publish_raw(CASES_LIFECYCLE, as_written, key=other.encode(), headers=written_headers)
                # the updates go out while the case is open (once it is resolved, those not yet sent lapse)
                early = await kafka.collect(NOTIFY_DELIVERIES, 19, timeout_s=90)
                await kafka.publish(resolved(story))

                # 3 + 3 + 2 + 2 + 3 + 3, then 3 for the resolution; sms + e-mail sent and the webhook failed
                # for the other
                records = await kafka.collect(NOTIFY_DELIVERIES, 22, timeout_s=90)
                assert len(early) == 19
                events = [parse_event(r.value) for r in records]
                sent = [e for e in events if e.type == "notification.sent"]
                failed = [e for e in events if e.type == "notification.failed"]
                assert len(sent) == 21
                assert len({e.payload.notification_id for e in sent}) == 21  # type: ignore[attr-defined]
                assert len(failed) == 1
                assert failed[0].payload.case_id == other  # type: ignore[attr-defined]
                assert failed[0].payload.channel == "webhook"  # type: ignore[attr-defined]
                assert failed[0].payload.attempts == 3  # type: ignore[attr-defined]

                dead_letters = await kafka.collect(kafka.topic(CASES_LIFECYCLE) + ".dlq", 1, timeout_s=10)
                assert len(dead_letters) == 1
                headers = {k: v.decode() for k, v in dead_letters[0].headers}
                assert headers["x-dlq-reason"] == "delivery_failed"
                # The trigger as it arrived: its bytes, its headers and where it was on its topic.
                assert dead_letters[0].value == as_written
                assert headers["x-upstream-trace"] == "trace-7"
                [consumed] = [r for r in await kafka.collect(CASES_LIFECYCLE, 6, timeout_s=10) if r.value == as_written]
                assert headers["x-dlq-original-partition"] == str(consumed.partition)
                assert headers["x-dlq-original-offset"] == str(consumed.offset)

                # the receivers: the webhook receiver failed twice then recovered, and got each message once
                story_hooks = [h for h in web.accepted if h["case_id"] == story]
                assert sorted(h["event"] for h in story_hooks) == sorted(
                    ["case.opened", "case.escalated", "case.resolved", "claim.decided", "payout.issued"]
                )
                assert web.refused == []
                assert len(dead.requests) == 3
                story_mails = [m for m in smtp.messages if m["X-Caseflow-Case"] == story]
                assert len(story_mails) == 7
                assert all(m["To"] == "xiaoming.wang@example.com" for m in story_mails)
                assert sum(1 for m in sms.accepted if story in m["text"]) == 7
                assert all(m["to"] == "13812345678" for m in sms.accepted)
                [english] = [m for m in smtp.messages if m["X-Caseflow-Case"] == other]
                assert english["Content-Language"] == "en"

                # the read endpoint: history, masked
                reader = kafka.auth(Role.CASES_READER)
                async with httpx.AsyncClient(base_url=service.url, headers=reader) as client:
                    answer = await client.get(f"/cases/{story}/notifications")
                    assert answer.status_code == 200
                    body = answer.json()
                    assert len(body["notifications"]) == 19
                    assert {n["state"] for n in body["notifications"]} == {"sent"}
                    assert body["contact"]["masked"]["phone"] == "138****5678"
                    assert "13812345678" not in answer.text
                    assert "xiaoming.wang" not in answer.text
                    assert "sealed" not in answer.text
                    assert (await client.get("/cases/CF-NOSUCHCASE1/notifications")).status_code == 404
                    assert (await client.get("/cases/not-a-case/notifications")).status_code == 422
                    metrics = (await client.get("/metrics")).text
                    assert 'caseflow_notify_outcomes_total{channel="webhook",outcome="failed"} 1.0' in metrics
                    assert 'caseflow_notify_outcomes_total{channel="email",outcome="retry"} 1.0' in metrics
                    assert 'caseflow_notify_outcomes_total{channel="sms",outcome="sent"} 8.0' in metrics
                    assert body["contact"]["status"] == "resolved"
