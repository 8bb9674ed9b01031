"""Wiring of notify: what it consumes, what it stores, what it serves, and its delivery worker."""

from __future__ import annotations

from caseflow_contracts.notify import NotifyChannel
from caseflow_contracts.topics import CASES_LIFECYCLE, CLAIMS_EVENTS, SLA_BREACHES
from caseflow_kit import Runtime, ServiceSpec, Subscription
from caseflow_kit.privacy import Sealer
from caseflow_kit.rules import RulesFile

from .channels import Sender, SmsGatewaySender, SmtpConfig, SmtpSender, WebhookSender, check_webhook_secrets
from .delivery import DeliveryWorker, Deps
from .handlers import CLAIMS_HANDLERS, LIFECYCLE_HANDLERS, SLA_HANDLERS
from .http import routers
from .metrics import NotifyMetrics
from .policy import Policy
from .settings import NotifySettings
from .store import COLLECTIONS
from .templates import Templates

NotifyRuntime = Runtime[NotifySettings, Deps]


async def build_deps(runtime: NotifyRuntime) -> Deps:
    s = runtime.settings
    policy_file = RulesFile(s.notify_policy_path, Policy)
    policy = policy_file.current
    templates = Templates(s.notify_templates_dir, policy.default_locale, policy.forbidden_words)
    smtp = SmtpConfig(
        host=s.smtp_host,
        port=s.smtp_port,
        sender=s.smtp_sender,
        timeout_s=policy.channel(NotifyChannel.EMAIL).timeout_s,
        username=s.smtp_username,
        password=s.smtp_password.get_secret_value() if s.smtp_password else None,
        starttls=s.smtp_starttls,
        implicit_tls=s.smtp_implicit_tls,
        allow_plaintext_auth=s.smtp_allow_plaintext_auth,
    )
    smtp.check()
    webhook_secrets = {k: [v.get_secret_value().encode() for v in vs] for k, vs in s.webhook_secrets.items()}
    check_webhook_secrets(s.webhook_targets, webhook_secrets)
    senders: dict[NotifyChannel, Sender] = {
        NotifyChannel.EMAIL: SmtpSender(smtp),
        NotifyChannel.SMS: SmsGatewaySender(
            s.sms_gateway_url, s.sms_gateway_token.get_secret_value(), policy.channel(NotifyChannel.SMS).timeout_s
        ),
        NotifyChannel.WEBHOOK: WebhookSender(webhook_secrets, policy.channel(NotifyChannel.WEBHOOK).timeout_s),
    }
    deps = Deps(policy_file, templates, Sealer.from_settings(s), senders, dict(s.webhook_targets))
    deps.worker = DeliveryWorker(
        runtime.store,
        runtime.unit_of_work,
        runtime.relay.flush,
        deps,
        runtime.ownership,
        group_id=runtime.group_id,
        topic_prefix=s.topic_prefix,
        batch=s.worker_batch,
        max_in_flight=s.worker_max_in_flight,
        poll_s=s.worker_poll_ms / 1000,
        metrics=NotifyMetrics(runtime.registry),
    )
    worker = deps.worker
    runtime.on_slots_revoked.append(lambda slots: worker.release(slots, runtime.settings.handover_timeout_s))
    return deps


async def close_deps(deps: Deps) -> None:
    for sender in deps.senders.values():
        await sender.close()


async def run_worker(runtime: NotifyRuntime) -> None:
    worker = runtime.deps.worker
    if worker is not None:
        await worker.run()


SPEC: ServiceSpec[NotifySettings, Deps] = ServiceSpec(
    name="notify",
    http_port=8085,
    settings_type=NotifySettings,
    collections=COLLECTIONS,
    subscriptions=[
        Subscription(CASES_LIFECYCLE, handlers=LIFECYCLE_HANDLERS),
        Subscription(SLA_BREACHES, handlers=SLA_HANDLERS),
        Subscription(CLAIMS_EVENTS, handlers=CLAIMS_HANDLERS),
    ],
    build_deps=build_deps,
    http=routers,
    background=[run_worker],
    close_deps=close_deps,
)
