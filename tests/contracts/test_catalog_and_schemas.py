"""The catalog is complete and consistent; generated documents are fresh; published schemas stay compatible."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from caseflow_contracts import EVENT_MODELS, TOPICS, topic_for
from caseflow_contracts.compat import incompatibilities
from caseflow_contracts.generate import PUBLISHED_DIR, event_schema, schema_file_name, stale_files
from caseflow_contracts.registry import EVENTS_BY_TYPE


def test_every_event_is_on_exactly_one_topic() -> None:
    for model in EVENT_MODELS:
        homes = [t.name for t in TOPICS if model in t.events]
        assert len(homes) == 1, f"{model.event_type()} is on {homes}"
        assert topic_for(model).name == homes[0]


def test_topic_names_are_unique_and_have_owners() -> None:
    names = [t.name for t in TOPICS]
    assert len(names) == len(set(names))
    for topic in TOPICS:
        assert topic.producers
        assert topic.consumers
        assert topic.partitions >= 1
        assert topic.retention_days >= 1


def test_breach_topic_carries_only_breaches() -> None:
    breaches = next(t for t in TOPICS if t.name == "sla.breaches")
    assert breaches.event_types == {"sla.breached"}


def test_generated_schemas_and_asyncapi_are_fresh() -> None:
    stale = stale_files()
    assert not stale, f"run `make schemas`; stale: {[p.name for p in stale]}"


def test_published_schemas_are_backward_compatible() -> None:
    published = sorted(PUBLISHED_DIR.glob("*.json"))
    assert published, "no published schemas: run `make publish-schemas` once"
    current = {schema_file_name(m): event_schema(m) for m in EVENT_MODELS}
    problems = {}
    for path in published:
        if path.name not in current:
            problems[path.name] = ["event type removed"]
            continue
        found = incompatibilities(json.loads(path.read_text(encoding="utf-8")), current[path.name])
        if found:
            problems[path.name] = found
    assert not problems, problems


def _payload(schema: dict[str, Any], name: str) -> dict[str, Any]:
    result: dict[str, Any] = schema["$defs"][name]
    return result


@pytest.fixture
def opened() -> dict[str, Any]:
    return event_schema(EVENTS_BY_TYPE["case.opened"])


def test_adding_an_optional_field_is_compatible(opened: dict[str, Any]) -> None:
    changed = copy.deepcopy(opened)
    _payload(changed, "CaseOpenedPayload")["properties"]["new_hint"] = {"type": "string", "default": ""}
    assert incompatibilities(opened, changed) == []


def test_removing_a_field_is_not(opened: dict[str, Any]) -> None:
    changed = copy.deepcopy(opened)
    del _payload(changed, "CaseOpenedPayload")["properties"]["summary"]
    assert any("summary: field removed" in p for p in incompatibilities(opened, changed))


def test_a_new_required_field_is_not(opened: dict[str, Any]) -> None:
    changed = copy.deepcopy(opened)
    payload = _payload(changed, "CaseOpenedPayload")
    payload["properties"]["must_have"] = {"type": "string"}
    payload["required"].append("must_have")
    assert any("must_have: field became required" in p for p in incompatibilities(opened, changed))


def test_changing_a_type_is_not(opened: dict[str, Any]) -> None:
    changed = copy.deepcopy(opened)
    _payload(changed, "CaseOpenedPayload")["properties"]["vip"] = {"type": "string"}
    assert any("vip: type changed" in p for p in incompatibilities(opened, changed))


def test_removing_an_enum_value_is_not(opened: dict[str, Any]) -> None:
    changed = copy.deepcopy(opened)
    kinds = _payload(changed, "CaseKind")
    kinds["enum"] = [k for k in kinds["enum"] if k != "loss"]
    assert any("enum values removed" in p for p in incompatibilities(opened, changed))


def test_tightening_a_limit_is_not(opened: dict[str, Any]) -> None:
    changed = copy.deepcopy(opened)
    _payload(changed, "ShortText" if "ShortText" in changed["$defs"] else "StationHint")["properties"]["reason"][
        "maxLength"
    ] = 10
    assert any("maxLength tightened" in p for p in incompatibilities(opened, changed))


def test_asyncapi_document_names_every_topic_and_message() -> None:
    from caseflow_contracts.generate import asyncapi_document

    doc = asyncapi_document()
    assert doc["asyncapi"].startswith("3.")
    addresses = {c["address"] for c in doc["channels"].values()}
    for topic in TOPICS:
        assert topic.name in addresses
        assert topic.dlq in addresses
    assert set(doc["components"]["messages"]) == set(EVENTS_BY_TYPE)
