"""The replay engine on a hand-made period (no broker): what it keeps while it runs."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from caseflow_contracts import parse_event, topic_for
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
    simulation = engine.Simulation([exception(n) for n in range(20)], policies.in_force(), keep_events=True)
    result = await simulation.run()
    assert sum(e.event.type == "case.opened" for e in result.emitted) == 20
    for service in simulation.services.values():
        assert await service.store.outbox_pending(limit=1_000_000) == []


async def test_a_recorded_command_does_not_hold_back_earlier_replayed_work_on_its_case() -> None:
    """A consumer handles a partition in order: a command recorded a day later on the case's partition must not
    push the handling of the case's earlier replayed events back to the command's time (it did: sla handled the
    case's opening a day late, after the note, and its clocks ran from then)."""
    start = exception(1)
    live = await engine.Simulation([start], policies.in_force(), keep_events=True).run()
    opened = next(e.event for e in live.emitted if e.event.type == "case.opened")
    later = start.timestamp + 86_400
    document = example("case.progress_noted")  # a person's note, recorded a day later
    document.update(event_id="cmd-1", key=opened.key, producer="routing", causation_id=None)
    document["occurred_at"] = datetime.fromtimestamp(later, UTC).isoformat()
    document["payload"] = {**document["payload"], "case_id": opened.key, "at": document["occurred_at"]}
    command = parse_event(encode(document))
    recording = [
        start,
        *(Recorded(topic_for(type(e.event)).name, 0, n, e.at, e.event) for n, e in enumerate(live.emitted, 1)),
    ]
    recording.append(Recorded("cases.lifecycle", 0, len(recording), later, command))
    simulation = engine.Simulation(recording, policies.in_force())
    handled: dict[tuple[str, str], float] = {}
    try_handle = simulation._try

    async def timed(service: engine.Service, pending: Any, at: float, *, parkable: bool) -> bool:
        handled.setdefault((service.name, pending.event.event_id), at)
        return await try_handle(service, pending, at, parkable=parkable)

    simulation._try = timed  # type: ignore[method-assign]
    await simulation.run()
    assert handled[("sla", opened.event_id)] < start.timestamp + 60
    assert handled[("sla", "cmd-1")] >= later


def spaced(count: int, hours: float) -> list[Recorded]:
    """`count` parcel exceptions, one every `hours`."""
    return [
        Recorded(r.topic, r.partition, n, 1_800_000_000.0 + n * hours * 3600, r.event)
        for n, r in enumerate(exception(n) for n in range(count))
    ]


async def recorded_run(inputs: list[Recorded]) -> list[Recorded]:
    """The inputs and what the services made of them, as a broker would have kept it (one partition a topic)."""
    live = await engine.Simulation(inputs, policies.in_force(), order={}, keep_events=True).run()
    offsets: Counter[str] = Counter()
    recording = list(inputs)
    for e in live.emitted:
        topic = topic_for(type(e.event)).name
        recording.append(Recorded(topic, 0, offsets[topic], e.at, e.event))
        offsets[topic] += 1
    return recording


async def test_what_the_replay_holds_stays_flat_while_the_period_doubles() -> None:
    """The replay reads each record when its time comes (a generator here: nothing else holds the period), tallies
    what it decides instead of keeping its events, and forgets a story once it is over: with cases that close,
    twice the period holds no more work and no more open stories at once."""
    peaks = []
    for count in (20, 40):
        recording = await recorded_run(spaced(count, hours=6))
        timeline = engine.Timeline(recording)
        result = await engine.Simulation(iter(recording), policies.in_force(), timeline).run()
        assert result.inputs == count
        assert result.stories_closed >= count // 2
        assert result.emitted == []  # its events are not kept
        assert result.tally.outcomes  # what it decided is tallied
        peaks.append((result.peak_queued, result.peak_open_stories))
    assert peaks[0] == peaks[1]
    assert peaks[1][0] < 20  # before: every input was queued at the start
