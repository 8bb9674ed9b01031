"""The compensation rules as data: the model a rules file is validated into."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from caseflow_contracts.claims import ClaimKind
from caseflow_contracts.common import ClaimantRole

Custody = Literal["origin", "last_scan", "destination"]


class TotalDelayDays(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    same_city: int = Field(ge=1, le=365)
    domestic: int = Field(ge=1, le=365)
    international: int = Field(ge=1, le=365)


class CustodyRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    loss: Custody
    wrong_contents: Custody
    shortage: Custody
    delay: Custody
    damage_outer_box_intact: Custody
    damage_outer_box_broken: Custody
    damage_unknown: Custody


class FourEyes(BaseModel):
    """Who may move how much: reasons from a list, a second approver above a threshold."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    second_approval_above_minor: int = Field(
        ge=0, description="Approvals granting more than this need a second, different approver"
    )
    reason_codes: dict[str, str] = Field(
        min_length=1, description="Code -> meaning; adjustments and rejections cite one"
    )

    @model_validator(mode="after")
    def _codes_are_identifiers(self) -> FourEyes:
        bad = [c for c in self.reason_codes if not c.replace("_", "").isalnum() or len(c) > 64]
        if bad:
            raise ValueError(f"reason codes are short identifiers: {bad}")
        return self


class CompensationRules(BaseModel):
    #: Its name on policies.versions (see caseflow_kit.rules).
    RULES_KIND: ClassVar[str] = "compensation_rules"

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(min_length=1, max_length=200)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    uninsured_cap_multiple: int = Field(ge=1, le=100)
    refund_freight_when_lost: bool
    total_delay_days: TotalDelayDays
    auto_approve_below_minor: int = Field(ge=0)
    customer_appeal_days: int = Field(
        ge=0, le=3650, description="The customer may appeal within this many days: enforced, and told (appeal_until)"
    )
    max_customer_appeals: int = Field(ge=0, le=10)
    station_appeal_days: int = Field(ge=0, le=3650)
    liability_by_custody: CustodyRules
    arbitrate_when: Literal["paid", "case_resolved"] = Field(
        description="Settle liability by the scan trail as soon as the claim is paid, or once the case is resolved"
    )
    penalty_point_value_minor: int = Field(ge=0)
    penalty_points: dict[ClaimKind, int]
    four_eyes: FourEyes
    open_without_claimant: dict[ClaimKind, ClaimantRole] = Field(
        default_factory=dict,
        description="Kinds for which a bare parcel exception opens a claim nobody asked for, paying this party;"
        " none by default (a claim needs a claimant)",
    )

    @model_validator(mode="after")
    def _every_kind_has_a_penalty(self) -> CompensationRules:
        missing = [k.value for k in ClaimKind if k not in self.penalty_points]
        if missing:
            raise ValueError(f"penalty_points lacks {', '.join(missing)}")
        if any(points < 0 for points in self.penalty_points.values()):
            raise ValueError("penalty points cannot be negative")
        return self

    def penalty_minor(self, kind: ClaimKind) -> int:
        return self.penalty_points[kind] * self.penalty_point_value_minor
