"""Intake settings: the shared ones, the personal-data and pseudonym keys, and where the rules live."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from caseflow_kit import KitSettings
from caseflow_kit.privacy import PiiSettings, PseudonymSettings

DEFAULT_RULES = Path(__file__).parent / "data" / "intake_rules.yaml"


class IntakeSettings(KitSettings, PiiSettings, PseudonymSettings):
    """Env prefix CASEFLOW_: e.g. CASEFLOW_PII_KEY, CASEFLOW_PSEUDONYM_KEY, CASEFLOW_INTAKE_RULES_PATH."""

    intake_rules_path: Path = Field(
        default=DEFAULT_RULES,
        description="YAML or JSON rules file (IntakeRules); re-read every CASEFLOW_RULES_RELOAD_S",
    )
    #: Smaller than the kit's default: with several replicas, batches about the same waybills clash, and a clash
    #: makes the kit replay the whole batch record by record; one replica runs as fast at 100 as at 500.
    batch_max_records: int = Field(default=100, ge=1, le=10_000)
