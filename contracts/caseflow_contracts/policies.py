"""The rules files the services load, kept by version so a replay can find the rules that decided a period.

Topic policies.versions is compacted on its key `kind:version`: the broker keeps the last record of every
version for good, and a service that republishes a version it loaded before (every start does) changes nothing.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import ConfigDict, Field

from .common import STRICT, Contract, Identifier, ShortText, UtcDateTime
from .envelope import Event

#: A rules file is kept whole on the topic; a larger one is refused (keep it in a folder of kept versions).
MAX_CONTENT_CHARS = 200_000

RulesKind = Annotated[
    str,
    Field(
        pattern=r"^[a-z][a-z0-9_]{0,63}$",
        description="Which rules: intake_rules, hq_rules, directory, sla_policies, qa_table, compensation_rules,"
        " notify_policy",
    ),
]


class PolicyVersionPayload(Contract):
    model_config = ConfigDict(**{**STRICT, "str_max_length": MAX_CONTENT_CHARS})

    policy_id: Identifier = Field(description="kind:version, the record key the topic is compacted on")
    kind: RulesKind
    version: ShortText = Field(description="The version the file declares, as the services stamp it on events")
    content: Annotated[str, Field(min_length=1, max_length=MAX_CONTENT_CHARS)] = Field(
        description="The file as loaded (YAML or JSON text), validated by the service before it was published"
    )
    file_format: Literal["yaml", "json"] = Field(description="How `content` is written")
    service: Identifier = Field(description="The service that loaded it")
    loaded_at: UtcDateTime = Field(description="When the service loaded it")


class PolicyVersionLoaded(Event):
    """A service loaded a version of one of its rules files (at start, or when a reload took a new file)."""

    KEY_FIELDS: ClassVar[tuple[str, ...]] = ("policy_id",)
    MINOR: ClassVar[int] = 1

    type: Literal["policy.version_loaded"] = "policy.version_loaded"
    payload: PolicyVersionPayload
