"""intake through the real broker (Tansu) with a real SQLite store: the issue's "Show" list.

One service start per test (consumer-group joins take seconds): many events go through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
from aiokafka import TopicPartition

from caseflow_contracts import parse_event
from caseflow_contracts.cases import (
    CaseContactAfterClosure,
    CaseContactAfterClosurePayload,
    CaseMergedPayload,
    CaseOpened,
)
from caseflow_contracts.topics import CASES_LIFECYCLE, UPSTREAM_CUSTOMER_CONTACTS, UPSTREAM_PARCEL_EXCEPTIONS
from caseflow_contracts.upstream import ContactCategory, ExceptionKind
from caseflow_dev.harness import run_in_process
from caseflow_dev.testing import KafkaTestKit
from caseflow_intake.app import SPEC
from caseflow_intake.settings import IntakeSettings
from caseflow_kit.auth import Role

from .factories import NOW, TEST_KEY, TEST_PSEUDONYM_KEY, contact, exception, resolved, waybill

HOUR, DAY = timedelta(hours=1), timedelta(days=1)


async def lifecycle(kafka: KafkaTestKit, count: int, timeout_s: float = 30) -> list[Any]:
    return [parse_event(r.value) for r in await kafka.collect(CASES_LIFECYCLE, count, timeout_s=timeout_s)]


async def lifecycle_until(
    kafka: KafkaTestKit, done: Callable[[dict[str, Any]], bool], timeout_s: float = 30
) -> dict[str, Any]:
    """cases.lifecycle by event id (a relay may publish an event twice), read until `done` says so: each read
    waits for one record more than the last, so this polls the topic, bounded, and never sleeps blind."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    records = 0
    while True:
        left = deadline - asyncio.get_running_loop().time()
        events = await lifecycle(kafka, records + 1, timeout_s=max(left, 0.1))
        found = {e.event_id: e for e in events}
        if done(found) or left <= 0:
            return found
        records = len(events)


async def wait_for(client: httpx.AsyncClient, path: str, check: Any, timeout_s: float = 20) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        response = await client.get(path)
        if response.status_code == 200 and check(body := response.json()):
            return body  # type: ignore[no-any-return]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{path}: condition not met, last answer {response.status_code} {response.text[:300]}")
        await asyncio.sleep(0.1)


