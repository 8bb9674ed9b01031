"""Facets: a consumer passes over the events of a type it handles whose facet values are not its business,
unparsed where the record's headers say so (sla and notify.deliveries: only the e-mails count)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from caseflow_contracts.notify import NotificationPayload, NotificationSent, NotifyChannel
from caseflow_contracts.topics import NOTIFY_DELIVERIES
from caseflow_dev.rig import EPOCH, ServiceUnderTest, service_under_test
from caseflow_kit import Context, KitSettings, Runtime, ServiceSpec, Subscription
from caseflow_kit.store import Collection
from caseflow_kit.uow import event_headers

pytestmark = pytest.mark.unit

HANDLED: list[str] = []


async def remember(event: NotificationSent, ctx: Context[None]) -> None:
    HANDLED.append(event.payload.channel.value)
    ctx.uow.put("seen", {"_id": event.event_id})


async def no_deps(runtime: Runtime[KitSettings, None]) -> None:
    return None


EMAILS_ONLY = Subscription(
    NOTIFY_DELIVERIES, {"notification.sent": remember}, only={"notification.sent": {"channel": frozenset({"email"})}}
)
SPEC: ServiceSpec[KitSettings, None] = ServiceSpec(
    name="facets",
    http_port=0,
    settings_type=KitSettings,
    collections=[Collection("seen")],
    subscriptions=[EMAILS_ONLY],
    build_deps=no_deps,
)
Rig = ServiceUnderTest[KitSettings, None]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    HANDLED.clear()
    async with service_under_test(SPEC, KitSettings(data_dir=tmp_path, retry_backoff_ms=0)) as under_test:
        yield under_test


def sent(channel: NotifyChannel) -> NotificationSent:
    payload = NotificationPayload(
        notification_id=f"n-{channel.value}",
        case_id="CF-000001",
        channel=channel,
        template="case_opened",
        locale="zh-CN",
        recipient="138****5678",
        trigger_event_id="e1",
        trigger_type="case.opened",
        attempts=1,
        at=EPOCH,
    )
    return NotificationSent.create(payload, key="CF-000001", producer="notify")


def test_an_events_facets_travel_as_headers() -> None:
    headers = event_headers(sent(NotifyChannel.SMS))
    assert headers["x-facet-channel"] == "sms"
    assert EMAILS_ONLY.handler_for(sent(NotifyChannel.EMAIL)) is remember
    assert EMAILS_ONLY.handler_for(sent(NotifyChannel.WEBHOOK)) is None


def test_a_subscription_names_only_facets_its_events_have() -> None:
    with pytest.raises(ValueError, match="no facet recipient"):
        Subscription(
            NOTIFY_DELIVERIES,
            {"notification.sent": remember},
            only={"notification.sent": {"recipient": frozenset({"x"})}},
        )
    with pytest.raises(ValueError, match="which has no handler here"):
        Subscription(
            NOTIFY_DELIVERIES,
            {"notification.sent": remember},
            only={"notification.failed": {"channel": frozenset({"x"})}},
        )


async def test_the_facets_a_service_does_not_handle_are_passed_over(rig: Rig) -> None:
    outcomes = await rig.deliver(*(sent(channel) for channel in NotifyChannel))
    assert sorted(outcomes) == ["handled", "ignored", "ignored"]
    assert HANDLED == ["email"]


async def test_the_header_spares_parsing_and_without_it_the_parsed_event_decides(rig: Rig) -> None:
    label = [("x-event-type", b"notification.sent")]
    # Bytes this service would dead-letter are never read when the header shows they are not its business.
    assert (
        await rig.deliver_raw(NOTIFY_DELIVERIES, b"garbage", headers=[*label, ("x-facet-channel", b"sms")]) == "ignored"
    )
    assert await rig.deliver_raw(NOTIFY_DELIVERIES, b"garbage", headers=[*label, ("x-facet-channel", b"email")]) == (
        "dead_lettered"
    )
    # A record from before facets travelled as headers: parsed, then passed over or handled by its payload.
    for channel, outcome in ((NotifyChannel.SMS, "ignored"), (NotifyChannel.EMAIL, "handled")):
        record = rig.record(sent(channel))
        record.headers = label
        assert await rig.deliver_records(NOTIFY_DELIVERIES, [record]) == [outcome]
    assert HANDLED == ["email"]
