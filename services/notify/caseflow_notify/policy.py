"""The notification policy file (data/policy.yaml): the domain's rules plus each channel's sending hours.

Sending hours are a working calendar (caseflow_kit.calendar, the one model every service uses) read in
the customer's own time zone: SMS 08:00-21:00 means 08:00-21:00 where the customer lives.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, field_validator

from caseflow_contracts.notify import NotifyChannel
from caseflow_kit.calendar import Calendar, CalendarSpec, known_zone
from caseflow_kit.rules import RulesFile

from .domain import DeliveryPolicy

#: Where a customer whose zone is unknown is taken to live.
DEFAULT_ZONE = "Asia/Shanghai"


class Policy(DeliveryPolicy):
    #: Its name on policies.versions (see caseflow_kit.rules).
    RULES_KIND: ClassVar[str] = "notify_policy"

    sending_hours: dict[NotifyChannel, CalendarSpec] = Field(
        default_factory=dict,
        description="When each channel may speak to a customer, in the customer's zone; a channel not listed: any"
        " time; urgent cases: any time",
    )

    @field_validator("sending_hours")
    @classmethod
    def _customers_zone(cls, value: dict[NotifyChannel, CalendarSpec]) -> dict[NotifyChannel, CalendarSpec]:
        for channel, spec in value.items():
            if "time_zone" in spec.model_fields_set:
                raise ValueError(f"{channel.value}: sending hours follow the customer's zone; leave time_zone out")
        return value


class SendingHoursBook:
    """A channel's sending hours in a customer's zone, built once per (channel, zone) for the policy in force."""

    def __init__(self, policy_file: RulesFile[Policy]) -> None:
        self._file = policy_file
        self._policy: Policy | None = None
        self._built: dict[tuple[NotifyChannel, str], Calendar | None] = {}

    def __call__(self, channel: NotifyChannel, time_zone: str) -> Calendar | None:
        policy = self._file.current
        if policy is not self._policy:  # reloaded: build again from the new file
            self._policy, self._built = policy, {}
        key = (channel, time_zone)
        if key not in self._built:
            spec = policy.sending_hours.get(channel)
            self._built[key] = None if spec is None else spec.model_copy(update={"time_zone": _zone(time_zone)}).build()
        return self._built[key]


def _zone(name: str) -> str:
    try:
        return known_zone(name)
    except ValueError:
        return DEFAULT_ZONE
