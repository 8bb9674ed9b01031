"""The catalog is complete and consistent; generated documents are fresh; published schemas stay compatible."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from fnmatch import fnmatchcase
from typing import Any

import pytest

from caseflow_contracts import EVENT_MODELS, TOPICS, topic_for
from caseflow_contracts.compat import CORRECTIONS, Correction, incompatibilities, uncorrected
from caseflow_contracts.generate import VERSION, event_schema, published_releases, schema_file_name, stale_files
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
        assert topic.retention_days >= 1 or topic.compacted  # compacted: kept for good


def test_breach_topic_carries_only_breaches_and_their_withdrawals() -> None:
    breaches = next(t for t in TOPICS if t.name == "sla.breaches")
    assert breaches.event_types == {"sla.breached", "sla.breach_withdrawn"}


def test_generated_schemas_and_asyncapi_are_fresh() -> None:
    stale = stale_files()
    assert not stale, f"run `make schemas`; stale: {[p.name for p in stale]}"


def _keywords(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for name, value in node.items():
            if name in ("properties", "$defs"):
                for child in value.values():
                    yield from _keywords(child)
            else:
                yield name
                yield from _keywords(value)
    elif isinstance(node, list):
        for child in node:
            yield from _keywords(child)


def test_schemas_use_json_schema_keywords_only() -> None:
    """pydantic writes a bound it cannot place as "ge"/"le", which every JSON Schema validator ignores."""
    for model in EVENT_MODELS:
        assert not set(_keywords(event_schema(model))) & {"ge", "le", "gt", "lt", "multiple_of"}, model


def test_published_schemas_are_backward_compatible() -> None:
    releases = published_releases()
    assert releases, "no published schemas: run `make publish-schemas` once"
    current = {schema_file_name(m): event_schema(m) for m in EVENT_MODELS}
    problems = {}
    for release, folder in releases.items():
        for path in sorted(folder.glob("*.json")):
            if path.name not in current:
                problems[f"{release}/{path.name}"] = ["event type removed"]
                continue
            found = incompatibilities(json.loads(path.read_text(encoding="utf-8")), current[path.name])
            if left := uncorrected(release, path.name, found):
                problems[f"{release}/{path.name}"] = left
    assert not problems, problems


def test_the_current_release_is_published() -> None:
    """`make publish-schemas` after a contract change: what the AsyncAPI calls VERSION is on record."""
    folder = published_releases().get(VERSION)
    assert folder is not None, f"release {VERSION} is not published"
    recorded = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in folder.glob("*.json")}
    assert recorded == {schema_file_name(m): event_schema(m) for m in EVENT_MODELS}


@pytest.mark.parametrize("correction", CORRECTIONS, ids=lambda c: f"{c.schemas}:{c.path}:{c.change[:30]}")
def test_every_recorded_correction_is_needed(correction: Correction) -> None:
    """A correction covers an actual difference of its release: none is a blanket waiver."""
    folder = published_releases()[correction.release]
    current = {schema_file_name(m): event_schema(m) for m in EVENT_MODELS}
    covered = [
        line
        for path in folder.glob("*.json")
        if fnmatchcase(path.name, correction.schemas)
        for line in incompatibilities(json.loads(path.read_text(encoding="utf-8")), current[path.name])
        if correction.covers(correction.release, path.name, line)
    ]
    assert covered, f"{correction} covers nothing: remove it"


def test_a_correction_covers_only_what_it_names() -> None:
    type_required = next(c for c in CORRECTIONS if c.path == "$.type")
    assert type_required.covers("1.0.0", "case.opened.v1.json", "$.type: field became required")
    assert not type_required.covers("1.1.0", "case.opened.v1.json", "$.type: field became required")
    assert not type_required.covers("1.0.0", "case.opened.v1.json", "$.payload.type: field became required")
    assert not type_required.covers("1.0.0", "case.opened.v1.json", "$.event_id: field became required")


def test_a_new_rule_on_an_object_is_not_compatible(opened: dict[str, Any]) -> None:
    changed = copy.deepcopy(opened)
    _payload(changed, "CaseOpenedPayload")["anyOf"] = [{"required": ["waybill_no"]}]
    assert "$.payload: rule added: anyOf" in incompatibilities(opened, changed)


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
