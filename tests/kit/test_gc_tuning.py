"""The service process collects cyclic garbage rarely and never rescans what it loaded to start."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from caseflow_kit import KitSettings
from caseflow_kit.runtime import tune_gc


@pytest.fixture
def restore_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_the_young_generation_waits_for_the_configured_allocations(restore_gc: None) -> None:
    _, middle, old = gc.get_threshold()
    tune_gc(KitSettings(gc_young_threshold=25_000).gc_young_threshold)
    assert gc.get_threshold() == (25_000, middle, old)


def test_what_the_process_loaded_to_start_is_no_longer_scanned(restore_gc: None) -> None:
    loaded = [[f"rule {i}"] for i in range(3)]

    def scanned() -> set[int]:
        return {id(o) for o in gc.get_objects()}

    assert {id(o) for o in loaded} <= scanned()
    tune_gc(50_000)
    assert gc.get_freeze_count() >= len(loaded)
    assert not {id(o) for o in loaded} & scanned()


def test_the_default_is_far_above_pythons() -> None:
    assert KitSettings().gc_young_threshold >= 50 * 700
