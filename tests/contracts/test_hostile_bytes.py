"""parse_event is total: whatever the bytes, it returns an event or raises ContractError.

Anything else (an OverflowError from a date, a RecursionError from nesting) would make a consumer retry
the record forever instead of dead-lettering it, stalling its partition.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caseflow_contracts import EVENTS_BY_TYPE, ContractError, Event, parse_event

from .examples import PAYLOADS, encode, example
from .mutations import Path, at, json_values, mutated_documents, paths, render, replace

CODES = {"oversized", "malformed_json", "missing_field", "invalid", "unknown_type", "unknown_schema_version"}
#: How the examples write a date-time (the contract's own pattern is not assumed, so this runs on any version).
DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$")


@st.composite
def mutated_events(draw: st.DrawFn) -> bytes:
    """A mutated valid event, encoded either way, then maybe cut short or with a byte flipped."""
    raw = render(draw(mutated_documents()), ascii_only=draw(st.booleans()))
    damage = draw(st.sampled_from(["none", "none", "truncate", "flip"]))
    if damage != "none" and raw:
        index = draw(st.integers(0, len(raw) - 1))
        raw = raw[:index] if damage == "truncate" else raw[:index] + bytes([raw[index] ^ 0xFF]) + raw[index + 1 :]
    return raw


def assert_event_or_contract_error(raw: bytes) -> None:
    try:
        event = parse_event(raw)
    except ContractError as exc:
        error = exc
    else:
        error = None
    if error is not None:
        # The last resort ("unexpected_error") is for defects nobody found yet; finding one here is a failure.
        assert error.code in CODES, error
        return
    assert isinstance(event, Event)
    assert event.occurred_at.utcoffset() is not None
    assert not event.occurred_at.utcoffset()
    # What is accepted can be published again (relay, dead-letter replay) and reads back the same.
    assert parse_event(event.to_bytes()) == event


@settings(max_examples=300)
@given(st.binary(max_size=512) | st.binary(max_size=64).map(lambda b: b'{"type": "case.opened", ' + b))
def test_arbitrary_bytes(raw: bytes) -> None:
    assert_event_or_contract_error(raw)


@settings(max_examples=200)
@given(json_values)
def test_arbitrary_json(document: Any) -> None:
    assert_event_or_contract_error(json.dumps(document).encode())


@settings(max_examples=800)
@given(mutated_events())
def test_mutations_of_a_valid_event_of_every_type(raw: bytes) -> None:
    assert_event_or_contract_error(raw)


def test_every_example_is_valid_and_the_registry_is_covered() -> None:
    assert set(PAYLOADS) == set(EVENTS_BY_TYPE)
    for event_type in PAYLOADS:
        assert parse_event(encode(example(event_type))).type == event_type


def date_time_paths(document: Any) -> list[Path]:
    return [path for path in paths(document) if isinstance(v := at(document, path), str) and DATE_TIME.match(v)]


@pytest.mark.parametrize("event_type", sorted(PAYLOADS))
@pytest.mark.parametrize("date", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
def test_a_date_past_the_ends_of_the_range_is_invalid_in_every_date_time_field(event_type: str, date: str) -> None:
    base = example(event_type)
    fields = date_time_paths(base)
    assert ("occurred_at",) in fields
    for path in fields:
        with pytest.raises(ContractError) as caught:
            parse_event(encode(replace(copy.deepcopy(base), path, date)))
        assert caught.value.code == "invalid", path
        assert "out of range" in caught.value.message


def test_an_unexpected_failure_inside_validation_still_ends_as_a_contract_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = EVENTS_BY_TYPE["case.closed"]

    def broken(*_args: object, **_kwargs: object) -> Event:
        raise OverflowError("a defect nobody has found yet")

    monkeypatch.setattr(model, "model_validate_json", broken)
    with pytest.raises(ContractError) as caught:
        parse_event(encode(example("case.closed")))
    assert caught.value.code == "unexpected_error"
    assert isinstance(caught.value.__cause__, OverflowError)
    assert "nobody" not in caught.value.message  # the cause's text may quote the input: only its type is told
