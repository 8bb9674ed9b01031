"""sla's dependencies: its two rules files (reloaded by the kit's one job), its metrics, the timers' wake-up."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from caseflow_kit import Runtime
from caseflow_kit.rules import RulesFile

from .metrics import SlaMetrics
from .policy import Policies, PolicyBook, QaTable
from .settings import SlaSettings


def packaged(name: str) -> Path:
    return Path(str(resources.files("caseflow_sla") / "data" / name))


@dataclass
class SlaDeps:
    policies: RulesFile[Policies]
    qa_table: RulesFile[QaTable]
    metrics: SlaMetrics
    #: Set when a handler arms a timer, so that the timer loop looks again before its longest sleep.
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    _book: PolicyBook | None = None

    @property
    def book(self) -> PolicyBook:
        """The policies in force, with their calendars built once per version of the file."""
        current = self.policies.current
        if self._book is None or self._book.policies is not current:
            self._book = PolicyBook(current)
        return self._book

    @property
    def prices(self) -> QaTable:
        return self.qa_table.current


async def build_deps(runtime: Runtime[SlaSettings, SlaDeps]) -> SlaDeps:
    settings = runtime.settings
    return SlaDeps(
        policies=RulesFile(settings.policies_file or packaged("policies.yaml"), Policies),
        qa_table=RulesFile(settings.qa_table_file or packaged("qa_table.yaml"), QaTable),
        metrics=SlaMetrics(runtime.registry),
    )


def rules_files(deps: SlaDeps) -> Sequence[RulesFile[Any]]:
    return (deps.policies, deps.qa_table)
