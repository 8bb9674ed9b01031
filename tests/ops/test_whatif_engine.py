"""The replay engine on a hand-made period (no broker): what it keeps while it runs."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from caseflow_contracts import parse_event, topic_for
from caseflow_contracts.cases import CaseEscalated
from caseflow_contracts.sla import SlaBreached, SlaMetric, SlaWarning
from caseflow_ops.commands.whatif import recorded_outcomes
from caseflow_ops.whatif import engine, outcomes, policies
from caseflow_ops.whatif.period import Recorded
from tests.contracts.examples import encode, example


def exception(n: int) -> Recorded:
    document = example("parcel.exception_reported")
    document.update(event_id=f"up-{n}", key=f"SF{n:010d}")
    document["payload"] = {**document["payload"], "waybill_no": f"SF{n:010d}", "source_event_id": f"EX-{n}"}
    return Recorded("upstream.parcel-exceptions", 0, n, 1_800_000_000.0 + n, parse_event(encode(document)))


async def test_the_services_outboxes_hold_nothing_after_a_replay() -> None:
    """The replay hands events on through its queue, its units write no outbox rows: a row kept would hold an event
    for the whole period."""
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


async def recorded_run(
    inputs: list[Recorded], lag: Callable[[engine.Replay, engine.Timeline], None] | None = None
) -> list[Recorded]:
    """The inputs and what the services made of them, as a broker would have kept it (one partition a topic); with
    `lag`, by a suite that lagged as `lag` says (it writes the lag into a timeline, as a replay learns it)."""
    timeline = engine.Timeline(inputs)
    if lag is not None:
        lag(await engine.Simulation(inputs, policies.in_force(), timeline, order={}, keep_events=True).run(), timeline)
    return as_recorded(
        inputs, await engine.Simulation(inputs, policies.in_force(), timeline, order={}, keep_events=True).run()
    )


def as_recorded(inputs: list[Recorded], live: engine.Replay) -> list[Recorded]:
    """The inputs and the events a run emitted, as a broker would have kept them (one partition a topic)."""
    offsets: Counter[str] = Counter()
    recording = list(inputs)
    for e in live.emitted:
        topic = topic_for(type(e.event)).name
        recording.append(Recorded(topic, 0, offsets[topic], e.at, e.event))
        offsets[topic] += 1
    return sorted(recording, key=lambda r: r.timestamp)


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


T0 = 1_800_000_000.0


def _at(hours: float) -> str:
    return datetime.fromtimestamp(T0 + hours * 3600, UTC).isoformat()


def _recorded(topic: str, offset: int, hours: float, document: dict[str, Any]) -> Recorded:
    return Recorded(topic, 0, offset, T0 + hours * 3600, parse_event(encode(document)))


def customer_call(hours: float = 0.0) -> Recorded:
    """A customer's call about a parcel (no platform order): a case a station holds, its clocks running."""
    document = example("customer.contacted")
    document.update(event_id="call-1", occurred_at=_at(hours), causation_id=None, actor=None)
    document["payload"] = {
        **document["payload"],
        **dict.fromkeys(("sale_stage", "after_sale_type", "platform", "platform_order_id", "claimant")),
        "received_at": _at(hours),
        "category": "inquiry",
    }
    return _recorded("upstream.customer-contacts", 0, hours, document)


def progress_note(case_id: str, offset: int, hours: float) -> Recorded:
    document = example("station.progress_noted")
    document.update(event_id=f"note-{offset}", key=case_id, occurred_at=_at(hours), causation_id=None, actor=None)
    document["payload"] = {**document["payload"], "case_id": case_id, "at": _at(hours), "awaiting_customer": False}
    document["producer"] = document["payload"]["station"] = "BJ-CY-01"
    return _recorded("stations.updates", offset, hours, document)


def differences(recording: list[Recorded], replayed: engine.Replay) -> list[outcomes.Difference]:
    return outcomes.compare(recorded_outcomes(recording), replayed.tally.outcomes)


async def replayed_both_ways(recording: list[Recorded]) -> tuple[engine.Replay, engine.Replay]:
    """One replay that learns nothing from the recording's timing, and the replay the command runs."""
    once = await engine.Simulation(recording, policies.in_force(), engine.Timeline(recording)).run()
    learned = await engine.replay_recorded(lambda: recording, policies.in_force(), engine.Timeline(recording))
    return once, learned


