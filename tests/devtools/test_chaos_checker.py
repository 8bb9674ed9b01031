"""The chaos run's own checks fail when they should (a checker that cannot fail proves nothing)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from caseflow_contracts import Event, parse_event
from caseflow_contracts.cases import CaseClosed, CaseClosedPayload
from caseflow_dev.chaos import (
    CUT_SHORT,
    Observed,
    Outcome,
    breach_figures,
    breaches_charged_for_on_time_updates,
    contacts_lost_in_closed_cases,
    differences,
    failures_explained,
    find_duplicates,
    judge,
    unexplained_dead_letters,
)
from caseflow_kit.outbox import COMMIT_SEQ_HEADER
from tests.contracts.examples import example

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


def event(event_type: str, event_id: str, case_id: str = "CF-000001", **payload: Any) -> Event:
    """A valid event of `event_type` about `case_id`, its payload fields overridden by `payload`."""
    raw = example(event_type)
    raw.update(event_id=event_id, key=case_id)
    raw["payload"].update(case_id=case_id, **payload)
    return parse_event(json.dumps(raw, default=str).encode())


def merged(event_id: str, case_id: str = "CF-000001") -> Event:
    return event("case.merged", event_id, case_id, source_event_id=f"contact-{event_id}")


def test_a_contact_merged_into_a_closed_case_and_left_there_is_reported() -> None:
    story = [closed("CF-000001", "c1"), merged("m1"), event("case.reopened", "r1"), closed("CF-000001", "c2")]
    story.append(merged("m2"))  # after the second close: nobody answers it
    [problem] = contacts_lost_in_closed_cases(story)
    assert "CF-000001: contact contact-m2" in problem


def test_a_contact_after_closure_answered_by_a_reopen_or_a_follow_up_case_is_not_reported() -> None:
    follow_up = event("case.opened", "o2", "CF-000002", linked_case_id="CF-000001")
    answered = [closed("CF-000001", "c1"), merged("m1"), event("case.reopened", "r1")]
    followed = [follow_up, closed("CF-000001", "c1"), merged("m1")]  # another key: it may arrive first
    before_close = [merged("m1"), closed("CF-000001", "c1"), closed("CF-000001", "c1")]  # and a republished copy
    for story in (answered, followed, before_close):
        assert contacts_lost_in_closed_cases(story) == [], story
    # one follow-up answers one contact, not two
    assert len(contacts_lost_in_closed_cases([*followed, merged("m2")])) == 1


DEADLINE = AT + timedelta(hours=2)


def breach(event_id: str = "b1", metric: str = "callback", station: str = "BJ-CY-07") -> Event:
    return event("sla.breached", event_id, metric=metric, station=station, started_at=AT, deadline_at=DEADLINE)


def called_back(event_id: str = "cb1", station: str = "BJ-CY-07", result: str = "已告知") -> Event:
    return event("station.called_back", event_id, station=station, outcome="reached", result=result)


def test_a_breach_standing_against_a_callback_on_the_broker_before_the_deadline_is_reported() -> None:
    on_time = {"cb1": DEADLINE - timedelta(seconds=3)}
    [problem] = breaches_charged_for_on_time_updates([called_back(), breach()], on_time)
    assert "callback breach charged to BJ-CY-07 whose update was on the broker 3.0 s before" in problem
    resolved = event("station.resolved", "rs1", station="BJ-CY-07", result="resolved")
    assert breaches_charged_for_on_time_updates([resolved, breach(metric="resolution")], {"rs1": AT}) != []


def test_a_breach_withdrawn_or_earned_is_not_reported() -> None:
    on_time = {"cb1": DEADLINE - timedelta(seconds=3)}
    withdrawn = event("sla.breach_withdrawn", "w1", breach_event_id="b1", metric="callback", station="BJ-CY-07")
    assert breaches_charged_for_on_time_updates([called_back(), breach(), withdrawn], on_time) == []
    late = {"cb1": DEADLINE + timedelta(seconds=1)}
    assert breaches_charged_for_on_time_updates([called_back(), breach()], late) == []
    before_the_clock = {"cb1": AT - timedelta(minutes=1)}  # an earlier episode's callback
    assert breaches_charged_for_on_time_updates([called_back(), breach()], before_the_clock) == []
    not_told = called_back(result="")  # reached, but told nothing: the clock runs on
    assert breaches_charged_for_on_time_updates([not_told, breach()], on_time) == []
    other_station = called_back(station="BJ-CY-01")
    assert breaches_charged_for_on_time_updates([other_station, breach()], on_time) == []
    assert breaches_charged_for_on_time_updates([called_back(), breach(metric="resolution")], on_time) == []


def ended(notified: list[tuple[str, str]], deliveries: dict[str, str] | None = None) -> Outcome:
    waybill = {"cases": 1, "notified": notified}
    return Outcome({"BE1": waybill}, Counter(), [], [], Counter(), deliveries={"BE1": deliveries or {}})


def test_a_notification_only_one_run_sent_is_reported_with_what_the_other_run_holds_for_it() -> None:
    clean = ended([("case.opened", "sms"), ("claim.decided", "sms"), ("payout.issued", "sms")])
    faulty = ended(
        [("case.opened", "sms"), ("case.resolved", "sms")],
        {"claim.decided": "deliveries 1 pending (gateway timeout)", "payout.issued": "no delivery: never handled"},
    )
    assert differences(clean, faulty) == [
        "BE1 notified: claim.decided on sms only in the clean run; faulty run: deliveries 1 pending (gateway timeout)",
        "BE1 notified: payout.issued on sms only in the clean run; faulty run: no delivery: never handled",
        "BE1 notified: case.resolved on sms only in the faulty run; clean run: no case.resolved event",
    ]
    assert differences(clean, clean) == []


def station_end(holder: str, resolved: int, cases: int = 1) -> dict[str, Any]:
    state, level = ("closed", "station") if resolved else ("assigned", "hub")
    return {"cases": cases, "state": state, "holder": holder, "level": level, "resolved": resolved, "notified": []}


def test_cases_past_a_full_station_may_swap_places_but_not_change_the_stations_totals() -> None:
    clean = Outcome({"BE1": station_end("SH-PD-01", 1), "BE2": station_end("HUB-SH", 0)}, Counter(), [], [], Counter())
    clean.at_capacity = {"BE2"}
    swapped = Outcome(
        {"BE1": station_end("HUB-SH", 0), "BE2": station_end("SH-PD-01", 1)}, Counter(), [], [], Counter()
    )
    swapped.at_capacity = {"BE1"}
    assert differences(clean, swapped) == []
    both_overflowed = Outcome(
        {"BE1": station_end("HUB-SH", 0), "BE2": station_end("HUB-SH", 0)}, Counter(), [], [], Counter()
    )
    both_overflowed.at_capacity = {"BE1", "BE2"}
    [totals] = differences(clean, both_overflowed)
    assert totals.startswith("cases past a full station end differently")
    another_case = Outcome(
        {"BE1": station_end("HUB-SH", 0, cases=2), "BE2": station_end("SH-PD-01", 1)}, Counter(), [], [], Counter()
    )
    another_case.at_capacity = {"BE1"}
    assert differences(clean, another_case) == ["BE1 cases: clean 1 vs faulty 2"]


def test_the_oversight_level_of_cases_past_a_full_station_follows_which_waybill_took_the_place() -> None:
    """A repeat contact raises oversight one above the holder: which holder a waybill with a repeat contact
    ended at is the same race, so the level may move between the stations' cases, the totals may not."""
    clean = Outcome({"BE1": station_end("HUB-SH", 0), "BE2": station_end("HUB-SH", 0)}, Counter(), [], [], Counter())
    clean.at_capacity = {"BE1", "BE2"}
    escalated = {**station_end("HUB-SH", 0), "level": "regional_centre"}
    other_escalated = Outcome({"BE1": escalated, "BE2": station_end("HUB-SH", 0)}, Counter(), [], [], Counter())
    other_escalated.at_capacity = {"BE1", "BE2"}
    assert differences(clean, other_escalated) == []


