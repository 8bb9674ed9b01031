"""The chaos run's own checks fail when they should (a checker that cannot fail proves nothing)."""

from __future__ import annotations

from datetime import UTC, datetime

from caseflow_contracts.cases import CaseClosed, CaseClosedPayload
from caseflow_dev.chaos import Observed
from caseflow_kit.outbox import COMMIT_SEQ_HEADER

AT = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def closed(case_id: str, event_id: str, producer: str = "routing") -> CaseClosed:
    payload = CaseClosedPayload(case_id=case_id, closed_at=AT, reason="done")
    return CaseClosed.create(payload, key=case_id, producer=producer, event_id=event_id)


def seq(n: int) -> dict[str, bytes]:
    return {COMMIT_SEQ_HEADER: str(n).zfill(20).encode()}


def test_a_story_that_goes_back_in_commit_order_is_reported() -> None:
    seen = Observed()
    seen.arrived("cases.lifecycle", closed("CF-000001", "e1"), seq(10))
    seen.arrived("cases.lifecycle", closed("CF-000001", "e2"), seq(9))
    [problem] = seen.out_of_order()
    assert "CF-000001" in problem


def test_republished_copies_other_services_and_other_cases_are_not_mistaken_for_disorder() -> None:
    seen = Observed()
    seen.arrived("cases.lifecycle", closed("CF-000001", "e1"), seq(10))
    seen.arrived("cases.lifecycle", closed("CF-000001", "e2"), seq(11))
    seen.arrived("cases.lifecycle", closed("CF-000001", "e1"), seq(10))  # a copy, after a crash
    seen.arrived("cases.lifecycle", closed("CF-000001", "e3", producer="intake"), seq(2))  # intake's own order
    seen.arrived("cases.lifecycle", closed("CF-000002", "e4"), seq(3))
    assert seen.out_of_order() == []
    assert len(seen.sequences) == 3
