"""The intake rules as data: the schema of `data/intake_rules.yaml`, validated on load.

Operations change the YAML, never the code; a file that fails validation is
refused and the rules in force stay in force (see caseflow_kit.rules).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from caseflow_contracts.cases import FraudFlag
from caseflow_contracts.common import CaseKind, ClaimantRole, PayoutMethod, Priority
from caseflow_contracts.upstream import ContactCategory, ExceptionKind

PRIORITY_ORDER: tuple[Priority, ...] = (Priority.LOW, Priority.NORMAL, Priority.HIGH, Priority.URGENT)
Amounts = dict[Annotated[str, Field(pattern=r"^[A-Z]{3}$")], Annotated[int, Field(ge=0)]]
AfterSaleType = Literal["return", "exchange", "refund", "payment"]
STATION_FIELDS = ("origin_station", "current_station", "destination_station")


class _Rules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class KeywordRule(_Rules):
    """Text that names the problem: the first rule with a matching keyword decides the kind."""

    kind: CaseKind
    keywords: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)


class StationHintRule(_Rules):
    """Which station fields to try, in order, and the reason routing is told."""

    fields: list[str] = Field(description="Station fields to try in order; none: not a delivery station's case")
    reason: Annotated[str, Field(min_length=1, max_length=200)]

    @model_validator(mode="after")
    def _known_fields(self) -> StationHintRule:
        unknown = [f for f in self.fields if f not in STATION_FIELDS]
        if unknown:
            raise ValueError(f"unknown station fields {unknown}; use {list(STATION_FIELDS)}")
        return self


class PriorityRules(_Rules):
    base: dict[CaseKind, Priority]
    vip: Priority = Priority.HIGH
    cross_border: Priority = Priority.HIGH
    regulator_appeal: Priority = Priority.URGENT
    high_declared_value: Amounts = Field(
        default_factory=dict, description="Currency -> minor units from which a parcel is high value"
    )
    high_declared_value_priority: Priority = Priority.HIGH
    repeat_contact_steps: int = Field(default=1, ge=0, le=3, description="Levels a repeat contact raises the priority")


class FrequentClaimantRule(_Rules):
    max_claims: int = Field(ge=1, description="More claims than this in the window raise the flag")
    window_days: int = Field(ge=1, le=3650)
    claim_kinds: list[CaseKind]
    claim_categories: list[ContactCategory] = Field(default_factory=list)


class FraudRules(_Rules):
    high_order_amount: Amounts = Field(default_factory=dict, description="Currency -> order amount above which to flag")
    address_mismatch: bool = True
    frequent_claimant: FrequentClaimantRule
    flags_for_kinds: list[CaseKind] | None = Field(
        default=None, description="Kinds that get fraud checks; all when unset"
    )


class ComplaintRules(_Rules):
    """A complaint is a property of the case, whatever its kind (《快递暂行条例》 art. 28: answered within 7 days)."""

    categories: list[ContactCategory] = Field(description="Contact categories that are complaints")
    keywords: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list, description="Words that make any customer contact a complaint"
    )


class ClaimRules(_Rules):
    """Claim intent (DOMAIN.md "Compensation"): who claims and how they are paid when the contact does not say."""

    categories: dict[ContactCategory, PayoutMethod] = Field(
        description="Contact categories that ask for compensation -> the payout method by default"
    )
    after_sale_types: dict[AfterSaleType, PayoutMethod] = Field(
        default_factory=dict, description="A platform's after-sale request types that ask for money -> payout method"
    )
    default_role: ClaimantRole = Field(description="Who claims when the contact does not say")


class IntakeRules(_Rules):
    #: Its name on policies.versions (see caseflow_kit.rules).
    RULES_KIND: ClassVar[str] = "intake_rules"

    version: Annotated[str, Field(min_length=1, max_length=64)]
    exception_kinds: dict[ExceptionKind, CaseKind]
    contact_categories: dict[ContactCategory, CaseKind]
    keyword_categories: list[ContactCategory] = Field(
        default_factory=list, description="Categories whose kind the text keywords may refine"
    )
    keywords: list[KeywordRule] = Field(default_factory=list)
    categories_over_sale_stage: list[ContactCategory] = Field(
        default_factory=list, description="Categories whose kind stands whatever sale stage a platform names"
    )
    complaint: ComplaintRules
    claims: ClaimRules
    problem_codes: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        min_length=1, description="The network's problem-parcel types (问题件); an exception naming another is refused"
    )
    problem_groups: dict[CaseKind, Annotated[str, Field(min_length=1, max_length=32)]] = Field(
        default_factory=dict, description="Kinds that are the same problem for merging; a kind's own name otherwise"
    )
    generic_contact_kinds: list[CaseKind] = Field(
        default_factory=list, description="Contact kinds that merge into any open case of their waybill or order"
    )
    reopen_window_hours: int = Field(
        ge=0, le=24 * 365, description="A contact this long after the close, by event times, opens a linked case"
    )
    priority: PriorityRules
    fraud: FraudRules
    station_hints: dict[CaseKind, StationHintRule] = Field(default_factory=dict)
    default_station_hint: StationHintRule
    min_text_for_language: int = Field(
        default=6, ge=1, description="Letters needed before the text overrides the declared language"
    )

    @model_validator(mode="after")
    def _complete(self) -> IntakeRules:
        missing_exc = [k.value for k in ExceptionKind if k not in self.exception_kinds]
        missing_cat = [c.value for c in ContactCategory if c not in self.contact_categories]
        missing_base = [k.value for k in CaseKind if k not in self.priority.base]
        problems = []
        if missing_exc:
            problems.append(f"exception_kinds lacks {missing_exc}")
        if missing_cat:
            problems.append(f"contact_categories lacks {missing_cat}")
        if missing_base:
            problems.append(f"priority.base lacks {missing_base}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def problem_of(self, kind: CaseKind) -> str:
        return self.problem_groups.get(kind, kind.value)


__all__ = ["PRIORITY_ORDER", "FraudFlag", "IntakeRules"]
