"""What the claims handlers and endpoints need besides the store: the rules in force and the settings."""

from __future__ import annotations

from dataclasses import dataclass

from caseflow_kit.rules import RulesFile

from .rules import CompensationRules
from .settings import ClaimsSettings


@dataclass
class ClaimsDeps:
    rules_file: RulesFile[CompensationRules]
    settings: ClaimsSettings

    @property
    def rules(self) -> CompensationRules:
        return self.rules_file.current