def with_failures(failed: dict[str, int], dead: dict[str, int]) -> Outcome:
    return Outcome({}, Counter(), [], [], Counter(dead), failed=Counter(failed))


def test_only_emails_cut_short_by_a_kill_may_fail_and_each_dead_letters_its_trigger() -> None:
    clean = with_failures({}, {"upstream.parcel-exceptions.dlq:invalid_json": 3})
    cut = {CUT_SHORT: 2}
    parked = {"upstream.parcel-exceptions.dlq:invalid_json": 3, "cases.lifecycle.dlq:delivery_failed": 2}
    assert failures_explained(clean, with_failures(cut, parked)) == []
    [unparked] = failures_explained(clean, with_failures(cut, {"upstream.parcel-exceptions.dlq:invalid_json": 3}))
    assert unparked == "0 triggers dead-lettered as delivery_failed for 2 e-mails cut short"
    other = with_failures({CUT_SHORT: 2, "550 mailbox unavailable": 1}, parked)
    assert failures_explained(clean, other)[0].startswith("notification failed in the chaotic run: 550")
    lost_poison = with_failures(cut, {"cases.lifecycle.dlq:delivery_failed": 2})
    assert failures_explained(clean, lost_poison) == [
        "dead letters only the clean run has: upstream.parcel-exceptions.dlq:invalid_json (3)"
    ]