async def test_duplicates_merge_reopen_dead_letters_and_read_endpoint(kafka: KafkaTestKit) -> None:
    settings = kafka.settings(IntakeSettings, pii_key=TEST_KEY, pseudonym_key=TEST_PSEUDONYM_KEY)
    async with (
        run_in_process(SPEC, settings) as svc,
        httpx.AsyncClient(base_url=svc.url, headers=kafka.auth(Role.CASES_READER)) as client,
    ):
        wb = waybill()
        first = exception(wb, ExceptionKind.DELAY, source_event_id="EX-BROKER-1")
        await kafka.publish(first)
        await kafka.publish(first)  # redelivered as is
        await kafka.publish(exception(wb, ExceptionKind.DELAY, source_event_id="EX-BROKER-1"))  # re-sent by upstream
        [opened] = await lifecycle(kafka, 1)
        assert isinstance(opened, CaseOpened)
        case_id = opened.payload.case_id

        await kafka.publish(contact(wb, ContactCategory.INQUIRY, text="我是王小明，电话13812345678，快递还没到"))
        await kafka.publish(contact(wb, ContactCategory.COMPLAINT, text="延误两天了", at=NOW + timedelta(hours=1)))
        events = await lifecycle(kafka, 3)
        merged = [e for e in events if e.type == "case.merged"]
        assert [m.payload.repeat_contact for m in merged] == [False, True]
        assert merged[1].payload.priority_raised

        # Routing resolves the case; once intake has seen it, a new contact reopens it.
        await kafka.publish(resolved(case_id, NOW + timedelta(hours=3)))
        await wait_for(client, f"/cases/{case_id}", lambda b: b["case"]["status"] == "closed")
        await kafka.publish(contact(wb, ContactCategory.COMPLAINT, text="还是没收到", at=NOW + timedelta(days=1)))
        events = await lifecycle(kafka, 5)
        assert Counter(e.type for e in events) == {
            "case.opened": 1,
            "case.merged": 2,
            "case.resolved": 1,
            "case.reopened": 1,
        }

        # Bad input of every sort goes to the dead-letter topic with its reason; the consumer carries on.
        good = json.loads(exception(waybill()).to_bytes())
        unknown_enum = {**good, "payload": {**good["payload"], "exception_kind": "teleported"}}
        future_major = {**good, "schema_version": "2.0"}
        no_key = {k: v for k, v in good.items() if k != "key"}
        wrong_type = {**good, "payload": {**good["payload"], "insured": "yes"}}
        await kafka.publish_raw(UPSTREAM_PARCEL_EXCEPTIONS, b"{not json")
        await kafka.publish_raw(UPSTREAM_PARCEL_EXCEPTIONS, json.dumps(unknown_enum).encode())
        await kafka.publish_raw(UPSTREAM_PARCEL_EXCEPTIONS, json.dumps(future_major).encode())
        await kafka.publish_raw(UPSTREAM_PARCEL_EXCEPTIONS, json.dumps(no_key).encode())
        await kafka.publish_raw(UPSTREAM_PARCEL_EXCEPTIONS, json.dumps(wrong_type).encode())
        await kafka.publish_raw(UPSTREAM_PARCEL_EXCEPTIONS, b'{"x":"' + b"a" * 300_000 + b'"}')
        await kafka.publish(contact(wb).model_copy(update={"key": "SOMEONE-ELSE"}))
        late = exception(waybill())
        await kafka.publish(late)  # still handled after all that
        dead = await kafka.collect(UPSTREAM_PARCEL_EXCEPTIONS, 6, dlq=True)
        reasons = [dict(r.headers)["x-dlq-reason"].decode() for r in dead]
        assert reasons == ["malformed_json", "invalid", "unknown_schema_version", "invalid", "invalid", "oversized"]
        [dead_contact] = await kafka.collect(UPSTREAM_CUSTOMER_CONTACTS, 1, dlq=True)
        assert dict(dead_contact.headers)["x-dlq-reason"] == b"key_mismatch"
        events = await lifecycle(kafka, 6)
        assert any(e.type == "case.opened" and e.causation_id == late.event_id for e in events)

        # The read endpoint: the intake record and contact history, masked.
        record = (await client.get(f"/cases/{case_id}")).json()
        text = json.dumps(record, ensure_ascii=False)
        for secret in ("13812345678", "王小明", "建国路", "110101199003071234", "xiaoming.wang@", "sealed"):
            assert secret not in text
        assert record["case"]["customer"]["masked"]["phone"] == "138****5678"
        assert [h["action"] for h in record["contact_history"]] == ["opened", "merged", "merged", "reopened"]
        assert "138****5678" in record["contact_history"][1]["summary"]
        assert (await client.get("/cases/CF-NOSUCH000")).status_code == 404
        assert (await client.get("/cases/not-a-case")).status_code == 422
        assert (await client.get(f"/cases/{case_id}", headers={"Authorization": ""})).status_code == 401
        metrics = (await client.get("/metrics")).text
        assert 'caseflow_dead_letters_total{reason="key_mismatch",topic="upstream.customer-contacts"} 1.0' in metrics


