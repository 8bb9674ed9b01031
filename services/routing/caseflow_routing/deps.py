"""What routing's handlers and endpoints need besides the unit of work, and how the directory is kept fresh."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from caseflow_kit import Runtime

from .directory import DirectoryHolder, ReloadResult
from .settings import RoutingSettings
from .store import seed_loads

log = logging.getLogger("caseflow.routing.deps")


@dataclass
class RoutingDeps:
    directory: DirectoryHolder


RoutingRuntime = Runtime[RoutingSettings, RoutingDeps]


async def reload_directory(runtime: RoutingRuntime, *, force: bool = False) -> ReloadResult:
    """Swap in an edited directory (when valid) and give its new stations their open-case counters."""
    # Reading and validating thousands of stations takes a moment: off the event loop.
    result = await asyncio.to_thread(runtime.deps.directory.reload, force=force)
    if result.changed:
        await seed_loads(runtime.store, runtime.unit_of_work, runtime.deps.directory.current.by_code)
    return result


async def poll_directory(runtime: RoutingRuntime) -> None:
    """Background task: pick up directory edits without a restart (a bad file is refused and logged)."""
    while True:
        await asyncio.sleep(runtime.settings.directory_poll_seconds)
        try:
            await reload_directory(runtime)
        except Exception:  # a store hiccup must not end the poller; the next round tries again
            log.exception("directory reload failed")
