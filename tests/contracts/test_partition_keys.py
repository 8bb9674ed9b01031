"""Every event type knows its catalog partition key, and the catalog says which topics outsiders write."""

from __future__ import annotations

import pytest

from caseflow_contracts import EVENTS_BY_TYPE, TOPICS, parse_event, topic_for

from .examples import CASE, KEYS, PAYLOADS, WAYBILL, encode, example

SERVICES = {"intake", "routing", "sla", "claims", "notify"}


@pytest.mark.parametrize("event_type", sorted(PAYLOADS))
def test_each_event_derives_the_key_its_topic_declares(event_type: str) -> None:
    model = EVENTS_BY_TYPE[event_type]
    # a topic states one key rule per kind of event it carries, separated by "; " ("... for <which events>")
    rules = [rule.split(" for ")[0] for rule in topic_for(model).key.split("; ")]
    assert ", else ".join(model.KEY_FIELDS) in rules
    assert parse_event(encode(example(event_type))).partition_key() == KEYS[event_type]


@pytest.mark.parametrize("event_type", sorted(t for t in PAYLOADS if EVENTS_BY_TYPE[t].KEY_FIELDS == ("case_id",)))
def test_case_keyed_events_are_keyed_by_their_case(event_type: str) -> None:
    document = example(event_type)
    document["payload"]["case_id"] = "CF-20261231OTHERCASE0"
    assert parse_event(encode(document)).partition_key() == "CF-20261231OTHERCASE0" != CASE


def test_a_parcel_exception_is_keyed_by_its_waybill() -> None:
    document = example("parcel.exception_reported")
    document["payload"]["waybill_no"] = "SF0000000001"
    assert parse_event(encode(document)).partition_key() == "SF0000000001"


@pytest.mark.parametrize(
    ("waybill_no", "platform_order_id", "category", "key"),
    [
        (WAYBILL, "PO-77", "complaint", WAYBILL),
        (None, "PO-77", "complaint", "PO-77"),
        (None, None, "suggestion", "CALL-9"),
    ],
    ids=["waybill first", "else the order", "else the contact's own id"],
)
def test_a_contact_is_keyed_by_waybill_else_order_else_source(
    waybill_no: str | None, platform_order_id: str | None, category: str, key: str
) -> None:
    document = example("customer.contacted")
    document["payload"].update(waybill_no=waybill_no, platform_order_id=platform_order_id, category=category)
    assert parse_event(encode(document)).partition_key() == key


def test_topics_written_outside_caseflow_are_marked() -> None:
    external = {t.name for t in TOPICS if t.external}
    assert external == {"upstream.parcel-exceptions", "upstream.customer-contacts", "stations.updates"}
    for topic in TOPICS:
        assert topic.external == (not SERVICES & set(topic.producers)), topic.name
