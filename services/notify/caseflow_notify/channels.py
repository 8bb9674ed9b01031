"""Channel adapters: e-mail over SMTP, signed webhooks, SMS through an HTTP gateway.

Each adapter sends one message and raises `DeliveryError` (permanent or not);
timeouts, retries, rate limits and circuit breakers are the worker's business.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import ssl
import time
from collections import deque
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from email.header import Header
from email.mime.text import MIMEText
from email.utils import formatdate, parseaddr
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import aiosmtplib

from caseflow_kit.clock import Clock, SystemClock

from .templates import Rendered

SIGNATURE_HEADER = "X-Caseflow-Signature"
TIMESTAMP_HEADER = "X-Caseflow-Timestamp"
DELIVERY_HEADER = "X-Caseflow-Delivery"


class DeliveryError(Exception):
    """A send that did not go through; `permanent` ones are not retried, `uncertain` ones may have arrived
    (the channel's on_uncertain decides)."""

    def __init__(self, reason: str, *, permanent: bool = False, uncertain: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.uncertain = uncertain


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


def http_session(pool: int, timeout: aiohttp.ClientTimeout) -> aiohttp.ClientSession:
    """A pool of keep-alive connections to the far side. No cookie jar: a receiver's cookies are not ours to
    keep or send back."""
    connector = aiohttp.TCPConnector(limit=pool, limit_per_host=pool)
    return aiohttp.ClientSession(connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar())


def _http_error(status: int) -> DeliveryError:
    transient = status >= 500 or status in (408, 425, 429)
    return DeliveryError(f"HTTP {status}", permanent=not transient)


# -- webhooks ---------------------------------------------------------------------------------------


MIN_SECRET_BYTES = 16


def check_webhook_secrets(targets: Mapping[str, str], secrets: Mapping[str, Sequence[bytes]]) -> None:
    """Refuse to start unless every webhook target has its own secret (one, or two while rotating).

    A target without a secret, an empty or short one, or one secret shared by two targets would let
    one merchant forge (or read as authentic) another's notifications.
    """
    problems = []
    owners: dict[bytes, str] = {}
    for target in sorted(targets):
        given = list(secrets.get(target, ()))
        if not 1 <= len(given) <= 2:
            problems.append(f"{target}: give one secret, or two while rotating (got {len(given)})")
        for secret in given:
            if len(secret) < MIN_SECRET_BYTES:
                problems.append(f"{target}: a secret is empty or shorter than {MIN_SECRET_BYTES} bytes")
            elif owners.setdefault(secret, target) != target:
                problems.append(f"{target}: shares a secret with {owners[secret]}")
    if problems:
        raise ValueError("webhook secrets (CASEFLOW_WEBHOOK_SECRETS): " + "; ".join(problems))


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """`v1=` + HMAC-SHA256 over "<timestamp>.<body>"."""
    return "v1=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def signatures(secrets: Sequence[bytes], timestamp: str, body: bytes) -> str:
    """One signature per valid secret, comma-separated: a receiver holding either one verifies."""
    return ",".join(sign(secret, timestamp, body) for secret in secrets)


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
    wanted = sign(secret, timestamp, body)
    if not any(hmac.compare_digest(wanted, given.strip()) for given in signature.split(",")):
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
    """POSTs a signed JSON document; the receiver de-duplicates on the delivery id.

    Each target has its own secret; while one is rotated both are valid and the request carries
    a signature by each, so the receiver can switch at its own pace.
    """

    def __init__(
        self, secrets: Mapping[str, Sequence[bytes]], timeout_s: float, pool: int = 64, clock: Clock | None = None
    ) -> None:
        self._secrets = secrets
        self._clock = clock or SystemClock()
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._pool = pool
        self.concurrency = pool
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = http_session(self._pool, self._timeout)
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
        timestamp = str(int(self._clock.time()))
        secrets = self._secrets.get(message.target)
        if not secrets:
            raise DeliveryError(f"no webhook secret for {message.target}", permanent=True)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            DELIVERY_HEADER: message.notification_id,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signatures(secrets, timestamp, body),
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
            self._session = http_session(self._pool, self._timeout)
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
    implicit_tls: bool = False
    allow_plaintext_auth: bool = False
    ca_file: Path | None = None  # a private CA the relay's certificate is signed by; else the system's

    def check(self) -> None:
        """Refuse to start with credentials that would cross the network in the clear."""
        if self.starttls and self.implicit_tls:
            raise ValueError("SMTP: choose STARTTLS or implicit TLS, not both")
        plaintext = not (self.starttls or self.implicit_tls)
        if (self.username or self.password) and plaintext and not self.allow_plaintext_auth:
            raise ValueError(
                "SMTP credentials need TLS: set CASEFLOW_SMTP_STARTTLS or CASEFLOW_SMTP_IMPLICIT_TLS "
                "(CASEFLOW_SMTP_ALLOW_PLAINTEXT_AUTH only for a relay on this host)"
            )

    def tls_context(self) -> ssl.SSLContext | None:
        if not (self.starttls or self.implicit_tls):
            return None
        return ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)


@dataclass
class _Session:
    """One persistent SMTP connection (aiosmtplib), used by one send at a time."""

    smtp: aiosmtplib.SMTP
    idle_since: float = 0.0  # the sender's monotonic clock when it last went back to the pool
    reused: bool = False  # taken from the pool: the server may have dropped it meanwhile
    data_begun: bool = False  # from DATA on the server may have the message: a failure is no longer safe to retry


def _dropped_while_idle(session: _Session, exc: aiosmtplib.SMTPException) -> bool:
    """Did a reused session fail because the server had closed it, before any of the message went out?"""
    if not session.reused or session.data_begun:
        return False  # a fresh connection failing is real news; after DATA began a retry could send twice
    if isinstance(exc, aiosmtplib.SMTPSenderRefused):
        return exc.code == 421  # "closing channel", what servers like Postfix say before an idle hang-up
    # A server that stopped answering did not drop us: a retry would only double the wait.
    return isinstance(exc, aiosmtplib.SMTPServerDisconnected)


class SmtpSender:
    """Plain-text UTF-8 e-mail over asyncio (aiosmtplib); Message-ID is the notification id.

    Sends go over up to `concurrency` persistent sessions (connect, TLS, LOGIN once each), on the event
    loop: no thread per session. A session that errs is closed, never reused; idle ones older than
    `max_idle_s` are closed rather than reused, since servers hang up on idle connections.
    """

    def __init__(
        self,
        config: SmtpConfig,
        concurrency: int = 8,
        max_idle_s: float = 30.0,
        clock: Clock | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self.concurrency = concurrency
        self.max_idle_s = max_idle_s
        self._clock = clock or SystemClock()
        self._monotonic = monotonic  # ages idle sessions; a wall-clock step must not
        self._tls = config.tls_context()
        self._idle: deque[_Session] = deque()  # oldest first
        self._closed = False

    def build(self, message: Message) -> bytes:
        """The message as sent: UTF-8 text, base64 body, RFC 2047 subject.

        Built with the compat32 MIME classes and flattened once: the modern EmailMessage parses
        every header through its registry, which cost more CPU than the rest of a delivery.
        """
        mail = MIMEText(message.rendered.email, "plain", "utf-8")
        mail["From"] = self._config.sender
        mail["To"] = message.address
        mail["Subject"] = Header(message.rendered.subject, "utf-8").encode()
        mail["Date"] = formatdate(self._clock.time(), localtime=False)
        mail["Message-ID"] = f"<{message.notification_id}@caseflow>"
        mail["X-Caseflow-Case"] = message.case_id
        mail["Content-Language"] = message.rendered.locale
        return mail.as_bytes()

    async def send(self, message: Message) -> None:
        raw = self.build(message)
        session: _Session | None = None
        try:
            session = await self._take()
            try:
                await self._send_on(session, message.address, raw)
            except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPSenderRefused) as exc:
                if not _dropped_while_idle(session, exc):
                    raise
                session = await self._open()
                await self._send_on(session, message.address, raw)  # once, on a fresh connection
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise _delivery_error(exc, session) from None

    async def close(self) -> None:
        """QUIT the idle sessions; those still sending are closed as they come back. Final."""
        self._closed = True
        idle, self._idle = list(self._idle), deque()
        for session in idle:
            await _quit(session)

    async def _send_on(self, session: _Session, to: str, raw: bytes) -> None:
        session.data_begun = False
        smtp = session.smtp
        try:
            await smtp.mail(parseaddr(self._config.sender)[1])
            await smtp.rcpt(to)
            session.data_begun = True
            await smtp.data(raw)
        except aiosmtplib.SMTPResponseException:
            # Refused on MAIL, RCPT or DATA: the conversation itself is fine once reset; RSET proves it answers.
            try:
                usable = (await smtp.rset()).code == 250
            except (aiosmtplib.SMTPException, OSError):
                usable = False
            if usable:
                self._give_back(session)
            else:
                smtp.close()
            raise
        except BaseException:
            smtp.close()  # broken, cut off, or in a state we cannot tell
            raise
        self._give_back(session)

    async def _take(self) -> _Session:
        """The most recently used idle session (the likeliest alive; the surplus ages out), else a new one."""
        too_old = self._monotonic() - self.max_idle_s
        while self._idle and (self._idle[0].idle_since < too_old or not self._idle[0].smtp.is_connected):
            await _quit(self._idle.popleft())
        while self._idle:
            session = self._idle.pop()
            if session.smtp.is_connected:  # the server may have hung up while it waited, and we noticed
                session.reused = True
                return session
        return await self._open()

    def _give_back(self, session: _Session) -> None:
        session.idle_since = self._monotonic()
        if self._closed:
            session.smtp.close()
        else:
            self._idle.append(session)

    async def _open(self) -> _Session:
        cfg = self._config
        smtp = aiosmtplib.SMTP(
            hostname=cfg.host,
            port=cfg.port,
            timeout=cfg.timeout_s,
            use_tls=cfg.implicit_tls,
            start_tls=cfg.starttls,
            tls_context=self._tls,
            username=cfg.username if cfg.password else None,
            password=cfg.password if cfg.username else None,
        )
        await smtp.connect()  # TLS (implicit or STARTTLS) and LOGIN happen here, once per session
        return _Session(smtp)


def _delivery_error(exc: BaseException, session: _Session | None) -> DeliveryError:
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused):
        return DeliveryError(f"SMTP recipient refused [{exc.code}]", permanent=exc.code >= 500)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return DeliveryError(f"SMTP {exc.code}", permanent=exc.code >= 500)
    # Cut off after DATA began: the relay may have the message, and SMTP has no key to de-duplicate on.
    return DeliveryError(
        f"SMTP unreachable: {type(exc).__name__}", uncertain=session is not None and session.data_begun
    )


async def _quit(session: _Session) -> None:
    with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
        if session.smtp.is_connected:
            await session.smtp.quit()
    session.smtp.close()
