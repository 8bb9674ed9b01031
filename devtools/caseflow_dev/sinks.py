"""Local stand-ins for the third parties notify talks to: a real SMTP server and a real HTTP receiver."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from email import message_from_bytes
from email.message import Message
from typing import Any

import uvicorn
from aiosmtpd.controller import Controller

from .broker import free_port


class SmtpSink:
    """A real SMTP server on loopback that keeps what it receives."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[Message] = []
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    def start(self) -> SmtpSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()


class HttpSink:
    """A real HTTP server on loopback answering 200 to every POST and counting them by path.

    `fail_next` makes it answer 503 to the next N requests: a receiver that fails, then recovers.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.by_path: Counter[str] = Counter()
        self.fail_next = 0
        self._server = uvicorn.Server(
            uvicorn.Config(
                self._app, host="127.0.0.1", port=self.port, log_config=None, lifespan="off", interface="asgi3"
            )
        )
        self._task: asyncio.Task[None] | None = None

    async def _app(self, scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        status = 200
        if self.fail_next > 0:
            self.fail_next -= 1
            status = 503
        else:
            headers = {k.decode(): v.decode() for k, v in scope["headers"]}
            self.requests.append((scope["path"], headers, body))
            self.by_path[scope["path"]] += 1
        payload = json.dumps({"ok": status == 200, "id": f"m{len(self.requests)}"}).encode()
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]}
        )
        await send({"type": "http.response.body", "body": payload})

    async def start(self) -> HttpSink:
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:  # noqa: ASYNC110 - uvicorn offers no event to await
            await asyncio.sleep(0.01)
        return self

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task:
            await self._task
