"""Claims settings: the shared ones, plus the rules file (re-read by the kit every CASEFLOW_RULES_RELOAD_S)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from caseflow_kit import KitSettings

DEFAULT_RULES = Path(__file__).parent / "data" / "compensation.yaml"


class ClaimsSettings(KitSettings):
    claims_rules_path: Path = Field(default=DEFAULT_RULES, description="Compensation rules (YAML), validated on load")