async def note_handled_after_the_warning() -> list[Recorded]:
    """A call, a station's progress note that reached the broker at 19 h and that the live sla handled at 19.3 h,
    after its timer warned at 19.2 h, and a second note at 30 h: a period the replay learns one time from."""
    call = customer_call()
    case_id = (await recorded_run([call]))[1].event.key

    def handled_late(live: engine.Replay, timeline: engine.Timeline) -> None:
        noted = next(e.event for e in live.emitted if e.event.type == "case.progress_noted")
        timeline.handled_after[("sla", noted.event_id)] = T0 + 19.3 * 3600

    return await recorded_run([call, progress_note(case_id, 1, 19.0), progress_note(case_id, 2, 30.0)], handled_late)


async def test_a_record_sla_handled_after_its_timer_warned_is_replayed_after_the_warning() -> None:
    """The station's progress note (which restarts the 24-hour customer update clock) reached the broker at 19 h,
    before the clock's warning at 19.2 h, but the live sla handled it only at 19.3 h, after its timer had warned;
    the note caused nothing, so nothing recorded says when it was handled, except the warning itself: it was
    decided on the deadline the note would have moved. A replay that handles the note at its broker time finds no
    warning; the replay learns from the warning when the note was handled, and agrees with the recording."""
    recording = await note_handled_after_the_warning()
    warned = [r.event for r in recording if isinstance(r.event, SlaWarning)]
    assert [w.payload.metric for w in warned].count(SlaMetric.CUSTOMER_UPDATE) == 1
    once, learned = await replayed_both_ways(recording)
    assert [(d.side, d.outcome.type) for d in differences(recording, once)] == [("recorded", "sla.warning")]
    assert differences(recording, learned) == []
    assert (learned.learned, learned.passes) == (1, 2)  # its second pass learned nothing new


async def test_a_warning_a_late_timer_never_sent_is_not_sent_by_the_replay_either() -> None:
    """The live timer first looked at the station's callback clock past its deadline (a starved timer loop): no
    warning then (a stale one is skipped), the breach decided at that time. The breach, decided on the same
    deadline, shows when the timer looked; the replay looks then too instead of warning on time."""
    call = customer_call()
    case_id = (await recorded_run([call]))[1].event.key
    inputs = [call, progress_note(case_id, 1, 8.0)]

    def looked_late(live: engine.Replay, timeline: engine.Timeline) -> None:
        warning = next(e.event for e in live.emitted if isinstance(e.event, SlaWarning))
        assert warning.payload.metric == "callback"
        deadline = round(warning.payload.deadline_at.timestamp(), 6)
        timeline.first_look[(warning.event_id, deadline)] = T0 + 2.5 * 3600

    recording = await recorded_run(inputs, looked_late)
    callback = [r.event.type for r in recording if getattr(r.event.payload, "metric", None) == "callback"]
    assert callback == ["sla.breached", "qa.points_charged"]
    once, learned = await replayed_both_ways(recording)
    assert [(d.side, d.outcome.type) for d in differences(recording, once)] == [("replayed", "sla.warning")]
    assert differences(recording, learned) == []


async def test_a_period_that_ends_on_a_timer_decision_replays_it() -> None:
    """The broker stamps records in milliseconds: the last record of a period can be stamped a fraction of a
    millisecond before the decision it holds was made. The replay runs until the last recorded thing happened
    (it stopped at the last stamp, and never made the period's last breach)."""
    call = customer_call(hours=0.0007 / 3600)
    case_id = (await recorded_run([call]))[1].event.key
    recording = await recorded_run([call, progress_note(case_id, 1, 8.0)])
    last = max((r for r in recording if isinstance(r.event, SlaBreached)), key=lambda r: r.timestamp)
    period = [
        replace(r, timestamp=math.floor(r.timestamp * 1000) / 1000) for r in recording if r.timestamp <= last.timestamp
    ]
    assert period[-1].event.occurred_at.timestamp() > period[-1].timestamp  # stamped before it was decided
    replayed = await engine.Simulation(period, policies.in_force(), engine.Timeline(period)).run()
    assert differences(period, replayed) == []


