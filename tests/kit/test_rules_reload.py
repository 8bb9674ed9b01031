"""The kit's one rules job: every rules file a service names is re-read every CASEFLOW_RULES_RELOAD_S, and
every version it loads is published on policies.versions, once."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel

from caseflow_contracts import parse_event
from caseflow_contracts.policies import PolicyVersionLoaded
from caseflow_kit import KitSettings, Runtime, ServiceSpec
from caseflow_kit.publisher import Published
from caseflow_kit.rules import RulesFile
from caseflow_kit.store import OutboxMessage


class Limits(BaseModel):
    RULES_KIND: ClassVar[str] = "limits"

    version: str
    limit: int


class Broker:
    """Takes every record, the way the kit's publisher reports it."""

    def __init__(self) -> None:
        self.records: list[OutboxMessage] = []

    async def publish(self, messages: Sequence[OutboxMessage]) -> Published:
        self.records += messages
        return Published(sent=list(range(len(messages))))

    def versions(self) -> list[tuple[str, str, str]]:
        found = []
        for record in self.records:
            event = parse_event(record.value)
            assert isinstance(event, PolicyVersionLoaded)
            found.append((record.key, event.payload.version, event.payload.content))
        return found


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
    broker = Broker()
    runtime = Runtime(SPEC, KitSettings(data_dir=tmp_path, rules_reload_s=0.02), publish=broker.publish)
    await runtime.start_dependencies()
    job = asyncio.create_task(runtime._keep_rules())
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
        # Each version in force was published once, keyed kind:version, with the file as it was loaded.
        assert broker.versions() == [
            ("limits:1", "1", "version: '1'\nlimit: 5\n"),
            ("limits:2", "2", "version: '2'\nlimit: 7\n"),
        ]
    finally:
        job.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await job
        await runtime.close()
