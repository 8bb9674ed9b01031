"""Channel adapters: e-mail over SMTP, signed webhooks, SMS through an HTTP gateway.

Each adapter sends one message and raises `DeliveryError` (permanent or not);
timeouts, retries, rate limits and circuit breakers are the worker's business.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import smtplib
import ssl
import time
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, Protocol

import aiohttp

from .templates import Rendered

SIGNATURE_HEADER = "X-Caseflow-Signature"
TIMESTAMP_HEADER = "X-Caseflow-Timestamp"
DELIVERY_HEADER = "X-Caseflow-Delivery"


class DeliveryError(Exception):
    """A send that did not go through; `permanent` ones are not retried."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@dataclass(frozen=True)
class Message:
    """One message to one recipient; `address` is plain only in memory, at send time."""

    notification_id: str
    case_id: str
    trigger_type: str
    address: str
    rendered: Rendered
    data: Mapping[str, Any] = field(default_factory=dict)
    target: str = ""  # merchant or platform id, for webhooks


class Sender(Protocol):
    #: How many sends may run at once (the connection pool); the worker queues the rest before the clock starts.
    concurrency: int

    async def send(self, message: Message) -> None: ...

    async def close(self) -> None: ...


def _http_error(status: int) -> DeliveryError:
    transient = status >= 500 or status in (408, 425, 429)
    return DeliveryError(f"HTTP {status}", permanent=not transient)


# -- webhooks ---------------------------------------------------------------------------------------


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """`v1=` + HMAC-SHA256 over "<timestamp>.<body>"."""
    return "v1=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(
    secret: bytes,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    tolerance_s: float = 300,
    seen: MutableMapping[str, float] | None = None,
) -> str | None:
    """What a receiver does: None when the request is authentic and new, else why it is refused.

    Replay-safe: the signature covers the timestamp, old timestamps are refused,
    and a delivery id already seen within the tolerance window is refused.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    timestamp = lowered.get(TIMESTAMP_HEADER.lower(), "")
    signature = lowered.get(SIGNATURE_HEADER.lower(), "")
    delivery = lowered.get(DELIVERY_HEADER.lower(), "")
    if not timestamp.isdigit() or not signature or not delivery:
        return "missing signature headers"
    if abs(now - int(timestamp)) > tolerance_s:
        return "stale timestamp"
    if not hmac.compare_digest(sign(secret, timestamp, body), signature):
        return "bad signature"
    if seen is not None:
        for key, at in list(seen.items()):
            if at < now - tolerance_s:
                del seen[key]
        if delivery in seen:
            return "replayed delivery"
        seen[delivery] = now
    return None


class WebhookSender:
    """POSTs a signed JSON document; the receiver de-duplicates on the delivery id."""

    def __init__(self, secrets: Mapping[str, bytes], default_secret: bytes, timeout_s: float, pool: int = 64) -> None:
        self._secrets = secrets
        self._default = default_secret
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._pool = pool
        self.concurrency = pool
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._pool, limit_per_host=self._pool)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session

    def body(self, message: Message) -> bytes:
        doc = {
            "notification_id": message.notification_id,
            "case_id": message.case_id,
            "event": message.trigger_type,
            "template": message.rendered.template,
            "locale": message.rendered.locale,
            "subject": message.rendered.subject,
            "message": message.rendered.sms,
            "data": dict(message.data),
        }
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()

    async def send(self, message: Message) -> None:
        body = self.body(message)
        timestamp = str(int(time.time()))
        secret = self._secrets.get(message.target, self._default)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            DELIVERY_HEADER: message.notification_id,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(secret, timestamp, body),
        }
        try:
            async with self._client().post(message.address, data=body, headers=headers) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"webhook unreachable: {type(exc).__name__}") from None
        if status >= 300 and status != 409:  # 409: the receiver already has this delivery id
            raise _http_error(status)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


# -- SMS --------------------------------------------------------------------------------------------


class SmsGatewaySender:
    """An HTTP SMS gateway: POST {to, text, client_ref}; the gateway de-duplicates on client_ref."""

    def __init__(self, url: str, token: str, timeout_s: float, pool: int = 32) -> None:
        self._url = url
        self._token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._pool = pool
        self.concurrency = pool
        self._session: aiohttp.ClientSession | None = None

    async def send(self, message: Message) -> None:
        doc = {"to": message.address, "text": message.rendered.sms, "client_ref": message.notification_id}
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._pool)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        try:
            headers = {"Authorization": f"Bearer {self._token}"}
            async with self._session.post(self._url, json=doc, headers=headers) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"sms gateway unreachable: {type(exc).__name__}") from None
        if status >= 300:
            raise _http_error(status)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


# -- e-mail -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    sender: str
    timeout_s: float
    username: str | None = None
    password: str | None = None
    starttls: bool = False


class SmtpSender:
    """Plain-text UTF-8 e-mail; Message-ID is the notification id, so mail clients can de-duplicate."""

    def __init__(self, config: SmtpConfig, concurrency: int = 8) -> None:
        self._config = config
        self.concurrency = concurrency  # one SMTP connection (and thread) per send

    def build(self, message: Message) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self._config.sender
        mail["To"] = message.address
        mail["Subject"] = message.rendered.subject
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = f"<{message.notification_id}@caseflow>"
        mail["X-Caseflow-Case"] = message.case_id
        mail.set_content(message.rendered.email)
        mail["Content-Language"] = message.rendered.locale  # after set_content, which resets Content-* headers
        return mail

    def _send_blocking(self, mail: EmailMessage) -> None:
        cfg = self._config
        with smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_s) as smtp:
            if cfg.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if cfg.username and cfg.password:
                smtp.login(cfg.username, cfg.password)
            smtp.send_message(mail)

    async def send(self, message: Message) -> None:
        mail = self.build(message)
        try:
            await asyncio.to_thread(self._send_blocking, mail)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise DeliveryError(f"SMTP recipient refused {codes}", permanent=all(c >= 500 for c in codes)) from None
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(f"SMTP {exc.smtp_code}", permanent=exc.smtp_code >= 500) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP unreachable: {type(exc).__name__}") from None

    async def close(self) -> None:
        return None
