"""What claims' handlers and endpoints need besides the store: the compensation rules in force."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from caseflow_kit.rules import RulesFile

from .rules import CompensationRules
from .settings import ClaimsSettings

if TYPE_CHECKING:
    from caseflow_kit import Runtime


@dataclass
class ClaimsDeps:
    rules_file: RulesFile[CompensationRules]

    @property
    def rules(self) -> CompensationRules:
        return self.rules_file.current


async def build_deps(runtime: Runtime[ClaimsSettings, ClaimsDeps]) -> ClaimsDeps:
    return ClaimsDeps(RulesFile(runtime.settings.claims_rules_path, CompensationRules))


def rules_files(deps: ClaimsDeps) -> list[RulesFile[CompensationRules]]:
    """The files the kit's one reload job re-reads (CASEFLOW_RULES_RELOAD_S)."""
    return [deps.rules_file]