def test_the_replayed_services_pass_over_what_the_live_ones_pass_over() -> None:
    """sla handles only the e-mails of notify.deliveries (its subscription's `only`): so does its replay."""
    for channel, handled in (("email", True), ("sms", False), ("webhook", False)):
        document = example("notification.sent")
        document["payload"] = {**document["payload"], "channel": channel}
        event = parse_event(encode(document))
        assert [name for name, _ in engine.handlers_for("notify.deliveries", event)] == (["sla"] if handled else [])


def customer_email(case_id: str, offset: int, hours: float) -> Recorded:
    """notify's record of an e-mail sent to the customer about the case (it acknowledges an e-mail contact)."""
    document = example("notification.sent")
    document.update(event_id=f"mail-{offset}", key=case_id, occurred_at=_at(hours), producer="notify", actor=None)
    document["payload"] = {**document["payload"], "case_id": case_id, "channel": "email", "at": _at(hours)}
    return _recorded("notify.deliveries", offset, hours, document)


async def test_an_email_sla_read_before_the_case_opening_it_acknowledges_is_replayed_before_it() -> None:
    """An e-mail contact opens a case, and notify e-mails the customer a tenth of a second later. Live, sla read
    the e-mail (notify.deliveries) before the opening (cases.lifecycle) that reached the broker first: one fetch
    returned both, and a consumer reads its topics at their own pace. So the opening met the acknowledgement clock
    at once, and the e-mail caused nothing. A replay in broker order opens the clock first; the e-mail would meet
    it, but as it caused nothing live it waits for a later record of its case, and the clock warns. The replay
    learns from the recorded met (caused by the opening, which it handled already) that the opening came after."""
    call = customer_call()
    document = call.event.model_dump(mode="json")
    document["payload"]["channel"] = "email"
    email_call = replace(call, event=parse_event(encode(document)))
    case_id = (await recorded_run([email_call]))[1].event.key
    inputs = [email_call, customer_email(case_id, 0, 0.1 / 3600), progress_note(case_id, 1, 8.0)]
    # The live run, sla lagging on cases.lifecycle: a timeline of the whole story (which records are one story is
    # known from the events the services emitted), sla handling the opening 0.2 s in.
    in_order = await recorded_run(inputs)
    timeline = engine.Timeline(in_order)
    opened = next(r.event for r in in_order if r.event.type == "case.opened")
    timeline.handled_after[("sla", opened.event_id)] = T0 + 0.2
    live = await engine.Simulation(inputs, policies.in_force(), timeline, order={}, keep_events=True).run()
    recording = as_recorded(inputs, live)
    met = [r.event for r in recording if r.event.type == "sla.met"]
    assert [(m.payload.metric, m.causation_id) for m in met] == [("email_acknowledgement", opened.event_id)]
    once, learned = await replayed_both_ways(recording)
    assert [(d.side, d.outcome.type) for d in differences(recording, once)] == [("replayed", "sla.warning")]
    assert differences(recording, learned) == []
    assert (learned.learned, learned.passes) == (1, 2)


def station_said(event_type: str, case_id: str, offset: int, hours: float, said: float) -> Recorded:
    """The case's station reporting, in a record reaching the broker at `hours`, what it did at `said` hours."""
    document = example(event_type)
    document.update(event_id=f"{event_type}-{offset}", key=case_id, occurred_at=_at(said), causation_id=None)
    document.update(actor=None)
    document["payload"] = {**document["payload"], "case_id": case_id, "at": _at(said)}
    document["producer"] = document["payload"]["station"] = "BJ-CY-01"
    return _recorded("stations.updates", offset, hours, document)


def call_again(first: Recorded, hours: float) -> Recorded:
    """The same customer calling about the same parcel again (a new call: a source of its own)."""
    document = first.event.model_dump(mode="json")
    document.update(event_id="call-2", occurred_at=_at(hours))
    document["payload"] = {**document["payload"], "source_id": "CALL-10", "received_at": _at(hours)}
    return Recorded(first.topic, first.partition, first.offset + 1, T0 + hours * 3600, parse_event(encode(document)))


