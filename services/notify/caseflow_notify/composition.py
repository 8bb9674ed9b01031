"""Composing one message: the template rendered in the customer's language, and the address, opened from
the sealed contact only now, in memory (webhooks: the platform's URL)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from caseflow_contracts.notify import NotifyChannel
from caseflow_kit.privacy import Sealer

from .channels import DeliveryError, Message
from .domain import Delivery, NotifyCase
from .policy import Policy
from .templates import CHANNEL_PARTS, Templates

_ADDRESS_FIELDS = {NotifyChannel.SMS: ("phone", "mobile"), NotifyChannel.EMAIL: ("email",)}


class Composer:
    def __init__(
        self, templates: Templates, sealer: Sealer, webhook_targets: Mapping[str, str], policy: Callable[[], Policy]
    ) -> None:
        self.templates = templates
        self.sealer = sealer
        self.webhook_targets = webhook_targets
        self.policy = policy

    def compose(self, delivery: Delivery, case: NotifyCase) -> Message:
        """Raises DeliveryError (permanent) when nobody can be reached, SealError when the contact cannot be
        opened, KeyError when the template misses a variable."""
        channel = delivery.channel
        if channel is None:
            raise DeliveryError("no channel chosen", permanent=True)
        contact = case.contact
        rendered = self.templates.render(
            delivery.template,
            contact.language,
            delivery.variables,
            contact.time_zone,
            desk_agent_id=self.policy().desk_agent_id,
            parts=CHANNEL_PARTS[channel.value],
        )
        target = ""
        if channel is NotifyChannel.WEBHOOK:
            target = contact.platform or ""
            url = self.webhook_targets.get(target)
            if url is None:
                raise DeliveryError(f"no webhook configured for {target!r}", permanent=True)
            address = url
        else:
            plain = self.sealer.open(case.sealed, case.key_id)
            found = next((str(plain[f]) for f in _ADDRESS_FIELDS[channel] if plain.get(f)), None)
            if found is None:
                raise DeliveryError(f"sealed contact has no {channel.value} address", permanent=True)
            address = found
        return Message(
            delivery.id, delivery.case_id, delivery.trigger.type, address, rendered, delivery.variables, target
        )
