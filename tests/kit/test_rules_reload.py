"""The kit's one rules-reload job: every rules file a service names, every CASEFLOW_RULES_RELOAD_S."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

from pydantic import BaseModel

from caseflow_kit import KitSettings, Runtime, ServiceSpec
from caseflow_kit.rules import RulesFile


class Limits(BaseModel):
    version: str
    limit: int


async def deps_of(runtime: Runtime[KitSettings, RulesFile[Limits]]) -> RulesFile[Limits]:
    return RulesFile(runtime.settings.data_dir / "limits.yaml", Limits)


SPEC: ServiceSpec[KitSettings, RulesFile[Limits]] = ServiceSpec(
    name="rules",
    http_port=0,
    settings_type=KitSettings,
    collections=[],
    subscriptions=[],
    build_deps=deps_of,
    rules_files=lambda rules: [rules],
)


async def test_a_changed_valid_file_takes_effect_and_an_invalid_one_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "limits.yaml"
    path.write_text("version: '1'\nlimit: 5\n")
    runtime = Runtime(SPEC, KitSettings(data_dir=tmp_path, rules_reload_s=0.02))
    await runtime.start_dependencies()
    job = asyncio.create_task(runtime._reload_rules())
    try:
        path.write_text("version: '2'\nlimit: 7\n")
        for _ in range(500):
            if runtime.deps.current.version == "2":
                break
            await asyncio.sleep(0.01)
        assert runtime.deps.current.limit == 7
        before = path.stat().st_mtime_ns
        path.write_text("version: '3'\nlimit: many\n")
        stamp = before + 1_000_000_000  # a distinct mtime, however coarse the file system's clock
        os.utime(path, ns=(stamp, stamp))
        for _ in range(500):  # the job looked at the new file (its mtime is recorded) and kept the rules in force
            if runtime.deps._mtime == stamp:
                break
            await asyncio.sleep(0.01)
        assert runtime.deps._mtime == stamp
        assert runtime.deps.current.version == "2"
    finally:
        job.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await job
        await runtime.close()
