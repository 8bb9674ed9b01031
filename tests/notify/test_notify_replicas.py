"""Two notify replicas and a slow mail relay: every e-mail is handed to the relay exactly once.

Each replica sends only the deliveries of the slots it holds (caseflow_kit.ownership). Before that, a
replica claimed hundreds of deliveries for its eight SMTP sessions; the ones waiting for a session
outlived their lease, the other replica reclaimed them as interrupted and failed them, and they were
then sent anyway: 12 e-mails for 8 deliveries.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from caseflow_contracts import parse_event
from caseflow_contracts.topics import NOTIFY_DELIVERIES
from caseflow_dev.harness import run_in_process
from caseflow_dev.sinks import SmtpSink
from caseflow_dev.testing import KafkaTestKit
from caseflow_notify.app import SPEC
from caseflow_notify.settings import NotifySettings

from .support import case_id, notify_overrides, opened, sms_gateway, webhook_receiver, write_policy

CASES = 48


async def test_two_replicas_and_a_slow_relay_send_each_email_once(kafka: KafkaTestKit, tmp_path: Path) -> None:
    with SmtpSink(slow_s=1.2) as smtp:
        async with webhook_receiver() as web, sms_gateway() as sms:
            # leases of 6.5 s; 48 e-mails at 1.2 s each over eight SMTP sessions: a replica that took them all
            # would keep the last ones waiting for a session (7.2 s) longer than their lease. The SMTP timeout
            # (3 s) stays well above the relay's 1.2 s: a busy machine must not turn slowness into failures.
            policy = write_policy(tmp_path, channels={"email": {"timeout_s": 3.0, "lease_s": 6.5}})
            overrides = notify_overrides(policy, web, sms, smtp)
            group = {"group_id": kafka.prefix + "notify", "session_timeout_ms": 6000, "heartbeat_interval_ms": 1000}
            first = kafka.settings(NotifySettings, **overrides, **group, data_dir=tmp_path / "a")
            second = kafka.settings(NotifySettings, **overrides, **group, data_dir=tmp_path / "a")
            async with run_in_process(SPEC, first), run_in_process(SPEC, second):
                cases = [case_id() for _ in range(CASES)]
                for cid in cases:
                    await kafka.publish(opened(cid, phone=None, platform=None))
                records = await kafka.collect(NOTIFY_DELIVERIES, CASES, timeout_s=120)
                events = [parse_event(r.value) for r in records]
                assert Counter(e.type for e in events) == Counter({"notification.sent": CASES})
                assert len(smtp.messages) == CASES
                assert sorted(m["X-Caseflow-Case"] for m in smtp.messages) == sorted(cases)
