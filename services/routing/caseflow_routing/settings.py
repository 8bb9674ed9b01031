"""Routing settings: the shared ones, plus its two rules files (re-read every CASEFLOW_RULES_RELOAD_S)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from caseflow_kit import KitSettings

from .rules import DEFAULT_DIRECTORY, DEFAULT_HQ_RULES


class RoutingSettings(KitSettings):
    directory_path: Path = Field(
        default=DEFAULT_DIRECTORY,
        description="Station directory with its units' calendars and platform teams (YAML or JSON)",
    )
    hq_rules_path: Path = Field(
        default=DEFAULT_HQ_RULES,
        description="HQ's rules: reason codes, requests decided by rule, forbidden words (YAML or JSON)",
    )
