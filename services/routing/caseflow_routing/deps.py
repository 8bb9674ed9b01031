"""What routing's handlers and endpoints need besides the unit of work: its rules files and its metrics."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from caseflow_kit import Runtime
from caseflow_kit.rules import RulesError, RulesFile, load_rules

from .domain.policy import HqRules
from .metrics import RoutingMetrics
from .rules import Directory, DirectoryFile, hq_rules
from .settings import RoutingSettings


@dataclass
class RoutingDeps:
    directory: Directory
    hq_rules: RulesFile[HqRules]
    metrics: RoutingMetrics

    def rules_files(self) -> list[RulesFile[Any]]:
        return [self.directory, self.hq_rules]


RoutingRuntime = Runtime[RoutingSettings, RoutingDeps]


async def build_deps(runtime: RoutingRuntime) -> RoutingDeps:
    settings = runtime.settings
    return RoutingDeps(
        directory=Directory(settings.directory_path),
        hq_rules=hq_rules(settings.hq_rules_path),
        metrics=RoutingMetrics(runtime.registry),
    )


@dataclass(frozen=True)
class ReloadResult:
    changed: bool
    version: str
    stations: int
    error: str | None = None


async def reload_directory(deps: RoutingDeps) -> ReloadResult:
    """Re-read the directory now (off the event loop: thousands of stations take a moment); a bad file is
    refused with the reason and the directory in force stays."""
    directory = deps.directory
    try:
        await asyncio.to_thread(load_rules, directory.path, DirectoryFile)
    except RulesError as exc:
        return ReloadResult(False, directory.index.version, len(directory.index), str(exc))
    changed = await asyncio.to_thread(directory.reload, force=True)
    return ReloadResult(changed, directory.index.version, len(directory.index))
