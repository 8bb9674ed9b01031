"""claims on the shared rig: its real runtime, consumer and SQLite store, a manual clock, no broker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from caseflow_claims.app import SPEC
from caseflow_claims.deps import ClaimsDeps
from caseflow_claims.settings import ClaimsSettings
from caseflow_dev.rig import ServiceUnderTest, service_under_test
from caseflow_kit.clock import ManualClock

from .factories import NOW

Claims = ServiceUnderTest[ClaimsSettings, ClaimsDeps]


@pytest.fixture
async def claims(tmp_path: Path) -> AsyncIterator[Claims]:
    settings = ClaimsSettings(data_dir=tmp_path, retry_backoff_ms=0, log_format="console")
    async with service_under_test(SPEC, settings, clock=ManualClock(NOW)) as rig:
        yield rig
