"""Claims settings: the shared ones, plus the rules file."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from caseflow_kit import KitSettings

DEFAULT_RULES = Path(__file__).parent / "data" / "compensation.yaml"


class ClaimsSettings(KitSettings):
    claims_rules_path: Path = Field(default=DEFAULT_RULES, description="Compensation rules (YAML), validated on load")
    claims_rules_reload_s: float = Field(default=30.0, gt=0, description="How often the rules file is re-read")
