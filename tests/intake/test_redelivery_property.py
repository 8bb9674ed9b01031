"""Property: redeliveries and re-sent sources, in any batch split, change nothing.

The same upstream story delivered once, one record per batch, and delivered with
duplicates (same envelope, or a new envelope for the same source) cut into random
batches, must produce the same case events.
"""

from __future__ import annotations

import itertools
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from caseflow_contracts import Event, topic_for
from caseflow_contracts.upstream import ContactCategory, ExceptionKind

from .factories import NOW, contact, exception
from .service import intake

WAYBILLS = ["BE900000000001", "BE900000000002"]

step = st.tuples(
    st.sampled_from(["exception", "contact"]),
    st.sampled_from(WAYBILLS),
    st.sampled_from([ExceptionKind.DELAY, ExceptionKind.DAMAGE, ExceptionKind.LOSS]),
    st.sampled_from([ContactCategory.INQUIRY, ContactCategory.COMPLAINT, ContactCategory.CLAIM_REQUEST]),
)


def story(steps: list[tuple[str, str, ExceptionKind, ContactCategory]]) -> list[Event]:
    events: list[Event] = []
    for i, (what, wb, kind, category) in enumerate(steps):
        at = NOW + timedelta(minutes=i)
        if what == "exception":
            events.append(exception(wb, kind, source_event_id=f"EX{i}", at=at))
        else:
            events.append(contact(wb, category, source_id=f"CT{i}", text="包裹破损了" if i % 2 else "还没到", at=at))
    return events


def resend(event: Event) -> Event:
    """The same source, re-published by upstream in a new envelope."""
    return event.model_copy(update={"event_id": event.event_id + "r"})


def essence(emitted: list[tuple[str, Any]]) -> list[tuple[Any, ...]]:
    out = []
    for _, e in emitted:
        p = e.payload
        out.append(
            (
                e.type,
                e.event_id,
                p.case_id,
                getattr(p, "priority", None),
                getattr(p, "repeat_contacts", None),
                getattr(p, "linked_case_id", None),
            )
        )
    return out


async def run(deliveries: list[list[Event]]) -> list[tuple[Any, ...]]:
    with tempfile.TemporaryDirectory() as tmp:
        async with intake(Path(tmp)) as svc:
            for batch in deliveries:
                # A batch comes from one topic: split at topic changes, keeping the story's order.
                for topic, run_ in itertools.groupby(batch, key=lambda e: topic_for(type(e))):
                    await svc.deliver_batch(topic, [svc.record(e) for e in run_])
            return essence(await svc.emitted())


@settings(max_examples=25)
@given(
    steps=st.lists(step, min_size=1, max_size=8),
    data=st.data(),
)
async def test_duplicates_in_any_batching_change_nothing(steps: list[Any], data: st.DataObject) -> None:
    events = story(steps)
    once = await run([[e] for e in events])
    noisy: list[Event] = []
    for e in events:
        noisy.append(e)
        noisy += data.draw(st.lists(st.sampled_from([e, resend(e)]), max_size=2), label="duplicates")
    cuts = sorted(data.draw(st.sets(st.integers(min_value=1, max_value=max(len(noisy) - 1, 1))), label="cuts"))
    batches = [noisy[a:b] for a, b in zip([0, *cuts], [*cuts, len(noisy)], strict=True) if noisy[a:b]]
    assert await run(batches) == once
