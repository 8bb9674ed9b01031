"""Claims settings: the shared ones, plus the rules file and a crash hook for the kill test."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from caseflow_kit import KitSettings

DEFAULT_RULES = Path(__file__).parent / "data" / "compensation.yaml"


class ClaimsSettings(KitSettings):
    claims_rules_path: Path = Field(default=DEFAULT_RULES, description="Compensation rules (YAML), validated on load")
    claims_rules_reload_s: float = Field(default=30.0, gt=0, description="How often the rules file is re-read")
    claims_crash_after_commit: Literal["", "payout"] = Field(
        default="",
        description="Test hook: SIGKILL the process when a committed payout is about to be published",
    )
