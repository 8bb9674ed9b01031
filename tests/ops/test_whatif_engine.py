"""The replay engine on a hand-made period (no broker): what it keeps while it runs."""

from __future__ import annotations

from caseflow_contracts import parse_event
from caseflow_ops.whatif import engine, policies
from caseflow_ops.whatif.period import Recorded
from tests.contracts.examples import encode, example


def exception(n: int) -> Recorded:
    document = example("parcel.exception_reported")
    document.update(event_id=f"up-{n}", key=f"SF{n:010d}")
    document["payload"] = {**document["payload"], "waybill_no": f"SF{n:010d}", "source_event_id": f"EX-{n}"}
    return Recorded("upstream.parcel-exceptions", 0, n, 1_800_000_000.0 + n, parse_event(encode(document)))


async def test_the_services_outboxes_hold_nothing_after_a_replay() -> None:
    """The replay hands events on through its queue: an outbox row kept would hold an event for the whole period."""
    simulation = engine.Simulation([exception(n) for n in range(20)], policies.in_force())
    result = await simulation.run()
    assert sum(e.event.type == "case.opened" for e in result.emitted) == 20
    for service in simulation.services.values():
        assert await service.store.outbox_pending(limit=1_000_000) == []