async def test_concurrent_duplicates_on_two_consumers_make_one_case_each(kafka: KafkaTestKit) -> None:
    """Two consumers handle the same records at once (as in a rebalance overlap), over one database."""
    base = {"pii_key": TEST_KEY, "pseudonym_key": TEST_PSEUDONYM_KEY, "batch_max_records": 5}
    a = kafka.settings(IntakeSettings, group_id=f"{kafka.prefix}a", **base)
    b = kafka.settings(IntakeSettings, group_id=f"{kafka.prefix}b", **base)
    async with contextlib.AsyncExitStack() as stack:
        # Both start at once: consumer-group joins take seconds each.
        services = await asyncio.gather(*(stack.enter_async_context(run_in_process(SPEC, s)) for s in (a, b)))
        sources = [exception(waybill(), ExceptionKind.LOSS, source_event_id=f"EX-CONC-{i}") for i in range(20)]
        for event in sources:
            await kafka.publish(event)
            # The same exception, re-sent by upstream with a new envelope, on the same partition.
            await kafka.publish(
                exception(event.payload.waybill_no, ExceptionKind.LOSS, source_event_id=event.payload.source_event_id)
            )
            await kafka.publish(contact(event.payload.waybill_no, ContactCategory.CLAIM_REQUEST, text="包裹丢失了"))
        upstream = (
            (UPSTREAM_PARCEL_EXCEPTIONS, "parcel.exception_reported"),
            (UPSTREAM_CUSTOMER_CONTACTS, "customer.contacted"),
        )

        def outcomes(svc: Any) -> dict[str, float]:
            """What one consumer did with the upstream records, by outcome."""
            found: Counter[str] = Counter()
            for metric in svc.runtime.registry.collect():
                for sample in metric.samples:
                    if sample.name == "caseflow_events_handled_total" and sample.labels["topic"] in {
                        t.name for t, _ in upstream
                    }:
                        found[sample.labels["outcome"]] += sample.value
            return dict(found)

        deadline = asyncio.get_running_loop().time() + 40
        while any(sum(outcomes(svc).values()) < 60 for svc in services):
            assert asyncio.get_running_loop().time() < deadline, [outcomes(svc) for svc in services]
            await asyncio.sleep(0.1)
        # Each consumer handled every record itself: none skipped, none dead-lettered (a lost creation race
        # is a write conflict that the kit re-runs, see caseflow_intake.store.create).
        assert [outcomes(svc) for svc in services] == [{"handled": 60}, {"handled": 60}]

        def complete(found: dict[str, Any]) -> bool:
            return Counter(e.type for e in found.values()) == {"case.opened": 20, "case.merged": 20}

        events = await lifecycle_until(kafka, complete)
    opened = {i: e for i, e in events.items() if e.type == "case.opened"}  # a relay may republish: same event id
    merged = {i: e for i, e in events.items() if e.type == "case.merged"}
    assert len({e.payload.case_id for e in opened.values()}) == 20
    assert len(opened) == 20
    assert len(merged) == 20
    assert {m.payload.case_id for m in merged.values()} == {o.payload.case_id for o in opened.values()}


