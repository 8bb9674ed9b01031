"""Outgoing events from a domain outcome: one envelope per emit, caused by the input being handled.

Ids are derived from the input's event id and the position of the emit, so a record handled again (a
redelivery, a write clash re-run) produces the very same events and consumers de-duplicate them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from caseflow_contracts import Event, deterministic_id
from caseflow_kit import Context

from .domain.case import Outcome


def events_of(outcome: Outcome, ctx: Context[Any]) -> Iterator[Event]:
    for index, (model, payload) in enumerate(outcome.emits):
        event_id = deterministic_id("routing", ctx.event.event_id, index)
        yield ctx.new(model, payload, key=outcome.case.case_id, event_id=event_id)
