"""The e-mail channel (aiosmtplib) against a real local SMTP server (aiosmtpd, caseflow_dev.sinks): persistent
sessions, faults, and TLS (STARTTLS and implicit) with credentials that never cross in the clear."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from caseflow_dev.sinks import SmtpSink, TlsFiles
from caseflow_dev.testing import until
from caseflow_notify.channels import DeliveryError, Message, SmtpConfig, SmtpSender
from caseflow_notify.templates import Rendered

GOOD = "li.lei@example.org"
NOBODY = "nobody@example.org"


def mail_to(address: str = GOOD) -> Message:
    rendered = Rendered("case_opened", "en", "Your case", "sms text", "Hello,\nwe are on it.\n")
    return Message("n-" + uuid.uuid4().hex, "CF-" + uuid.uuid4().hex[:16].upper(), "case.opened", address, rendered)


def ids(receiver: SmtpSink) -> list[str]:
    return [str(m["Message-ID"]) for m in receiver.messages]


def config(port: int, **extra: object) -> SmtpConfig:
    return SmtpConfig(host="127.0.0.1", port=port, sender="caseflow@example.org", timeout_s=5, **extra)  # type: ignore[arg-type]


@pytest.fixture
def smtp(request: pytest.FixtureRequest) -> Iterator[SmtpSink]:
    with SmtpSink(refuse={NOBODY}, idle_timeout_s=getattr(request, "param", 300)) as receiver:
        yield receiver


@pytest.fixture
async def sender(smtp: SmtpSink) -> AsyncIterator[SmtpSender]:
    the_sender = SmtpSender(config(smtp.port), concurrency=3)
    try:
        yield the_sender
    finally:
        await the_sender.close()


async def test_consecutive_mails_share_one_connection(smtp: SmtpSink, sender: SmtpSender) -> None:
    messages = [mail_to() for _ in range(5)]
    for message in messages:
        await sender.send(message)

    assert ids(smtp) == [f"<{m.notification_id}@caseflow>" for m in messages]
    assert smtp.connections == 1


async def test_concurrent_mails_open_no_more_connections_than_sends_at_once(smtp: SmtpSink, sender: SmtpSender) -> None:
    gate = asyncio.Semaphore(sender.concurrency)  # the worker bounds sends per channel to the sender's concurrency

    async def send() -> None:
        async with gate:
            await sender.send(mail_to())

    await asyncio.gather(*(send() for _ in range(30)))

    assert len(smtp.messages) == 30
    assert 1 <= smtp.connections <= sender.concurrency


@pytest.mark.parametrize("smtp", [0.3], indirect=True)  # the server hangs up after 0.3 s of silence
async def test_a_connection_the_server_dropped_while_idle_is_replaced_and_the_mail_sent_once(
    smtp: SmtpSink, sender: SmtpSender
) -> None:
    await sender.send(mail_to())
    await until(lambda: smtp.disconnections == 1, what="the server hanging up the idle connection")
    second = mail_to()
    await sender.send(second)

    assert ids(smtp)[1:] == [f"<{second.notification_id}@caseflow>"]
    assert smtp.connections == 2


async def test_a_421_at_mail_on_a_reused_connection_is_retried_on_a_fresh_one(
    smtp: SmtpSink, sender: SmtpSender
) -> None:
    await sender.send(mail_to())
    smtp.hang_up_at_mail = True  # what a server says when it closes an idle connection
    await sender.send(mail_to())

    assert len(smtp.messages) == 2
    assert smtp.connections == 2


async def test_a_server_that_stops_answering_is_not_asked_twice(smtp: SmtpSink) -> None:
    sender = SmtpSender(SmtpConfig(host="127.0.0.1", port=smtp.port, sender="caseflow@example.org", timeout_s=0.5))
    await sender.send(mail_to())
    smtp.stall_at_mail_s = 1.5  # longer than the client's read timeout
    with pytest.raises(DeliveryError) as raised:
        await sender.send(mail_to())
    await sender.close()
    assert raised.value.reason == "SMTP unreachable: SMTPReadTimeoutError"
    assert not raised.value.uncertain  # before DATA: nothing can have been delivered

    assert smtp.connections == 1  # a retry would only have doubled the wait


async def test_a_hang_up_after_data_is_reported_as_uncertain_not_resent(smtp: SmtpSink, sender: SmtpSender) -> None:
    await sender.send(mail_to())
    smtp.hang_up_after_data = True  # the server has the message; we cannot know it
    with pytest.raises(DeliveryError) as raised:
        await sender.send(mail_to())
    assert raised.value.reason == "SMTP unreachable: SMTPServerDisconnected"
    assert (raised.value.permanent, raised.value.uncertain) == (False, True)  # on_uncertain decides: e-mail gives up

    assert len(smtp.messages) == 2  # not 3
    await sender.send(mail_to())  # and the next one goes over a new connection
    assert (len(smtp.messages), smtp.connections) == (3, 2)


async def test_a_refused_recipient_leaves_the_connection_usable(smtp: SmtpSink, sender: SmtpSender) -> None:
    with pytest.raises(DeliveryError) as raised:
        await sender.send(mail_to(NOBODY))
    assert (raised.value.reason, raised.value.permanent) == ("SMTP recipient refused [550]", True)

    smtp.fail_next = 1  # a refused message (451 after DATA) too
    with pytest.raises(DeliveryError) as raised:
        await sender.send(mail_to())
    assert (raised.value.reason, raised.value.permanent, raised.value.uncertain) == ("SMTP 451", False, False)

    await sender.send(mail_to())
    assert [m["To"] for m in smtp.messages] == [GOOD]
    assert smtp.connections == 1


async def test_idle_sessions_past_max_idle_are_closed_not_reused(smtp: SmtpSink) -> None:
    now = [1000.0]
    sender = SmtpSender(config(smtp.port), max_idle_s=30, monotonic=lambda: now[0])
    try:
        await sender.send(mail_to())
        now[0] += 29
        await sender.send(mail_to())  # idle 29 s: reused
        now[0] += 31
        await sender.send(mail_to())  # idle 31 s: closed, a new session
    finally:
        await sender.close()

    assert len(smtp.messages) == 3
    assert (smtp.connections, smtp.quits) == (2, 2)


async def test_close_quits_every_session(smtp: SmtpSink, sender: SmtpSender) -> None:
    await asyncio.gather(*(sender.send(mail_to()) for _ in range(3)))
    assert smtp.quits == 0

    await sender.close()

    assert smtp.quits == smtp.connections >= 1


async def test_an_unreachable_server_is_a_transient_failure() -> None:
    sender = SmtpSender(SmtpConfig(host="127.0.0.1", port=1, sender="caseflow@example.org", timeout_s=2))
    with pytest.raises(DeliveryError) as raised:
        await sender.send(mail_to())
    await sender.close()

    assert raised.value.reason == "SMTP unreachable: SMTPConnectError"
    assert not raised.value.permanent
    assert not raised.value.uncertain


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "implicit-tls"])
async def test_credentials_go_only_over_a_verified_tls_session(tmp_path: Path, implicit: bool) -> None:
    tls = TlsFiles.make(tmp_path)
    user, password = f"relay-{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    with SmtpSink(tls=tls, implicit_tls=implicit, login=(user, password)) as relay:
        mode = {"implicit_tls": True} if implicit else {"starttls": True}
        sender = SmtpSender(config(relay.port, username=user, password=password, ca_file=tls.ca, **mode))
        try:
            await sender.send(mail_to())
            await sender.send(mail_to())
        finally:
            await sender.close()
        assert len(relay.messages) == 2
        assert (relay.logins, relay.connections) == ([user], 1)  # one TLS session, one login

        untrusted = SmtpSender(config(relay.port, username=user, password=password, **mode))
        with pytest.raises(DeliveryError, match="SMTP unreachable"):
            await untrusted.send(mail_to())  # a certificate we cannot verify: no login, nothing sent
        await untrusted.close()
        assert (relay.logins, len(relay.messages)) == ([user], 2)


def test_smtp_refuses_credentials_without_tls_unless_a_local_relay_is_allowed() -> None:
    with pytest.raises(ValueError, match="need TLS"):
        config(25, username="u", password="p").check()
    with pytest.raises(ValueError, match="not both"):
        config(465, starttls=True, implicit_tls=True).check()
    config(587, username="u", password="p", starttls=True).check()
    config(465, username="u", password="p", implicit_tls=True).check()
    config(25, username="u", password="p", allow_plaintext_auth=True).check()
    config(25).check()  # no credentials, nothing to protect