async def test_a_case_closing_intake_read_after_a_call_the_broker_had_first_is_replayed_after_the_call() -> None:
    """The station resolves the case at 1 h; the customer calls again just before routing's closing reaches the
    broker. Live, intake read the call (upstream.customer-contacts) before the closing (cases.lifecycle): it
    merged the call into the case it still held open, routing answered that the case was closed, and intake
    reopened it a moment later. The closing caused nothing in intake, so nothing recorded says when intake read
    it: a replay that reads it at its broker time reopens the case straight from the call, at another time, and
    sla's new callback clock runs from then. The replay learns from the merge the live intake made that it
    read the closing after the call, and agrees with the recording."""
    call = customer_call()
    case_id = (await recorded_run([call]))[1].event.key
    second = 1 / 3600
    resolved = station_said("station.resolved", case_id, 0, 1.0, said=1.0 - 0.05 * second)
    inputs = [call, resolved, call_again(call, 1.0 - 0.01 * second), progress_note(case_id, 1, 8.0)]

    # The live run, intake lagging on upstream.customer-contacts and more on cases.lifecycle: a timeline of the
    # whole story (the events say which records are one story), intake reading the call 0.1 s after the
    # station's resolution reached the broker and routing's resolution and closing 0.2 s after.
    timeline = engine.Timeline(await recorded_run(inputs))
    timeline.handled_after[("intake", "call-2")] = T0 + 3600 + 0.1
    for event_id, cause in timeline.caused_by.items():
        if cause == resolved.event.event_id:  # routing's case.resolved and case.closed
            timeline.handled_after[("intake", event_id)] = T0 + 3600 + 0.2
    live = await engine.Simulation(inputs, policies.in_force(), timeline, order={}, keep_events=True).run()
    recording = as_recorded(inputs, live)
    assert [r.event.type for r in recording if r.event.type in ("case.merged", "case.reopened")] == [
        "case.merged",
        "case.reopened",
    ]
    once, learned = await replayed_both_ways(recording)
    assert differences(recording, once) != []
    assert differences(recording, learned) == []
    assert (learned.learned, learned.passes) == (1, 2)  # routing's resolution: it closed intake's copy


def lost_parcel() -> Recorded:
    """A parcel reported lost, uninsured: a claim on it is paid at once and charged to the station liable."""
    document = exception(1).event.model_dump(mode="json")
    document["payload"] |= {
        "exception_kind": "loss",
        "problem_code": "快件遗失",
        "description": "丢件",
        "insured": False,
        "declared_value": None,
        "order_amount": {"amount_minor": 8000, "currency": "CNY"},
        "freight": {"amount_minor": 1000, "currency": "CNY"},
    }
    return Recorded("upstream.parcel-exceptions", 0, 0, T0, parse_event(encode(document)))


def compensation_asked(lost: Recorded, hours: float) -> Recorded:
    """The sender calls about the lost parcel and asks for compensation."""
    parcel = lost.event.payload
    document = example("customer.contacted")
    document.update(event_id="call-1", key=lost.event.key, occurred_at=_at(hours), causation_id=None, actor=None)
    document["payload"] |= {
        "waybill_no": parcel.waybill_no,
        "platform_order_id": parcel.platform_order_id,
        "received_at": _at(hours),
        "claimant": {"role": "sender", "payout_method": "platform_refund"},
    }
    return _recorded("upstream.customer-contacts", 0, hours, document)


def arbitration_declared(case_id: str, station: str, liable: str, hours: float) -> Recorded:
    document = example("station.arbitration_declared")
    document.update(event_id="declared-1", key=case_id, occurred_at=_at(hours), causation_id=None, actor=None)
    document["producer"] = station
    document["payload"] |= {"case_id": case_id, "station": station, "at": _at(hours), "liable_station": liable}
    return _recorded("stations.updates", 0, hours, document)


