"""The published JSON Schemas say what intake really accepts: every event parse_event dead-letters is
refused by the generated schema too, so a producer that validates against published/ is not refused later.

The schemas are checked WITHOUT format assertion (most validators treat `format` as an annotation):
what they refuse, they refuse by type, required, pattern, bounds and rules.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import event, given, settings
from jsonschema import Draft202012Validator
from pydantic import TypeAdapter, ValidationError

from caseflow_contracts import EVENT_MODELS, ContractError, parse_event
from caseflow_contracts.common import DATE_TIME_PATTERN, UtcDateTime
from caseflow_contracts.generate import SCHEMA_DIR, schema_file_name

from .examples import PAYLOADS, encode, example
from .mutations import at, mutated_documents, paths

VALIDATORS = {
    model.event_type(): Draft202012Validator(
        json.loads((SCHEMA_DIR / schema_file_name(model)).read_text(encoding="utf-8"))
    )
    for model in EVENT_MODELS
}

Mutation = Callable[[dict[str, Any]], object]


def envelope(**changes: Any) -> Mutation:
    return lambda d: d.update(changes)


def without(*names: str) -> Mutation:
    def drop(d: dict[str, Any]) -> None:
        for name in names:
            d.pop(name)

    return drop


def payload(**changes: Any) -> Mutation:
    return lambda d: d["payload"].update(changes)


def payload_without(*names: str) -> Mutation:
    def drop(d: dict[str, Any]) -> None:
        for name in names:
            d["payload"].pop(name)

    return drop


def in_payload(field: str, **changes: Any) -> Mutation:
    return lambda d: d["payload"][field].update(changes)


#: (reason, event type, mutation, the code parse_event dead-letters it with)
DEAD_LETTERED: list[tuple[str, str, Mutation, str]] = [
    # missing fields
    *[
        (f"no {name}", "case.closed", without(name), "invalid")
        for name in ("event_id", "occurred_at", "producer", "key", "correlation_id", "payload")
    ],
    ("no type", "case.closed", without("type"), "missing_field"),
    ("no schema_version", "case.closed", without("schema_version"), "missing_field"),
    ("no waybill in an exception", "parcel.exception_reported", payload_without("waybill_no"), "invalid"),
    ("no case id", "case.opened", payload_without("case_id"), "invalid"),
    ("no customer", "customer.contacted", payload_without("customer"), "invalid"),
    ("no amount", "payout.issued", payload_without("amount"), "invalid"),
    # wrong types
    ("type not a string", "case.closed", envelope(type=["case.closed"]), "invalid"),
    ("event id a number", "case.closed", envelope(event_id=42), "invalid"),
    ("payload a list", "case.closed", envelope(payload=[]), "invalid"),
    ("string for a bool", "parcel.exception_reported", payload(insured="yes"), "invalid"),
    ("number for a string", "case.closed", payload(reason=7), "invalid"),
    ("string for an integer", "case.merged", payload(repeat_contacts="1"), "invalid"),
    ("bool for an integer", "case.merged", payload(repeat_contacts=True), "invalid"),
    ("object for a list", "arbitration.decided", payload(liable={}), "invalid"),
    ("unknown enum value", "parcel.exception_reported", payload(exception_kind="stolen_by_aliens"), "invalid"),
    # money
    ("fractional money", "payout.issued", in_payload("amount", amount_minor=1200.5), "invalid"),
    ("money as a string", "payout.issued", in_payload("amount", amount_minor="1200"), "invalid"),
    ("money as a bool", "payout.issued", in_payload("amount", amount_minor=True), "invalid"),
    ("negative money", "payout.issued", in_payload("amount", amount_minor=-1), "invalid"),
    ("money past the bound", "payout.issued", in_payload("amount", amount_minor=10**12 + 1), "invalid"),
    ("bad currency", "payout.issued", in_payload("amount", currency="yuan"), "invalid"),
    ("fractional satisfaction", "case.resolved", payload(satisfaction=4.5), "invalid"),
    ("satisfaction out of range", "station.resolved", payload(satisfaction=6), "invalid"),
    # date-times
    ("naive envelope datetime", "case.closed", envelope(occurred_at="2026-11-24T00:00:00"), "invalid"),
    ("naive payload datetime", "parcel.exception_reported", payload(scanned_at="2026-11-24T08:00:00"), "invalid"),
    ("naive nested datetime", "case.opened", in_payload("parcel", scanned_at="2026-11-24T08:00:00"), "invalid"),
    ("date without a time", "customer.contacted", payload(received_at="2026-11-24"), "invalid"),
    ("seconds for a datetime", "case.closed", payload(closed_at="1764000000"), "invalid"),
    ("number for a datetime", "case.closed", payload(closed_at=1764000000), "invalid"),
    # the contact reference rule
    (
        "contact without waybill or order",
        "customer.contacted",
        payload_without("waybill_no", "platform_order_id"),
        "invalid",
    ),
    (
        "contact with null waybill and order",
        "customer.contacted",
        payload(waybill_no=None, platform_order_id=None),
        "invalid",
    ),
    # type and version
    ("unknown type", "case.closed", envelope(type="parcel.teleported"), "unknown_type"),
    ("unknown major version", "case.closed", envelope(schema_version="2.0"), "unknown_schema_version"),
    ("malformed version", "case.closed", envelope(schema_version="v1"), "unknown_schema_version"),
    # strings
    ("oversized text", "parcel.exception_reported", payload(description="长" * 5000), "invalid"),
    ("oversized name", "customer.contacted", in_payload("customer", name="x" * 201), "invalid"),
    ("bad waybill", "parcel.exception_reported", payload(waybill_no="BE 123"), "invalid"),
    ("bad case id", "case.closed", payload(case_id="cf-lowercase"), "invalid"),
    ("bad phone", "customer.contacted", in_payload("customer", phone="call me"), "invalid"),
    ("empty identifier", "case.closed", envelope(producer=""), "invalid"),
]

#: What parse_event refuses and no JSON Schema can say, stated here so that a change is noticed.
BEYOND_THE_SCHEMA: list[tuple[str, str, Mutation]] = [
    # JSON Schema has no bounds on a date-time's instant.
    ("a date whose UTC instant is past year 9999", "case.closed", payload(closed_at="9999-12-31T23:59:59-01:00")),
    ("a date before year 1 in UTC", "case.closed", payload(closed_at="0001-01-01T00:00:00+01:00")),
    # A pattern checks the shape, not the calendar.
    ("February 30th", "case.closed", payload(closed_at="2026-02-30T00:00:00Z")),
]


def refused_by_schema(document: Any) -> bool:
    return any(not validator.is_valid(document) for validator in VALIDATORS.values()) and not any(
        validator.is_valid(document) for validator in VALIDATORS.values()
    )


@pytest.mark.parametrize("event_type", sorted(PAYLOADS))
def test_the_schema_accepts_every_valid_example(event_type: str) -> None:
    document = example(event_type)
    errors = [e.message for e in VALIDATORS[event_type].iter_errors(document)]
    assert not errors


@pytest.mark.parametrize(
    ("event_type", "mutate", "code"), [c[1:] for c in DEAD_LETTERED], ids=[c[0] for c in DEAD_LETTERED]
)
def test_what_parse_event_dead_letters_the_schema_refuses(event_type: str, mutate: Mutation, code: str) -> None:
    document = example(event_type)
    mutate(document)
    with pytest.raises(ContractError) as caught:
        parse_event(encode(document))
    assert caught.value.code == code
    assert refused_by_schema(document), "no event schema should accept it"


@pytest.mark.parametrize(
    ("event_type", "mutate"), [c[1:] for c in BEYOND_THE_SCHEMA], ids=[c[0] for c in BEYOND_THE_SCHEMA]
)
def test_what_only_the_parser_can_refuse(event_type: str, mutate: Mutation) -> None:
    document = example(event_type)
    mutate(document)
    with pytest.raises(ContractError):
        parse_event(encode(document))
    assert VALIDATORS[event_type].is_valid(document)


def test_a_suggestion_needs_no_reference_in_the_schema_either() -> None:
    document = example("customer.contacted")
    document["payload"].update(category="suggestion", waybill_no=None, platform_order_id=None)
    assert parse_event(encode(document)).type == "customer.contacted"
    assert VALIDATORS["customer.contacted"].is_valid(document)


@pytest.mark.parametrize("amount", [1200, 1200.0])
def test_an_integer_is_a_number_without_a_fraction_on_both_sides(amount: float) -> None:
    document = example("payout.issued")
    document["payload"]["amount"]["amount_minor"] = amount
    assert parse_event(encode(document)).payload.amount.amount_minor == 1200  # type: ignore[attr-defined]
    assert VALIDATORS["payout.issued"].is_valid(document)


def _not_an_instant(value: object) -> bool:
    """A string of the date-time pattern that names no instant (February 30th, past year 9999 in UTC)."""
    if not isinstance(value, str) or not re.match(DATE_TIME_PATTERN, value):
        return False
    try:
        TypeAdapter(UtcDateTime).validate_python(value)
    except ValidationError:
        return True
    return False


def _not_json(value: object) -> bool:
    """NaN and infinities have no JSON form; a lone surrogate is no Unicode text."""
    if isinstance(value, float):
        return not math.isfinite(value)
    return isinstance(value, str) and any(0xD800 <= ord(c) <= 0xDFFF for c in value)


@settings(max_examples=1500)
@given(mutated_documents())
def test_what_a_schema_accepts_parse_event_accepts(document: Any) -> None:
    """The other direction, by search: an event valid under its schema is not dead-lettered, except for
    the limits no schema can state (BEYOND_THE_SCHEMA) and values that are not JSON at all."""
    if not isinstance(document, dict) or not isinstance(document.get("type"), str):
        return
    validator = VALIDATORS.get(document["type"])
    if validator is None or not validator.is_valid(document):
        return
    try:
        parse_event(json.dumps(document).encode())
    except ContractError as exc:
        refused = exc
    else:
        event("schema-valid, parsed")
        return
    event(f"schema-valid, refused as {refused.code}")
    values = [at(document, path) for path in paths(document)]
    assert (
        (refused.code == "invalid" and any(_not_an_instant(v) for v in values))
        or (refused.code == "malformed_json" and any(_not_json(v) for v in values))
        or refused.code == "oversized"
    ), refused