def test_breaches_are_counted_as_published_held_or_withdrawn_once_each() -> None:
    withdrawn = event("sla.breach_withdrawn", "w1", breach_event_id="b1", metric="callback")
    met: dict[str, Any] = {"started_at": AT, "deadline_at": DEADLINE, "metric": "callback"}
    in_time = event("sla.met", "m1", **met).model_copy(update={"occurred_at": DEADLINE - timedelta(seconds=1)})
    held = event("sla.met", "m2", **met).model_copy(update={"occurred_at": DEADLINE + timedelta(seconds=1)})
    story = [breach("b1"), breach("b1"), breach("b2"), withdrawn, in_time, held]  # b1 republished
    assert breach_figures(story) == Counter(published=2, held=1, withdrawn=1)
    assert breach_figures([]) == Counter(published=0, held=0, withdrawn=0)


BAD = "upstream.parcel-exceptions.dlq:invalid_json"


def test_dead_letters_other_than_bad_inputs_and_emails_cut_short_are_reported() -> None:
    assert unexplained_dead_letters(Counter({BAD: 3, "cases.lifecycle.dlq:delivery_failed": 1}), 3, 1) == []
    assert unexplained_dead_letters(Counter({BAD: 2}), 3, 0) == ["3 bad upstream events sent, 2 dead-lettered"]
    assert unexplained_dead_letters(Counter({BAD: 3, "stations.updates.dlq:not_holder": 4}), 3, 0) == [
        "dead-lettered stations.updates.dlq:not_holder (4)"
    ]
    assert unexplained_dead_letters(Counter({"cases.lifecycle.dlq:delivery_failed": 2}), 0, 1) == [
        "2 triggers dead-lettered as delivery_failed for 1 e-mails cut short"
    ]


def test_a_simulated_day_fails_on_an_upstream_event_never_taken_in_and_passes_once_it_is() -> None:
    seen = Observed()
    contact = example("customer.contacted")
    contact.update(event_id="u1")
    seen.arrived("upstream.customer-contacts", parse_event(json.dumps(contact, default=str).encode()), {})
    verdict = judge(seen, bad_sent=0, faults=[])
    assert verdict.problems == ["never taken in: u1"]
    opened = event("case.opened", "o1").model_copy(update={"causation_id": "u1"})
    seen.arrived("cases.lifecycle", opened, seq(1))
    assert judge(seen, bad_sent=0, faults=[]).problems == []


def test_a_breach_is_a_duplicate_only_for_the_same_clock() -> None:
    seen = Observed()
    reopened = event(
        "sla.breached", "b2", metric="callback", started_at=DEADLINE, deadline_at=DEADLINE + timedelta(hours=2)
    )
    for e in (breach("b1"), breach("b1"), reopened):  # a republished copy, and the reopened case's new clock
        seen.arrived("sla.breaches", e, {})
    assert find_duplicates(seen) == []
    seen.arrived("sla.breaches", breach("b3"), {})  # the first clock's breach under another id
    [problem] = find_duplicates(seen)
    assert problem.startswith("sla.breached ('CF-000001', 'callback'")
    assert problem.endswith("published 2 times")
