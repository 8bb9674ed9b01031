"""A service's AsyncAPI document says what it really consumes and publishes; emitting anything undeclared fails."""

from __future__ import annotations

import pytest

from caseflow_contracts.cases import CaseAcknowledged, CaseClosed, CaseClosedPayload
from caseflow_contracts.stations import StationAcknowledged
from caseflow_contracts.topics import CASES_LIFECYCLE, STATIONS_UPDATES
from caseflow_dev.rig import EPOCH
from caseflow_kit import Context, KitSettings, Runtime, ServiceSpec, Subscription
from caseflow_kit.asyncapi import service_document


async def on_ack(event: StationAcknowledged, ctx: Context[None]) -> None:
    return None


async def no_deps(runtime: Runtime[KitSettings, None]) -> None:
    return None


SPEC: ServiceSpec[KitSettings, None] = ServiceSpec(
    name="docs",
    http_port=0,
    settings_type=KitSettings,
    collections=[],
    subscriptions=[Subscription(STATIONS_UPDATES, {"station.acknowledged": on_ack}), Subscription(CASES_LIFECYCLE, {})],
    build_deps=no_deps,
    emits=[CaseAcknowledged],
)


def test_the_document_lists_the_handled_and_the_declared_messages_only() -> None:
    document = service_document(SPEC)
    operations = document["operations"]
    assert set(operations) == {
        "docs-receives-stations-updates",
        "docs-receives-cases-lifecycle",
        "docs-sends-cases-lifecycle",
    }
    receive = operations["docs-receives-stations-updates"]["messages"]
    assert receive == [{"$ref": "#/channels/stations-updates/messages/station.acknowledged"}]
    assert operations["docs-sends-cases-lifecycle"]["messages"] == [
        {"$ref": "#/channels/cases-lifecycle/messages/case.acknowledged"}
    ]
    assert set(document["components"]["messages"]) == {"station.acknowledged", "case.acknowledged"}
    assert "stations-updates-dlq" in document["channels"]  # where its dead letters go
    assert document["channels"]["stations-updates"]["description"].startswith("What stations")


def test_emitting_an_event_the_service_does_not_declare_is_an_error(tmp_path: object) -> None:
    runtime = Runtime(SPEC, KitSettings())
    runtime.ownership.own_everything(1)
    uow = runtime.unit_of_work()
    closed = CaseClosed.create(
        CaseClosedPayload(case_id="CF-000001", closed_at=EPOCH, reason="done"), key="CF-000001", producer="docs"
    )
    with pytest.raises(RuntimeError, match=r"case\.closed is not among the events"):
        uow.emit(closed)
