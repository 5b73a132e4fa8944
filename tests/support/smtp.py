"""A real SMTP server on loopback that keeps what it receives, and readers for test mail.

::

    with smtp_sink() as sink:                       # plain SMTP
        settings = replace(settings, mail_url=sink.url())
        ...
        [message] = sink.wait_for(1)
        link = links_in(message)[0]

``smtp_sink(tls="starttls", credentials=("user", "pw"), cert_dir=tmp_path)`` runs a server that
requires STARTTLS and a login; ``tls="implicit"`` speaks TLS from the first byte (``smtps://``).
Certificates are made with the ``openssl`` command, for ``127.0.0.1``; ``sink.cafile`` trusts
them. ``read_outbox(folder)`` parses the ``.eml`` files the default mailer writes.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import re
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from support.index import free_port

__all__ = ["Received", "SmtpSink", "links_in", "make_certificate", "read_outbox", "smtp_sink"]

_LINK_RE = re.compile(r"https?://[^\s<>\"']+")


@dataclass(frozen=True)
class Received:
    """One message as the server got it."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    # The login the client authenticated with (None without AUTH).
    login: str | None
    # Whether the connection was encrypted when the message was sent.
    tls: bool


@dataclass
class SmtpSink:
    """A running sink: where it listens, and what it received so far."""

    host: str
    port: int
    tls: Literal["none", "starttls", "implicit"]
    cafile: str | None = None
    credentials: tuple[str, str] | None = None
    received: list[Received] = field(default_factory=list)
    _lock: threading.Condition = field(default_factory=threading.Condition)

    def url(self) -> str:
        """A ``mail_url`` that reaches this server the way it expects."""
        scheme = "smtps" if self.tls == "implicit" else "smtp"
        auth = ""
        if self.credentials:
            auth = f"{quote(self.credentials[0], safe='')}:{quote(self.credentials[1], safe='')}@"
        options = []
        if self.tls == "starttls":
            options.append("starttls=1")
        if self.cafile:
            options.append(f"cafile={quote(self.cafile)}")
        query = "?" + "&".join(options) if options else ""
        return f"{scheme}://{auth}{self.host}:{self.port}{query}"

    @property
    def messages(self) -> list[EmailMessage]:
        """The received messages, oldest first."""
        with self._lock:
            return [r.message for r in self.received]

    def wait_for(self, count: int = 1, timeout: float = 10.0) -> list[EmailMessage]:
        """Block until ``count`` messages have arrived; returns them all."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"expected {count} message(s), got {len(self.received)} in {timeout}s"
                    )
                self._lock.wait(left)
            return [r.message for r in self.received]

    def _add(self, received: Received) -> None:
        with self._lock:
            self.received.append(received)
            self._lock.notify_all()


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        auth = session.auth_data
        # STARTTLS shows in session.ssl; implicit TLS only on the transport.
        tls = session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None
        self.sink._add(
            Received(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                message=message,
                login=auth.login.decode() if isinstance(auth, LoginPassword) else None,
                tls=tls,
            )
        )
        return "250 Message accepted for delivery"


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate and key for 127.0.0.1 / localhost (with the openssl command)."""
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    if not cert.exists():
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                "-keyout", str(key), "-out", str(cert),
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
    return cert, key


@contextlib.contextmanager
def smtp_sink(
    *,
    tls: Literal["none", "starttls", "implicit"] = "none",
    credentials: tuple[str, str] | None = None,
    cert_dir: Path | None = None,
) -> Iterator[SmtpSink]:
    """Run an aiosmtpd server on 127.0.0.1 for the duration of the block."""
    port = free_port()
    sink = SmtpSink("127.0.0.1", port, tls, credentials=credentials)
    kwargs: dict[str, Any] = {}
    if tls != "none":
        if cert_dir is None:
            raise ValueError("TLS needs a cert_dir for the generated certificate")
        cert, key = make_certificate(cert_dir)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        sink.cafile = str(cert)
        if tls == "starttls":
            kwargs.update(tls_context=context, require_starttls=True)
        else:
            kwargs.update(ssl_context=context)
    if credentials is not None:

        def authenticator(
            server: Any, session: Any, envelope: Any, mechanism: str, data: Any
        ) -> AuthResult:
            ok = (
                isinstance(data, LoginPassword)
                and (
                    data.login.decode(),
                    data.password.decode(),
                )
                == credentials
            )
            return AuthResult(success=ok, handled=False, auth_data=data)

        # aiosmtpd counts only STARTTLS as TLS for its AUTH rules: under implicit TLS, AUTH is
        # allowed (and checked) but cannot be required without a warning.
        starttls = tls == "starttls"
        kwargs.update(
            authenticator=authenticator, auth_required=starttls, auth_require_tls=starttls
        )
    controller = Controller(_Handler(sink), hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


def links_in(message: EmailMessage) -> list[str]:
    """The http(s) links in a message's text body."""
    body = message.get_body(("plain",))
    assert body is not None, "no text/plain part"
    return _LINK_RE.findall(body.get_content())


def read_outbox(folder: Path) -> list[EmailMessage]:
    """The messages the outbox mailer wrote to ``folder``, oldest first."""
    if not folder.exists():
        return []
    messages = []
    for path in sorted(folder.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        messages.append(message)
    return messages
