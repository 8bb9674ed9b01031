"""Outgoing events from the domain's payloads: each caused by the event handled, with a deterministic id.

The id is the event type plus the domain's `basis` (the case, and the source or the notice that caused it),
so an input handled twice (a redelivery, a re-run after a write clash, a replica racing another) emits the
same event, which consumers recognise.
"""

from __future__ import annotations

import logging
from typing import Any

from caseflow_contracts import Event, deterministic_id
from caseflow_contracts.cases import (
    CaseMerged,
    CaseMergedPayload,
    CaseOpened,
    CaseOpenedPayload,
    CaseReopened,
    CaseReopenedPayload,
    CaseSatisfactionRecorded,
    CaseSatisfactionRecordedPayload,
)
from caseflow_kit import Context
from caseflow_kit.logs import log_fields

from .domain.case import Emit

log = logging.getLogger("caseflow.intake")
_EVENTS: dict[type[Any], type[Event]] = {
    CaseOpenedPayload: CaseOpened,
    CaseMergedPayload: CaseMerged,
    CaseReopenedPayload: CaseReopened,
    CaseSatisfactionRecordedPayload: CaseSatisfactionRecorded,
}
#: What intake publishes (its AsyncAPI document says so; the kit refuses anything else).
EMITS = tuple(_EVENTS.values())
_TYPES = {model: model.event_type() for model in EMITS}


def event_of(ctx: Context[Any], emit: Emit) -> Event:
    model = _EVENTS[type(emit.payload)]
    event_id = deterministic_id(_TYPES[model], *emit.basis)
    return ctx.new(model, emit.payload, key=emit.payload.case_id, event_id=event_id)


def emit_all(ctx: Context[Any], emits: list[Emit]) -> None:
    for emit in emits:
        event = event_of(ctx, emit)
        ctx.uow.emit(event)
        # Case ids and event types only: never the customer's words or data.
        if log.isEnabledFor(logging.INFO):
            log.info("case event", extra=log_fields(case_id=emit.payload.case_id, type=event.type))
