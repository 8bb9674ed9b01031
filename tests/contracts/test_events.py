"""Strict validation of events: what is accepted, and what is rejected with which reason."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from caseflow_contracts import EVENT_MODELS, ContractError, deterministic_id, parse_event
from caseflow_contracts.upstream import ParcelExceptionReported


def parcel_exception(**payload: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "source_system": "oms",
        "source_event_id": "ex-1",
        "waybill_no": "BE1234567890",
        "exception_kind": "damage",
        "scanned_at": "2026-11-24T08:00:00+08:00",
        "declared_value": {"amount_minor": 30000, "currency": "CNY"},
        "insured": True,
        "customer": {"name": "张三", "phone": "13812345678"},
    }
    body.update(payload)
    return {
        "event_id": "ev-1",
        "type": "parcel.exception_reported",
        "schema_version": "1.0",
        "occurred_at": "2026-11-24T00:00:00Z",
        "producer": "oms",
        "key": "BE1234567890",
        "correlation_id": "corr-1",
        "payload": body,
    }


def raw(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode()


def reason(data: dict[str, Any] | bytes, *, announced: str | None = None) -> str:
    with pytest.raises(ContractError) as caught:
        parse_event(data if isinstance(data, bytes) else raw(data), announced=announced)
    return caught.value.code


def test_a_valid_event_round_trips_and_normalises_time_to_utc() -> None:
    event = parse_event(raw(parcel_exception()))
    assert isinstance(event, ParcelExceptionReported)
    assert event.payload.scanned_at == datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
    assert event.payload.scanned_at.utcoffset() == timedelta(0)
    assert parse_event(event.to_bytes()) == event


def test_a_later_minor_version_with_unknown_fields_is_read() -> None:
    data = parcel_exception(added_in_1_1="tolerated")
    data["schema_version"] = "1.7"
    assert parse_event(raw(data)).schema_version == "1.7"


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda d: d.update(type="parcel.teleported"), "unknown_type"),
        (lambda d: d.update(schema_version="2.0"), "unknown_schema_version"),
        (lambda d: d.pop("type"), "missing_field"),
        (lambda d: d.pop("event_id"), "invalid"),
        (lambda d: d["payload"].pop("waybill_no"), "invalid"),
        (lambda d: d["payload"].update(scanned_at="2026-11-24T08:00:00"), "invalid"),
        (lambda d: d.update(occurred_at="2026-11-24T00:00:00"), "invalid"),
        (lambda d: d.update(occurred_at="1764000000"), "invalid"),
        (lambda d: d.update(type=["parcel.exception_reported"]), "invalid"),
        (lambda d: d["payload"].update(declared_value={"amount_minor": -1, "currency": "CNY"}), "invalid"),
        (lambda d: d["payload"].update(declared_value={"amount_minor": 12.5, "currency": "CNY"}), "invalid"),
        (lambda d: d["payload"].update(declared_value={"amount_minor": True, "currency": "CNY"}), "invalid"),
        (lambda d: d["payload"].update(declared_value={"amount_minor": "1250", "currency": "CNY"}), "invalid"),
        (lambda d: d["payload"].update(declared_value={"amount_minor": 1250, "currency": "yuan"}), "invalid"),
        (lambda d: d["payload"].update(exception_kind="stolen_by_aliens"), "invalid"),
        (lambda d: d["payload"].update(description="长" * 5000), "invalid"),
        (lambda d: d["payload"]["customer"].update(name="x" * 201), "invalid"),
        (lambda d: d["payload"].update(insured="yes"), "invalid"),
    ],
    ids=[
        "unknown type",
        "unknown major version",
        "no type",
        "no event id",
        "no waybill",
        "naive payload datetime",
        "naive envelope datetime",
        "seconds for a datetime",
        "type not a string",
        "negative money",
        "fractional money",
        "boolean money",
        "money as string",
        "bad currency",
        "unknown enum value",
        "oversized text",
        "oversized name",
        "string for bool",
    ],
)
def test_invalid_events_are_rejected_with_a_reason(mutate: Any, code: str) -> None:
    data = parcel_exception()
    mutate(data)
    assert reason(data) == code


def test_malformed_and_oversized_bytes_are_rejected() -> None:
    assert reason(b"{not json") == "malformed_json"
    assert reason(b"\xff\xfe") == "malformed_json"
    assert reason(b"[1, 2]") == "malformed_json"
    assert reason(b" " * (300 * 1024)) == "oversized"


def test_errors_name_the_field_but_never_echo_personal_data() -> None:
    data = parcel_exception()
    data["payload"]["customer"]["phone"] = "call me 13812345678 now"
    with pytest.raises(ContractError) as caught:
        parse_event(raw(data))
    assert "payload.customer.phone" in caught.value.message
    assert "13812345678" not in str(caught.value)


def test_a_topic_can_refuse_types_that_do_not_belong_on_it() -> None:
    with pytest.raises(ContractError) as caught:
        parse_event(raw(parcel_exception()), accept=frozenset({"case.opened"}))
    assert caught.value.code == "unexpected_type"


@pytest.mark.parametrize("announced", ["parcel.exception_reported", "case.opened", "parcel.teleported", ""])
def test_the_type_a_record_announces_changes_nothing_but_the_speed(announced: str) -> None:
    valid = raw(parcel_exception())
    assert parse_event(valid, announced=announced) == parse_event(valid)
    wrong_major, unknown_type, invalid = parcel_exception(), parcel_exception(), parcel_exception()
    wrong_major["schema_version"] = "2.0"
    unknown_type["type"] = "parcel.teleported"
    invalid["payload"].pop("waybill_no")
    for data in (wrong_major, unknown_type, invalid, b"{not json", b" " * (300 * 1024)):
        assert reason(data, announced=announced) == reason(data)
    with pytest.raises(ContractError) as caught:
        parse_event(valid, accept=frozenset({"case.opened"}), announced=announced)
    assert caught.value.code == "unexpected_type"


def test_create_links_cause_and_correlation() -> None:
    cause = parse_event(raw(parcel_exception()))
    effect = ParcelExceptionReported.create(cause.payload, key="BE1234567890", producer="intake", cause=cause)
    assert effect.correlation_id == "corr-1"
    assert effect.causation_id == "ev-1"
    assert effect.schema_version == "1.1"
    assert effect.occurred_at.tzinfo is not None


def test_every_event_type_is_unique_and_fixed() -> None:
    types = [model.event_type() for model in EVENT_MODELS]
    assert len(types) == len(set(types))


def test_models_are_frozen() -> None:
    event = parse_event(raw(parcel_exception()))
    with pytest.raises(ValueError, match="frozen"):
        event.payload.waybill_no = "OTHER000001"  # type: ignore[misc]


def test_offsets_other_than_utc_are_accepted_and_converted() -> None:
    data = parcel_exception()
    data["occurred_at"] = datetime(2026, 11, 24, 8, tzinfo=timezone(timedelta(hours=8))).isoformat()
    assert parse_event(raw(data)).occurred_at == datetime(2026, 11, 24, 0, tzinfo=UTC)


@pytest.mark.parametrize("amount", ["1250.0", "1.25e3", "125000e-2"])
def test_a_json_number_without_a_fraction_is_an_integer(amount: str) -> None:
    """JSON has one number type and JSON Schema's "integer" is any number without a fraction: so is ours."""
    data = raw(parcel_exception(declared_value={"amount_minor": 7, "currency": "CNY"}))
    event = parse_event(data.replace(b'"amount_minor": 7', b'"amount_minor": ' + amount.encode()))
    assert isinstance(event, ParcelExceptionReported)
    assert event.payload.declared_value is not None
    assert event.payload.declared_value.amount_minor == 1250
    assert type(event.payload.declared_value.amount_minor) is int
    assert b'"amount_minor":1250,' in event.to_bytes()


@pytest.mark.parametrize(
    "parts",
    [(), ("",), ("sla.breached", "CF-20261204PK3QELMF26", "callback", 1764877357.350673), ("中文", 12, None, "a/b")],
)
def test_a_deterministic_id_is_the_uuid5_of_its_parts(parts: tuple[object, ...]) -> None:
    # Ids already on the topics and in the stores were made by uuid5: the same parts must give the same id.
    name = "caseflow:" + "/".join(str(p) for p in parts)
    assert deterministic_id(*parts) == uuid.uuid5(uuid.NAMESPACE_URL, name).hex
