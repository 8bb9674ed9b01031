"""The one set of local stand-ins for the third parties notify talks to: a real SMTP server and a real HTTP
receiver, used by notify's tests, the seed stories, the demo, the chaos run and the benchmarks.

Both are real servers on loopback (aiosmtpd, uvicorn) with faults on demand: a receiver that fails and
then recovers, hangs, refuses, hangs up. They keep what they accepted for a test to look at.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import ssl
import uuid
import warnings
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from .broker import free_port

#: A webhook check: None when the request is authentic and new, "duplicate" for a delivery seen before
#: (answered 200 and not processed again), anything else: why it is refused (answered 401).
WebhookCheck = Callable[[Mapping[str, str], bytes], str | None]
DUPLICATE = "duplicate"


class SmtpSink:
    """A real SMTP server on loopback that keeps what it receives and counts connections and QUITs.

    Faults on demand: the first `fail_next` messages are answered 451 (try again later); addresses in
    `refuse` are refused at RCPT (550); `hang_up_at_mail` answers the next MAIL with 421 and closes;
    `stall_at_mail_s` answers the next MAIL that late; `hang_up_after_data` keeps the next message but
    closes before answering it; `slow_s` makes every message take that long (a slow relay). The server
    hangs up on a connection idle for `idle_timeout_s`. With `tls` it offers STARTTLS (required), or TLS
    from the first byte with `implicit_tls`; with `login` it requires that user and password.
    """

    def __init__(
        self,
        *,
        fail_next: int = 0,
        slow_s: float = 0,
        refuse: set[str] | None = None,
        idle_timeout_s: float = 300,
        tls: TlsFiles | None = None,
        implicit_tls: bool = False,
        login: tuple[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.fail_next = fail_next
        self.slow_s = slow_s
        self.refuse = refuse or set()
        self.hang_up_at_mail = False
        self.stall_at_mail_s = 0.0
        self.hang_up_after_data = False
        self.messages: list[EmailMessage] = []
        self.connections = 0
        self.quits = 0
        self.disconnections = 0  # clients' connections that ended, whoever ended them
        self.logins: list[str] = []
        self._login = login
        kwargs: dict[str, Any] = {}
        context = tls.server_context() if tls else None
        if context is not None and not implicit_tls:
            kwargs.update(tls_context=context, require_starttls=True)
        if login is not None:
            # aiosmtpd sees STARTTLS only: on implicit TLS the connection is encrypted from the first byte anyway
            kwargs.update(authenticator=self._authenticate, auth_required=True, auth_require_tls=not implicit_tls)
        self._controller = _Controller(
            self,
            hostname="127.0.0.1",
            port=self.port,
            ssl_context=context if implicit_tls else None,
            server_hostname="127.0.0.1",
            timeout=idle_timeout_s,
            **kwargs,
        )

    def start(self) -> SmtpSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        good = isinstance(data, LoginPassword) and self._login == (data.login.decode(), data.password.decode())
        if good:
            self.logins.append(data.login.decode())
        return AuthResult(success=good)

    # aiosmtpd's hooks ----------------------------------------------------------------------------------

    async def handle_EHLO(  # noqa: N802 - aiosmtpd's names
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        if session.ssl is None:  # once per connection: after STARTTLS the client greets again
            self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:  # noqa: N802
        if self.hang_up_at_mail:
            self.hang_up_at_mail = False
            server.loop.call_soon(server.transport.close)  # after the reply is written
            return "421 4.4.2 Timeout exceeded, closing connection"
        if self.stall_at_mail_s:
            stall, self.stall_at_mail_s = self.stall_at_mail_s, 0
            await asyncio.sleep(stall)
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:  # noqa: N802
        if address in self.refuse:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.slow_s:
            await asyncio.sleep(self.slow_s)
        if self.fail_next > 0:
            self.fail_next -= 1
            return "451 4.3.0 Mailbox busy, try again later"
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        if isinstance(parsed, EmailMessage):
            self.messages.append(parsed)
        if self.hang_up_after_data:
            self.hang_up_after_data = False
            server.transport.close()  # the client never hears that its message arrived
        return "250 Message accepted for delivery"

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.quits += 1
        return "221 Bye"


class _Session(SMTP):  # type: ignore[misc]
    def connection_lost(self, error: Exception | None) -> None:
        # Only clients' sessions (they greeted): the controller's own probe at start-up connects and leaves.
        if self.session is not None and self.session.host_name:
            self.event_handler.disconnections += 1
        super().connection_lost(error)


class _Controller(Controller):
    def factory(self) -> Any:
        with warnings.catch_warnings():
            # "AUTH without requiring TLS": aiosmtpd knows only STARTTLS; implicit TLS is encrypted throughout
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS", UserWarning)
            return _Session(self.handler, **self.SMTP_kwargs)


class HttpSink:
    """A real HTTP server on loopback: a webhook receiver and an SMS gateway stand-in (paths under /sms).

    Webhooks are checked by `webhook_check` when given (signature, freshness, replay); SMS requests need
    the bearer `sms_token` when given and are de-duplicated on their `client_ref`. Without either it
    answers 200 to everything. `fail_next` requests are answered `fail_status` (a receiver that fails,
    then recovers); `hang_s` processes a request but answers that late (the sender may give up first).
    """

    def __init__(
        self,
        *,
        webhook_check: WebhookCheck | None = None,
        sms_token: str | None = None,
        fail_next: int = 0,
        fail_status: int = 503,
        hang_s: float = 0.0,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.webhook_check = webhook_check
        self.sms_token = sms_token
        self.fail_next = fail_next
        self.fail_status = fail_status
        self.hang_s = hang_s
        self.requests: list[tuple[str, dict[str, str], bytes]] = []  # every request, answered or not
        self.accepted: list[dict[str, Any]] = []  # processed: the JSON body (webhooks: with their headers)
        self.by_path: Counter[str] = Counter()  # processed, per path
        self.duplicates = 0
        self.refused: list[str] = []
        self._sms_refs: set[str] = set()
        self._server = uvicorn.Server(
            uvicorn.Config(
                self._app,
                host="127.0.0.1",
                port=self.port,
                log_config=None,
                lifespan="off",
                interface="asgi3",
                access_log=False,
            )
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> HttpSink:
        self._task = asyncio.create_task(self._server.serve())
        for _ in range(1000):  # uvicorn offers no event to await: poll, bounded
            if self._server.started:
                return self
            if self._task.done():
                break
            await asyncio.sleep(0.01)
        raise RuntimeError(f"the HTTP sink did not start on port {self.port}")

    async def stop(self) -> None:
        self._server.should_exit = True
        self._server.force_exit = True  # do not wait for requests a test left hanging
        if self._task:
            await asyncio.wait_for(self._task, 10)

    async def __aenter__(self) -> HttpSink:
        return await self.start()

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def _app(self, scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.requests.append((scope["path"], headers, body))
        status, answer = self._answer(scope["path"], headers, body)
        if self.hang_s:
            await asyncio.sleep(self.hang_s)
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]}
        )
        await send({"type": "http.response.body", "body": json.dumps(answer).encode()})

    def _answer(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        if self.fail_next > 0:
            self.fail_next -= 1
            return self.fail_status, {"error": "down"}
        if path.startswith("/sms"):
            return self._sms(path, headers, body)
        problem = self.webhook_check(headers, body) if self.webhook_check else None
        if problem == DUPLICATE:
            self.duplicates += 1
            return 200, {"duplicate": True}
        if problem:
            self.refused.append(problem)
            return 401, {"error": problem}
        self._processed(path, {"headers": headers, **_json(body)})
        return 200, {"ok": True, "id": f"m{len(self.accepted)}"}

    def _sms(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        if self.sms_token is not None and headers.get("authorization") != f"Bearer {self.sms_token}":
            return 401, {"error": "token"}
        doc = _json(body)
        ref = str(doc.get("client_ref", ""))
        if ref and ref in self._sms_refs:
            self.duplicates += 1
            return 200, {"duplicate": True}
        self._sms_refs.add(ref)
        self._processed(path, doc)
        return 200, {"message_id": uuid.uuid4().hex}

    def _processed(self, path: str, doc: dict[str, Any]) -> None:
        self.accepted.append(doc)
        self.by_path[path] += 1


def _json(body: bytes) -> dict[str, Any]:
    try:
        found = json.loads(body or b"{}")
    except ValueError:
        return {"raw": body.decode("utf-8", "replace")}
    return found if isinstance(found, dict) else {"value": found}


@dataclass(frozen=True)
class TlsFiles:
    """A throwaway CA and a certificate it signed for 127.0.0.1: a TLS relay a client can verify."""

    ca: Path
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context

    @classmethod
    def make(cls, folder: Path) -> TlsFiles:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        now = datetime.datetime.now(datetime.UTC)
        valid = (now - datetime.timedelta(days=1), now + datetime.timedelta(days=1))

        def name(text: str) -> x509.Name:
            return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

        ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
        ca = (
            x509.CertificateBuilder()
            .subject_name(name("caseflow test CA"))
            .issuer_name(name("caseflow test CA"))
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(valid[0])
            .not_valid_after(valid[1])
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(name("127.0.0.1"))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(valid[0])
            .not_valid_after(valid[1])
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        files = cls(folder / "ca.pem", folder / "relay.pem", folder / "relay.key")
        files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        files.key.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return files