async def test_an_arbitration_declaration_claims_read_after_the_claim_opened_is_replayed_after_the_opening() -> None:
    """The station holding a lost parcel's case declares the destination station liable; a second later the sender
    asks for compensation. Live, claims read the sender's claim (intake's case.merged) before the declaration
    (stations.updates) that the broker had first: the claim was paid and the scan trail's station charged, and the
    declaration, coming after, caused nothing. A replay that reads the declaration at its broker time opens the
    claim with the declaration in hand: a dispute, left to HQ, nothing charged. The replay learns from the
    charge the live claims made that it read the declaration after the claim, and agrees with the recording."""
    lost = lost_parcel()
    opening = await recorded_run([lost])
    case_id = next(r.event.key for r in opening if r.event.type == "case.opened")
    holder = next(r.event.payload.holder for r in opening if isinstance(r.event, CaseEscalated))
    asked = compensation_asked(lost, 0.5 + 1 / 3600)
    inputs = [lost, arbitration_declared(case_id, holder, "BJ-CY-07", 0.5), asked]
    timeline = engine.Timeline(await recorded_run(inputs))
    timeline.handled_after[("claims", "declared-1")] = asked.timestamp + 0.5  # claims lagging on stations.updates
    live = await engine.Simulation(inputs, policies.in_force(), timeline, order={}, keep_events=True).run()
    recording = as_recorded(inputs, live)
    assert [r.event.type for r in recording if r.event.type == "chargeback.issued"] == ["chargeback.issued"]
    once, learned = await replayed_both_ways(recording)
    assert [(d.side, d.outcome.type) for d in differences(recording, once)] == [("recorded", "chargeback.issued")]
    assert differences(recording, learned) == []
    assert (learned.learned, learned.passes) == (1, 2)


async def test_a_record_before_the_silent_one_in_its_partition_is_not_learned_to_come_after_it() -> None:
    """sla's met caused live by one record of a case's partition, made in the replay by a later record of it that
    caused nothing live: the earlier record cannot have come after it (a consumer reads a partition in order), and
    moving it after would only move the later one along (each pass one step further, until the passes ran out:
    four passes of a living day recorded beside two CPU hogs, where two do). The later record waits instead."""
    met = parse_event(encode(example("sla.met")))
    earlier, later = (
        replace(r, event=r.event.model_copy(update={"event_id": f"rec-{n}"}))
        for n, r in enumerate((progress_note(met.key, 1, 1.0), progress_note(met.key, 2, 1.1)))
    )
    timeline = engine.Timeline([earlier, later])
    timeline.caused_by[met.event_id] = earlier.event.event_id  # live, the earlier record caused the met
    simulation = engine.Simulation([], policies.in_force(), timeline)
    sla = simulation.services["sla"]
    story = simulation.memory.story(met.key)
    for record in (earlier, later):
        simulation.memory.seen[story][("sla", record.event.event_id)] = (record.topic, record.event.key)
    sla.seen.add(earlier.event.event_id)
    unit = sla.unit()
    unit.emit(met)
    pending = engine._Pending(lambda event, ctx: None, later.event, later.topic, later.timestamp)  # type: ignore[arg-type, return-value]
    simulation._learn_handled_before(sla, pending, unit, later.timestamp, story)
    assert (simulation.result.learned, timeline.handled_after) == (0, {})
    # The same met made by a record of another topic: the earlier record came after it live.
    moved = replace(pending, topic="notify.deliveries")
    simulation._learn_handled_before(sla, moved, unit, later.timestamp, story)
    assert timeline.handled_after == {("sla", earlier.event.event_id): math.nextafter(later.timestamp, math.inf)}


async def test_a_partition_is_handled_in_its_offsets_order_not_by_its_timestamps() -> None:
    """intake merges the customer's call into a new case 5 ms before routing assigns the case to its station, and
    the merge comes first in the case's partition; but the broker's timestamps are the producers' clocks, and
    routing's record is stamped 10 ms before intake's. Live, sla read the partition in order: the call came
    before the case had a station, so the callback clock started with the assignment. A replay that orders the
    partition by its timestamps reads the assignment first, and the clock starts with the call (another
    deadline, another warning)."""
    parcel = exception(1)
    call = compensation_asked(parcel, (parcel.timestamp - T0) / 3600)
    case_id = next(r.event.key for r in await recorded_run([parcel]) if r.event.type == "case.opened")
    inputs = [parcel, call, progress_note(case_id, 1, 8.0)]
    first = await recorded_run(inputs)
    opened, assigned, merged = (
        next(r.event for r in first if r.event.type == kind)
        for kind in ("case.opened", "case.escalated", "case.merged")
    )
    stamped = {merged.event_id: parcel.timestamp + 0.03, assigned.event_id: parcel.timestamp + 0.02}
    timeline = engine.Timeline(first)  # the live run: routing assigned 10 ms in, its record stamped before intake's
    timeline.handled_after[("routing", opened.event_id)] = parcel.timestamp + 0.01
    timeline.broker_at.update(stamped)
    live = await engine.Simulation(inputs, policies.in_force(), timeline, order={}, keep_events=True).run()
    order = [e.event.type for e in live.emitted if e.event.type in ("case.merged", "case.escalated")]
    assert order[:2] == ["case.merged", "case.escalated"]  # their offsets: the merge first
    recording = sorted(
        (replace(r, timestamp=stamped.get(r.event.event_id, r.timestamp)) for r in as_recorded(inputs, live)),
        key=lambda r: r.timestamp,
    )
    warned = [r.event for r in recording if isinstance(r.event, SlaWarning) and r.event.payload.metric == "callback"]
    assert [w.payload.deadline_at.timestamp() for w in warned] == [parcel.timestamp + 0.01 + 2 * 3600]
    replayed = await engine.replay_recorded(lambda: recording, policies.in_force(), engine.Timeline(recording))
    assert differences(recording, replayed) == []


