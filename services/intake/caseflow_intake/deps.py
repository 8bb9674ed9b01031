"""intake's dependencies: its rules file, its keys behind the domain's Privacy port, its metrics."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter

from caseflow_kit import Runtime
from caseflow_kit.privacy import Pseudonymiser, Sealer
from caseflow_kit.rules import RulesFile

from .domain.case import Reopening
from .pii import Guard
from .rules import IntakeRules
from .settings import IntakeSettings


class IntakeMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.after_closure = Counter(
            "caseflow_intake_contacts_after_closure_total",
            "Customer contacts about a closed case: reopened it, opened a follow-up case, or rejoined a case"
            " another contact had reopened; by the station that held it and the platform",
            ["station", "platform", "outcome"],
            registry=registry,
        )

    def count(self, reopening: Reopening | None) -> None:
        if reopening is not None:
            self.after_closure.labels(reopening.station, reopening.platform, reopening.outcome).inc()


@dataclass
class IntakeDeps:
    rules: RulesFile[IntakeRules]
    privacy: Guard
    metrics: IntakeMetrics


async def build_deps(runtime: Runtime[IntakeSettings, IntakeDeps]) -> IntakeDeps:
    settings = runtime.settings
    sealer = Sealer.from_settings(settings)
    return IntakeDeps(
        rules=RulesFile(settings.intake_rules_path, IntakeRules),
        privacy=Guard(sealer, Pseudonymiser.from_settings(settings, sealer=sealer)),
        metrics=IntakeMetrics(runtime.registry),
    )