async def test_a_contact_taken_in_before_intake_hears_of_routings_close_reopens_or_follows_up(
    kafka: KafkaTestKit,
) -> None:
    """Issue 20 through the broker: routing closes a case and its close sits on cases.lifecycle while intake's
    consumer of that topic is held; the customer's contact, published after the close, is taken in and merged
    (intake does not know of the close yet); the held consumer goes on and intake applies the close; routing,
    having applied the merge to its closed case, says so (case.contact_after_closure, published here as routing
    does), and intake reopens the case (the contact crossed the close) or, past the reopen window, opens a
    follow-up case linked to it. No sleeps: the hold is explicit and every wait polls with a bound."""
    settings = kafka.settings(IntakeSettings, pii_key=TEST_KEY, pseudonym_key=TEST_PSEUDONYM_KEY)
    async with (
        run_in_process(SPEC, settings) as svc,
        httpx.AsyncClient(base_url=svc.url, headers=kafka.auth(Role.CASES_READER)) as client,
    ):
        crossing, late = waybill(), waybill()
        await kafka.publish(exception(crossing, ExceptionKind.DELAY, at=NOW))
        await kafka.publish(exception(late, ExceptionKind.DELAY, at=NOW))
        opened = await lifecycle_until(kafka, lambda found: len(found) == 2)
        case_of = {e.payload.waybill_no: e.payload.case_id for e in opened.values()}

        # routing closes both cases at 1 h; its closes reach the topic while intake's consumer of it is held.
        held = hold(svc, kafka.topic(CASES_LIFECYCLE))
        for case_id in case_of.values():
            await kafka.publish(resolved(case_id, NOW + HOUR))
        # The customers call: one before the close (crossing it), one past the 7-day reopen window.
        calls = {crossing: NOW + 0.5 * HOUR, late: NOW + 10 * DAY}
        for wb, at in calls.items():
            await kafka.publish(contact(wb, ContactCategory.COMPLAINT, source_id=f"CT-{wb}", text="还没到", at=at))
        merges = await lifecycle_until(kafka, lambda found: _count(found, "case.merged") == 2)
        merged = [e for e in merges.values() if e.type == "case.merged"]
        assert {m.payload.case_id for m in merged} == set(case_of.values())  # intake thought them open
        for case_id in case_of.values():
            assert (await client.get(f"/cases/{case_id}")).json()["case"]["status"] == "open"

        # The held consumer goes on: intake applies the closes; then routing's word on each merge.
        release(svc, held)
        for case_id in case_of.values():
            await wait_for(client, f"/cases/{case_id}", lambda b: b["case"]["status"] == "closed")
        for m in merged:
            notice = after_closure(m.payload, closed_at=NOW + HOUR)
            await kafka.publish(notice)
            await kafka.publish(notice)  # redelivered: changes nothing
        story = await lifecycle_until(kafka, lambda found: _count(found, "case.reopened", "case.opened") == 4)
        [reopened] = [e for e in story.values() if e.type == "case.reopened"]
        assert reopened.payload.case_id == case_of[crossing]
        assert reopened.payload.source_event_id == f"CT-{crossing}"
        [follow_up] = [e for e in story.values() if e.type == "case.opened" and e.payload.linked_case_id]
        assert follow_up.payload.linked_case_id == case_of[late]
        assert follow_up.payload.complaint
        body = await wait_for(client, f"/cases/{case_of[crossing]}", lambda b: b["case"]["status"] == "open")
        assert body["case"]["reopen_count"] == 1
        assert (await client.get(f"/cases/{case_of[late]}")).json()["case"]["status"] == "closed"
        await wait_for(client, f"/cases/{follow_up.payload.case_id}", lambda b: b["case"]["status"] == "open")
        metrics = (await client.get("/metrics")).text
        for outcome in ("reopened", "follow_up"):
            assert (
                f'caseflow_intake_contacts_after_closure_total{{outcome="{outcome}",platform="none",'
                f'station="BJ-CY-07"}} 1.0' in metrics
            )
        # Each notice was handled once; nothing was dead-lettered.
        assert await kafka.collect(CASES_LIFECYCLE, 1, timeout_s=0.5, dlq=True) == []


def hold(svc: Any, topic: str) -> list[TopicPartition]:
    """Pause the service's Kafka consumer on one topic's partitions: its records wait on the broker."""
    [subscriber] = svc.runtime.broker.subscribers
    held = [tp for tp in subscriber.consumer.assignment() if tp.topic == topic]
    assert held, f"the consumer holds no partition of {topic}"
    subscriber.consumer.pause(*held)
    return held


def release(svc: Any, held: list[TopicPartition]) -> None:
    [subscriber] = svc.runtime.broker.subscribers
    subscriber.consumer.resume(*held)


def _count(found: dict[str, Any], *types: str) -> int:
    return sum(e.type in types for e in found.values())


def after_closure(merged: CaseMergedPayload, *, closed_at: datetime) -> CaseContactAfterClosure:
    """routing's answer to a merge it applied to a case it had closed (contracts 1.2)."""
    payload = CaseContactAfterClosurePayload(
        case_id=merged.case_id,
        source_event_id=merged.source_event_id,
        station="BJ-CY-07",
        closed_at=closed_at,
        contact_at=merged.contact_at,
        at=merged.merged_at,
    )
    return CaseContactAfterClosure.create(payload, key=merged.case_id, producer="routing", occurred_at=payload.at)
