"""HQ's rules for stations, as data: the reasons a station may give, what HQ decides by rule, and the words
no record may hold (seed 000 QA table: 服务禁语, 信息记录).
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from caseflow_contracts.common import Identifier

Label = Annotated[str, Field(min_length=1, max_length=200)]
Word = Annotated[str, Field(min_length=1, max_length=50)]


class _Rules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AutoReassignment(_Rules):
    """A request HQ approves by rule: its reason code, when a covering station is known (超区 with coverage)."""

    reason_codes: list[Identifier] = Field(min_length=1)
    requests: list[Annotated[str, Field(pattern=r"^(rejection|transfer)$")]] = Field(
        default_factory=lambda: ["transfer", "rejection"]
    )
    decided_by: Identifier = Field(description="The name the rule decides under, on case.transferred")


class HqRules(_Rules):
    #: Its name on policies.versions (see caseflow_kit.rules).
    RULES_KIND: ClassVar[str] = "hq_rules"

    version: Label
    rejection_reasons: dict[Identifier, Label] = Field(min_length=1, description="Code -> what it means")
    transfer_reasons: dict[Identifier, Label] = Field(min_length=1, description="Code -> what it means")
    auto_reassign: list[AutoReassignment] = Field(default_factory=list)
    forbidden_words: list[Word] = Field(min_length=1, description="No station text holding one travels on")
    allowed_phrases: list[Word] = Field(
        default_factory=list, description="Phrases holding a forbidden word that are fine (checked first)"
    )

    @model_validator(mode="after")
    def _known_codes(self) -> HqRules:
        for rule in self.auto_reassign:
            for request in rule.requests:
                known = self.rejection_reasons if request == "rejection" else self.transfer_reasons
                unknown = sorted(set(rule.reason_codes) - set(known))
                if unknown:
                    raise ValueError(f"auto_reassign names unknown {request} reason codes {unknown}")
        return self

    def reasons_for(self, request: str) -> dict[str, str]:
        return self.rejection_reasons if request == "rejection" else self.transfer_reasons

    def auto_rule(self, request: str, reason_code: str) -> AutoReassignment | None:
        return next((r for r in self.auto_reassign if request in r.requests and reason_code in r.reason_codes), None)

    def forbidden_in(self, text: str) -> list[str]:
        """The forbidden words the text holds, in list order (an allowed phrase hides the words inside it)."""
        for phrase in self.allowed_phrases:
            text = text.replace(phrase, " ")
        return [word for word in self.forbidden_words if word in text]
