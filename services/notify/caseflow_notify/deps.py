"""notify's dependencies: the policy file, templates, the personal-data key, the channel adapters, the worker."""

from __future__ import annotations

from dataclasses import dataclass, field

from caseflow_contracts.notify import NotifyChannel
from caseflow_kit import Runtime
from caseflow_kit.privacy import Sealer
from caseflow_kit.rules import RulesFile

from .channels import Sender, SmsGatewaySender, SmtpConfig, SmtpSender, WebhookSender, check_webhook_secrets
from .composition import Composer
from .metrics import NotifyMetrics
from .policy import Policy, SendingHoursBook
from .settings import NotifySettings
from .templates import Templates
from .worker import DeliveryWorker

NotifyRuntime = Runtime[NotifySettings, "Deps"]


@dataclass
class Deps:
    """What handlers, the worker and the HTTP edge share."""

    policy_file: RulesFile[Policy]
    templates: Templates
    composer: Composer
    hours: SendingHoursBook
    senders: dict[NotifyChannel, Sender]
    webhook_names: frozenset[str]
    worker: DeliveryWorker | None = field(default=None, repr=False)

    @property
    def policy(self) -> Policy:
        return self.policy_file.current


def smtp_config(s: NotifySettings, policy: Policy) -> SmtpConfig:
    config = SmtpConfig(
        host=s.smtp_host,
        port=s.smtp_port,
        sender=s.smtp_sender,
        timeout_s=policy.channel(NotifyChannel.EMAIL).timeout_s,
        username=s.smtp_username,
        password=s.smtp_password.get_secret_value() if s.smtp_password else None,
        starttls=s.smtp_starttls,
        implicit_tls=s.smtp_implicit_tls,
        allow_plaintext_auth=s.smtp_allow_plaintext_auth,
        ca_file=s.smtp_ca_file,
    )
    config.check()
    return config


async def build_deps(runtime: NotifyRuntime) -> Deps:
    s = runtime.settings
    policy_file = RulesFile(s.notify_policy_path, Policy)
    policy = policy_file.current
    templates = Templates(
        s.notify_templates_dir,
        required_locales=policy.locales,
        fallbacks=policy.fallback_locales,
        aliases=policy.locale_aliases,
        forbidden=policy.forbidden_words,
    )
    webhook_secrets = {k: [v.get_secret_value().encode() for v in vs] for k, vs in s.webhook_secrets.items()}
    check_webhook_secrets(s.webhook_targets, webhook_secrets)
    clock = runtime.clock
    senders: dict[NotifyChannel, Sender] = {
        NotifyChannel.EMAIL: SmtpSender(smtp_config(s, policy), clock=clock),
        NotifyChannel.SMS: SmsGatewaySender(
            s.sms_gateway_url, s.sms_gateway_token.get_secret_value(), policy.channel(NotifyChannel.SMS).timeout_s
        ),
        NotifyChannel.WEBHOOK: WebhookSender(
            webhook_secrets, policy.channel(NotifyChannel.WEBHOOK).timeout_s, clock=clock
        ),
    }
    composer = Composer(templates, Sealer.from_settings(s), dict(s.webhook_targets), lambda: policy_file.current)
    deps = Deps(policy_file, templates, composer, SendingHoursBook(policy_file), senders, frozenset(s.webhook_targets))
    worker = deps.worker = DeliveryWorker(runtime, deps, NotifyMetrics(runtime.registry))
    runtime.on_slots_revoked.append(lambda slots: worker.release(slots, s.handover_timeout_s))
    return deps


async def close_deps(deps: Deps) -> None:
    for sender in deps.senders.values():
        await sender.close()
