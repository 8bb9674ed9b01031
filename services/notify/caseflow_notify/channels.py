"""Channel adapters: e-mail over SMTP, signed webhooks, SMS through an HTTP gateway.

Each adapter sends one message and raises `DeliveryError` (permanent or not);
timeouts, retries, rate limits and circuit breakers are the worker's business.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import smtplib
import ssl
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.header import Header
from email.mime.text import MIMEText
from email.utils import formatdate, parseaddr
from typing import TYPE_CHECKING, Any, Protocol

import aiohttp

from .templates import Rendered

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

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

    def __init__(self, secrets: Mapping[str, Sequence[bytes]], timeout_s: float, pool: int = 64) -> None:
        self._secrets = secrets
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
    implicit_tls: bool = False
    allow_plaintext_auth: bool = False

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


@dataclass(frozen=True)
class _Mail:
    to: str
    raw: bytes


class _Session(smtplib.SMTP):
    """One persistent SMTP connection, used by one thread at a time."""

    idle_since = 0.0  # time.monotonic() when it last went back to the pool
    reused = False  # taken from the pool: the server may have dropped it meanwhile
    data_begun = False  # from DATA on the server may have the message: a failure is no longer safe to retry

    def data(self, msg: ReadableBuffer | str) -> tuple[int, bytes]:
        self.data_begun = True
        return super().data(msg)


class _TlsSession(_Session, smtplib.SMTP_SSL):
    """A session over implicit TLS (SMTPS)."""


def _quit(sessions: Iterable[_Session]) -> None:
    for session in sessions:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            session.quit()
        session.close()


def _dropped_while_idle(session: _Session, exc: smtplib.SMTPException) -> bool:
    """Did a reused session fail because the server had closed it, before any of the message went out?"""
    if not session.reused or session.data_begun:
        return False  # a fresh connection failing is real news; after DATA began a retry could send twice
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return exc.smtp_code == 421  # "closing channel", what servers like Postfix say before an idle hang-up
    # A server that stopped answering did not drop us: a retry would only double the wait.
    return isinstance(exc, smtplib.SMTPServerDisconnected) and not isinstance(exc.__context__, TimeoutError)


class SmtpSender:
    """Plain-text UTF-8 e-mail; Message-ID is the notification id, so mail clients can de-duplicate.

    Sends go over up to `concurrency` persistent sessions (connect, EHLO, STARTTLS and LOGIN once each).
    The sender's own threads, one per session, bound how many are open: a send beyond that waits for a
    thread. A session that errs is closed, never reused; idle ones older than `max_idle_s` are closed
    rather than reused, since servers hang up on idle connections.
    """

    def __init__(self, config: SmtpConfig, concurrency: int = 8, max_idle_s: float = 30.0) -> None:
        self._config = config
        self.concurrency = concurrency
        self.max_idle_s = max_idle_s
        self._idle: deque[_Session] = deque()  # oldest first
        self._lock = threading.Lock()  # guards _idle and _closed
        self._closed = False
        self._threads = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="caseflow-smtp")

    def build(self, message: Message) -> bytes:
        """The message as sent: UTF-8 text, base64 body, RFC 2047 subject.

        Built with the compat32 MIME classes and flattened once: the modern EmailMessage parses
        every header through its registry, which cost more CPU than the rest of a delivery.
        """
        mail = MIMEText(message.rendered.email, "plain", "utf-8")
        mail["From"] = self._config.sender
        mail["To"] = message.address
        mail["Subject"] = Header(message.rendered.subject, "utf-8").encode()
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = f"<{message.notification_id}@caseflow>"
        mail["X-Caseflow-Case"] = message.case_id
        mail["Content-Language"] = message.rendered.locale
        return mail.as_bytes()

    async def send(self, message: Message) -> None:
        mail = _Mail(message.address, self.build(message))
        try:
            await asyncio.get_running_loop().run_in_executor(self._threads, self._send_blocking, mail)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise DeliveryError(f"SMTP recipient refused {codes}", permanent=all(c >= 500 for c in codes)) from None
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(f"SMTP {exc.smtp_code}", permanent=exc.smtp_code >= 500) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP unreachable: {type(exc).__name__}") from None

    async def close(self) -> None:
        """QUIT the idle sessions; those still sending are closed as they come back. Final."""
        with self._lock:
            self._closed = True
            idle, self._idle = list(self._idle), deque()
        await asyncio.to_thread(_quit, idle)
        self._threads.shutdown(wait=False)

    # -- in the sender's threads ----------------------------------------------------------------------

    def _send_blocking(self, mail: _Mail) -> None:
        session = self._take()
        try:
            self._send_on(session, mail)
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPSenderRefused) as exc:
            if not _dropped_while_idle(session, exc):
                raise
            self._send_on(self._open(), mail)  # once, on a fresh connection

    def _send_on(self, session: _Session, mail: _Mail) -> None:
        session.data_begun = False
        try:
            session.sendmail(parseaddr(self._config.sender)[1], [mail.to], mail.raw)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPResponseException):
            # Refused on MAIL, RCPT or DATA: the conversation itself is fine once reset. smtplib has sent
            # an RSET already but ignores a dead connection; this one proves the session still answers.
            try:
                usable = session.rset()[0] == 250
            except (smtplib.SMTPException, OSError):
                usable = False
            if usable:
                self._give_back(session)
            else:
                session.close()
            raise
        except Exception:
            session.close()  # broken, or in a state we cannot tell
            raise
        self._give_back(session)

    def _take(self) -> _Session:
        """The most recently used idle session (the likeliest alive; the surplus ages out), else a new one."""
        with self._lock:
            too_old = time.monotonic() - self.max_idle_s
            expired = []
            while self._idle and self._idle[0].idle_since < too_old:
                expired.append(self._idle.popleft())
            session = self._idle.pop() if self._idle else None
        _quit(expired)
        if session is None:
            return self._open()
        session.reused = True
        return session

    def _give_back(self, session: _Session) -> None:
        session.idle_since = time.monotonic()
        with self._lock:
            if not self._closed:
                self._idle.append(session)
                return
        _quit([session])

    def _open(self) -> _Session:
        cfg = self._config
        session = (
            _TlsSession(cfg.host, cfg.port, timeout=cfg.timeout_s, context=ssl.create_default_context())
            if cfg.implicit_tls
            else _Session(cfg.host, cfg.port, timeout=cfg.timeout_s)
        )
        try:
            if cfg.starttls:
                session.starttls(context=ssl.create_default_context())
            if cfg.username and cfg.password:
                session.login(cfg.username, cfg.password)
            session.ehlo_or_helo_if_needed()  # now, so that a send on this session is only MAIL, RCPT, DATA
        except Exception:
            session.close()
            raise
        return session
