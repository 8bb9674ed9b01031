"""notify as a real process, killed (SIGKILL) in the middle of a send, then restarted on the same data."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx

from caseflow_contracts import parse_event
from caseflow_contracts.topics import NOTIFY_DELIVERIES
from caseflow_dev.harness import ServiceProcess
from caseflow_dev.sinks import SmtpSink
from caseflow_dev.testing import KafkaTestKit, until
from caseflow_kit import Context, Runtime
from caseflow_kit.auth import Role
from caseflow_notify.app import SPEC
from caseflow_notify.settings import NotifySettings

from .support import (
    SMS_GATEWAY_TOKEN,
    TEST_KEY,
    case_id,
    notify_overrides,
    opened,
    sms_gateway,
    webhook_receiver,
    write_policy,
)


async def test_sigkill_mid_send_then_restart_delivers_once(kafka: KafkaTestKit, tmp_path: Path) -> None:
    with SmtpSink() as smtp:
        async with webhook_receiver(hang_s=60) as web, sms_gateway() as sms:
            policy = write_policy(tmp_path, fan_out="all")
            overrides = notify_overrides(policy, web, sms, smtp)
            # What the handler records for a case.opened (done here, so the process needs no consumer-group join).
            runtime = Runtime(SPEC, kafka.settings(NotifySettings, **overrides))
            runtime.ownership.own_everything(1)
            await runtime.start_dependencies()
            cid = case_id()
            event = opened(cid, phone=None)
            for handler in (s.handlers.get(event.type) for s in SPEC.subscriptions):
                if handler is not None:
                    uow = runtime.unit_of_work()
                    await handler(
                        event,
                        Context(uow=uow, deps=runtime.deps, event=event, producer="notify", now=runtime.clock.now()),
                    )
                    await uow.commit()
            await runtime.close()

            env = kafka.env(
                CASEFLOW_PII_KEY=TEST_KEY,
                CASEFLOW_NOTIFY_POLICY_PATH=str(policy),
                CASEFLOW_SMTP_HOST="127.0.0.1",
                CASEFLOW_SMTP_PORT=str(smtp.port),
                CASEFLOW_SMS_GATEWAY_URL=f"{sms.url}/sms",
                CASEFLOW_SMS_GATEWAY_TOKEN=SMS_GATEWAY_TOKEN,
                CASEFLOW_WEBHOOK_TARGETS=json.dumps(overrides["webhook_targets"]),
                CASEFLOW_WEBHOOK_SECRETS=json.dumps(overrides["webhook_secrets"]),
            )
            # Each process its own consumer group: a restart in the same group would first wait out the dead
            # member's session (the broker's business, not notify's), and nothing here is consumed anyway.
            first_env = {**env, "CASEFLOW_GROUP_ID": kafka.prefix + "notify-1"}
            first = ServiceProcess("notify", first_env, log_file=tmp_path / "notify-1.log").start()
            try:
                await until(lambda: web.requests and smtp.messages)  # the receiver has the webhook...
                assert len(web.accepted) == 1
            finally:
                first.kill()  # ...and the process dies before it hears back
            web.hang_s = 0

            second_env = {**env, "CASEFLOW_GROUP_ID": kafka.prefix + "notify-2"}
            second = ServiceProcess("notify", second_env, log_file=tmp_path / "notify-2.log").start()
            try:
                await second.ready()
                reader = kafka.auth(Role.CASES_READER)
                async with httpx.AsyncClient(base_url=second.url, headers=reader) as client:

                    async def states() -> dict[str, str]:
                        body = (await client.get(f"/cases/{cid}/notifications")).json()
                        return {n["channel"]: n["state"] for n in body["notifications"]}

                    deadline = time.monotonic() + 30
                    while (await states()).get("webhook") != "sent":
                        assert time.monotonic() < deadline, await states()
                        await asyncio.sleep(0.1)
                    final = await states()
            finally:
                second.terminate()

            # the webhook went again after the lease ran out, with the same key; the receiver dropped the copy
            assert (len(web.accepted), web.duplicates) == (1, 1)
            # the e-mail was either recorded before the kill or failed as uncertain: never sent twice
            assert len(smtp.messages) == 1
            assert final["email"] in {"sent", "failed"}
            records = await kafka.collect(NOTIFY_DELIVERIES, 2, timeout_s=20)
            sent = [parse_event(r.value) for r in records]
            webhook_sent = [e for e in sent if e.type == "notification.sent" and e.payload.channel == "webhook"]  # type: ignore[attr-defined]
            assert len(webhook_sent) == 1
