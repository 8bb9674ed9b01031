"""The e-mail channel's persistent SMTP sessions, against a real local SMTP server (aiosmtpd)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from caseflow_notify.channels import DeliveryError, Message, SmtpConfig, SmtpSender
from caseflow_notify.templates import Rendered

from .support import SmtpReceiver, serve_smtp

GOOD = "li.lei@example.org"
NOBODY = "nobody@example.org"


def mail_to(address: str = GOOD) -> Message:
    rendered = Rendered("case_opened", "en", "Your case", "sms text", "Hello,\nwe are on it.\n")
    return Message("n-" + uuid.uuid4().hex, "CF-" + uuid.uuid4().hex[:16].upper(), "case.opened", address, rendered)


def ids(receiver: SmtpReceiver) -> list[str]:
    return [str(m["Message-ID"]) for m in receiver.messages]


@pytest.fixture
def smtp(request: pytest.FixtureRequest) -> Iterator[SmtpReceiver]:
    with serve_smtp(SmtpReceiver(refuse={NOBODY}), idle_timeout_s=getattr(request, "param", 300)) as receiver:
        yield receiver


@pytest.fixture
async def sender(smtp: SmtpReceiver) -> AsyncIterator[SmtpSender]:
    config = SmtpConfig(host="127.0.0.1", port=smtp.port, sender="caseflow@example.org", timeout_s=5)
    the_sender = SmtpSender(config, concurrency=3)
    try:
        yield the_sender
    finally:
        await the_sender.close()


async def test_consecutive_mails_share_one_connection(smtp: SmtpReceiver, sender: SmtpSender) -> None:
    messages = [mail_to() for _ in range(5)]
    for message in messages:
        await sender.send(message)

    assert ids(smtp) == [f"<{m.notification_id}@caseflow>" for m in messages]
    assert smtp.connections == 1


async def test_concurrent_mails_open_no_more_connections_than_the_concurrency(
    smtp: SmtpReceiver, sender: SmtpSender
) -> None:
    await asyncio.gather(*(sender.send(mail_to()) for _ in range(30)))

    assert len(smtp.messages) == 30
    assert 1 <= smtp.connections <= sender.concurrency


@pytest.mark.parametrize("smtp", [0.3], indirect=True)  # the server hangs up after 0.3 s of silence
async def test_a_connection_the_server_dropped_while_idle_is_replaced_and_the_mail_sent_once(
    smtp: SmtpReceiver, sender: SmtpSender
) -> None:
    await sender.send(mail_to())
    await asyncio.sleep(0.6)
    second = mail_to()
    await sender.send(second)

    assert ids(smtp)[1:] == [f"<{second.notification_id}@caseflow>"]
    assert smtp.connections == 2


async def test_a_421_at_mail_on_a_reused_connection_is_retried_on_a_fresh_one(
    smtp: SmtpReceiver, sender: SmtpSender
) -> None:
    await sender.send(mail_to())
    smtp.hang_up_at_mail = True  # what a server says when it closes an idle connection
    await sender.send(mail_to())

    assert len(smtp.messages) == 2
    assert smtp.connections == 2


async def test_a_server_that_stops_answering_is_not_asked_twice(smtp: SmtpReceiver) -> None:
    sender = SmtpSender(SmtpConfig(host="127.0.0.1", port=smtp.port, sender="caseflow@example.org", timeout_s=0.5))
    await sender.send(mail_to())
    smtp.stall_at_mail_s = 1.5  # longer than the client's socket timeout
    with pytest.raises(DeliveryError) as raised:
        await sender.send(mail_to())
    await sender.close()
    assert raised.value.reason == "SMTP unreachable: SMTPServerDisconnected"  # smtplib's word for a read timeout

    assert smtp.connections == 1  # a retry would only have doubled the wait


async def test_a_hang_up_after_data_is_reported_not_resent(smtp: SmtpReceiver, sender: SmtpSender) -> None:
    await sender.send(mail_to())
    smtp.hang_up_after_data = True  # the server has the message; we cannot know it
    with pytest.raises(DeliveryError) as raised:
        await sender.send(mail_to())
    assert raised.value.reason == "SMTP unreachable: SMTPServerDisconnected"
    assert not raised.value.permanent

    assert len(smtp.messages) == 2  # not 3
    await sender.send(mail_to())  # and the next one goes over a new connection
    assert (len(smtp.messages), smtp.connections) == (3, 2)


async def test_a_refused_recipient_leaves_the_connection_usable(smtp: SmtpReceiver, sender: SmtpSender) -> None:
    with pytest.raises(DeliveryError) as raised:
        await sender.send(mail_to(NOBODY))
    assert (raised.value.reason, raised.value.permanent) == ("SMTP recipient refused [550]", True)

    smtp.fail_next = 1  # a refused message (451 after DATA) too
    with pytest.raises(DeliveryError) as raised:
        await sender.send(mail_to())
    assert (raised.value.reason, raised.value.permanent) == ("SMTP 451", False)

    await sender.send(mail_to())
    assert [m["To"] for m in smtp.messages] == [GOOD]
    assert smtp.connections == 1


async def test_idle_sessions_past_max_idle_are_closed_not_reused(smtp: SmtpReceiver, sender: SmtpSender) -> None:
    sender.max_idle_s = 0.1
    await sender.send(mail_to())
    await asyncio.sleep(0.2)
    await sender.send(mail_to())

    assert len(smtp.messages) == 2
    assert (smtp.connections, smtp.quits) == (2, 1)


async def test_close_quits_every_session(smtp: SmtpReceiver, sender: SmtpSender) -> None:
    await asyncio.gather(*(sender.send(mail_to()) for _ in range(9)))
    assert smtp.quits == 0

    await sender.close()

    assert smtp.quits == smtp.connections >= 1


async def test_an_unreachable_server_is_a_transient_failure(smtp: SmtpReceiver) -> None:
    config = SmtpConfig(host="127.0.0.1", port=1, sender="caseflow@example.org", timeout_s=2)
    sender = SmtpSender(config)
    with pytest.raises(DeliveryError) as raised:
        await sender.send(mail_to())
    await sender.close()

    assert raised.value.reason == "SMTP unreachable: ConnectionRefusedError"
    assert not raised.value.permanent