async def test_a_warning_a_late_timer_never_sent_before_the_clock_was_met_is_not_sent_by_the_replay_either() -> None:
    """The station called the customer back in time and routing logged it before the callback clock's warning was
    due (1.6 h), but routing's record reached the broker only after it; sla, lagging, handled the record at
    1.65 h (catching up to when routing logged it: no warning then), and its timer, lagging too, looked at the
    clock later still: no warning, only the met. A replay that handles the record when it reached the broker
    warns at 1.6 h. The met names the deadline and reached the broker after the warning was due: the replay's
    timer looks then, and agrees with the recording."""
    call = customer_call()
    case_id = (await recorded_run([call]))[1].event.key
    inputs = [call, station_said("station.called_back", case_id, 0, 1.55, said=1.2), progress_note(case_id, 1, 8.0)]
    first = await recorded_run(inputs)
    timeline = engine.Timeline(first)
    unanswered = await recorded_run([call, progress_note(case_id, 1, 8.0)])
    warning = next(r.event for r in unanswered if isinstance(r.event, SlaWarning))
    logged = next(r.event for r in first if r.event.type == "case.callback_logged")
    assert logged.occurred_at.timestamp() < warning.occurred_at.timestamp() == T0 + 1.6 * 3600
    timeline.broker_at[logged.event_id] = T0 + 1.62 * 3600
    timeline.handled_after[("sla", logged.event_id)] = T0 + 1.65 * 3600
    timeline.first_look[(warning.event_id, round(warning.payload.deadline_at.timestamp(), 6))] = T0 + 1.7 * 3600
    live = await engine.Simulation(inputs, policies.in_force(), timeline, order={}, keep_events=True).run()
    recording = sorted(
        (
            replace(r, timestamp=T0 + 1.62 * 3600) if r.event.event_id == logged.event_id else r
            for r in as_recorded(inputs, live)
        ),
        key=lambda r: r.timestamp,
    )
    callback = [r.event.type for r in recording if getattr(r.event.payload, "metric", None) == "callback"]
    assert callback == ["sla.met"]
    once, learned = await replayed_both_ways(recording)
    assert [(d.side, d.outcome.type) for d in differences(recording, once)] == [("replayed", "sla.warning")]
    assert differences(recording, learned) == []
    assert (learned.learned, learned.passes) == (1, 2)


