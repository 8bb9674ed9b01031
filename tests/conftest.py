"""Fixtures shared by every test tier: the real broker (Tansu) and a per-test slice of it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from caseflow_dev.broker import EmbeddedBroker
from caseflow_dev.testing import KafkaTestKit


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """Tansu on a free loopback port for the whole session."""
    log = tmp_path_factory.mktemp("tansu") / "tansu.log"
    with EmbeddedBroker(log_file=log) as running:
        yield running


@pytest.fixture
async def kafka(broker: EmbeddedBroker, tmp_path: Path) -> AsyncIterator[KafkaTestKit]:
    """This test's own topics (unique prefix), consumer group and data folder on the shared broker."""
    kit = KafkaTestKit(broker.bootstrap, tmp_path)
    await kit.create_topics()
    yield kit
    await kit.close()
