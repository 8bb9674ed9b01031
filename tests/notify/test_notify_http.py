"""The HTTP channels (webhooks, the SMS gateway) against a real local HTTP server that sets cookies."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from caseflow_dev.broker import free_port
from caseflow_notify.channels import Message, SmsGatewaySender, WebhookSender
from caseflow_notify.templates import Rendered

RENDERED = Rendered("case_acknowledged", "en", "Your case", "We are on it.", "We are on it.\n")


@pytest.fixture
async def cookie_setter() -> AsyncIterator[tuple[str, list[str | None]]]:
    """Answers every POST with a session cookie and notes the Cookie header each request carried."""
    carried: list[str | None] = []

    async def answer(request: web.Request) -> web.Response:
        carried.append(request.headers.get("Cookie"))
        response = web.Response(text="ok")
        response.set_cookie("session", "merchant-session-id", path="/")
        return response

    app = web.Application()
    app.router.add_post("/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://localhost:{port}", carried  # a host name: cookies from an IP address are never kept
    finally:
        await runner.cleanup()


async def test_a_receivers_cookies_are_never_sent_back(cookie_setter: tuple[str, list[str | None]]) -> None:
    url, carried = cookie_setter
    webhooks = WebhookSender({"shop-a": [b"s" * 32]}, timeout_s=5)
    sms = SmsGatewaySender(f"{url}/sms", token="t" * 32, timeout_s=5)
    try:
        for i in range(2):
            await webhooks.send(Message(f"w-{i}", "CF-1", "case.opened", f"{url}/hooks", RENDERED, target="shop-a"))
            await sms.send(Message(f"s-{i}", "CF-1", "case.opened", "+8613800000000", RENDERED))
    finally:
        await webhooks.close()
        await sms.close()

    assert carried == [None, None, None, None]