async def test_a_record_handed_to_a_service_before_one_ahead_of_it_in_its_partition_waits_for_that_one() -> None:
    """routing logs the station's callback on a new case and, 4 ms later, intake merges the customer's call (made
    a millisecond after the callback) into it; but the merge landed first in the case's partition. Live, sla read
    the merge first: the call started the callback clock, and the callback, read next, met it. A replay that
    hands sla the callback first (routing produced it first) and reads it first, the merge being due later, keeps
    a callback made before the call, which answers no later call: the call's clock warns."""
    parcel = exception(1)
    case_id = next(r.event.key for r in await recorded_run([parcel]) if r.event.type == "case.opened")
    hours = (parcel.timestamp - T0 + 60) / 3600
    callback = station_said("station.called_back", case_id, 0, hours, said=hours)
    call = compensation_asked(parcel, hours + 0.001 / 3600)  # a millisecond after the callback
    inputs = [parcel, callback, call, progress_note(case_id, 1, 8.0)]
    first = await recorded_run(inputs)
    merged, logged = (
        next(r for r in first if r.event.type == kind) for kind in ("case.merged", "case.callback_logged")
    )
    # The live run: intake merged 4 ms after routing logged, before routing's record reached the broker (6 ms),
    # and its merge landed in the partition first (stamped 7 ms).
    logged_at = logged.event.occurred_at.timestamp()
    stamped = {logged.event.event_id: logged_at + 0.006, merged.event.event_id: logged_at + 0.007}
    timeline = engine.Timeline(first)
    timeline.handled_after[("intake", "call-1")] = logged_at + 0.004
    timeline.broker_at.update(stamped)
    timeline.offset_of[merged.event.event_id], timeline.offset_of[logged.event.event_id] = (
        (merged.event.type, min(merged.offset, logged.offset)),
        (logged.event.type, max(merged.offset, logged.offset)),
    )
    live = await engine.Simulation(inputs, policies.in_force(), timeline, order={}, keep_events=True).run()
    produced = [e.event.type for e in live.emitted if e.event.type in ("case.merged", "case.callback_logged")]
    assert produced == ["case.callback_logged", "case.merged"]
    recording = as_recorded(inputs, live)
    places = {r.event.type: r.offset for r in recording if r.event.type in ("case.merged", "case.callback_logged")}
    recording = [  # the broker's offsets and stamps: the merge first, stamped after
        replace(
            r,
            offset=places["case.callback_logged" if r.event.type == "case.merged" else "case.merged"],
            timestamp=stamped[r.event.event_id],
        )
        if r.event.type in places
        else r
        for r in recording
    ]
    callback_clock = [r.event.type for r in recording if getattr(r.event.payload, "metric", None) == "callback"]
    assert callback_clock == ["sla.met"]
    replayed = await engine.replay_recorded(lambda: recording, policies.in_force(), engine.Timeline(recording))
    assert differences(recording, replayed) == []


async def test_a_record_stamped_before_one_ahead_of_it_in_its_partition_reached_the_broker_after_it() -> None:
    """routing's assignment, stamped 10 ms before intake's merge, landed after it in the case's partition (its
    producer held the batch back): the replay takes it as reaching the broker when the merge did, not before."""
    parcel = exception(1)
    call = compensation_asked(parcel, (parcel.timestamp - T0 + 0.01) / 3600)
    recording = await recorded_run([parcel, call])
    assigned = next(r for r in recording if isinstance(r.event, CaseEscalated))
    merged = next(r for r in recording if r.event.type == "case.merged")
    # the broker's log: the merge first, the assignment after it, stamped earlier
    lifecycle = sorted((r for r in recording if r.topic == "cases.lifecycle"), key=lambda r: r.offset)
    landed = [
        replace(r, offset=n, timestamp=merged.timestamp + (-0.01 if r is assigned else 0.0))
        for n, r in enumerate(
            [r for r in lifecycle if r is not assigned and r.offset <= merged.offset]
            + [assigned]
            + [r for r in lifecycle if r is not assigned and r.offset > merged.offset]
        )
    ]
    timeline = engine.Timeline([r for r in recording if r.topic != "cases.lifecycle"] + landed)
    assert timeline.broker_at[assigned.event.event_id] == merged.timestamp


async def test_the_replay_counts_the_time_its_services_own_handlers_took_in_every_pass(monkeypatch: Any) -> None:
    """`handler_seconds`: what no replay through the same code can take less than (the benchmark prints it beside
    the replay's rate). Each handler here is made to take 2 ms more: the count holds every call of every pass, and
    no more than the replay's whole time."""
    recording = await note_handled_after_the_warning()
    calls: list[str] = []
    real = engine.handlers_for

    def slowed(topic: str, event: Any) -> list[tuple[str, Any]]:
        def wrapped(handler: Any) -> Any:
            async def slow(event: Any, ctx: Any) -> None:
                calls.append(event.event_id)
                time.sleep(0.002)
                await handler(event, ctx)

            return slow

        return [(name, wrapped(handler)) for name, handler in real(topic, event)]

    monkeypatch.setattr(engine, "handlers_for", slowed)
    started = time.perf_counter()
    learned = await engine.replay_recorded(lambda: recording, policies.in_force(), engine.Timeline(recording))
    elapsed = time.perf_counter() - started

    assert learned.passes == 2
    assert len(calls) >= 2 * learned.handled  # both passes' calls
    assert len(calls) * 0.002 <= learned.handler_seconds <= elapsed
