"""SMTP delivery, and choosing the mailer from settings."""

from __future__ import annotations

import ipaddress
import logging
import smtplib
import ssl
from urllib.parse import parse_qs, unquote, urlsplit

from stockade.config import ConfigError, Settings
from stockade.mail.interface import Mailer, MailError, Message
from stockade.mail.outbox import OutboxMailer

__all__ = ["SmtpMailer", "mailer_from_settings"]

log = logging.getLogger(__name__)

_MAIL_URL_FORM = (
    "smtp://[user:password@]host[:port][?starttls=1][&cafile=/path/ca.pem][&timeout=20] "
    "or smtps://[user:password@]host[:port][?cafile=…]"
)
_QUERY_KEYS = frozenset({"starttls", "cafile", "timeout"})
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


class SmtpMailer:
    """Sends through an SMTP server: ``smtp://`` (optionally STARTTLS) or ``smtps://``.

    TLS always verifies the server's certificate, against the system's trust store or against
    ``cafile`` (for a relay with a private CA).
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender: str,
        implicit_tls: bool = False,
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
        cafile: str | None = None,
        timeout: float = 20.0,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.implicit_tls, self.starttls = implicit_tls, starttls
        self.username, self.password, self.timeout = username, password, timeout
        self.cafile = cafile

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.cafile)

    def send(self, message: Message) -> None:
        """Deliver one message; raises MailError naming the server and the reason."""
        try:
            smtp: smtplib.SMTP
            if self.implicit_tls:
                smtp = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=self._context()
                )
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with smtp:
                if self.starttls:
                    smtp.starttls(context=self._context())
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(message.to_email(self.sender))
        except (smtplib.SMTPException, OSError) as exc:
            raise MailError(f"SMTP {self.host}:{self.port}: {exc}") from exc
        log.info(
            "mail to %s (%s) sent through %s:%s", message.to, message.subject, self.host, self.port
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _flag(query: dict[str, list[str]], key: str) -> bool:
    value = query.get(key, [""])[-1].lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"mail_url: {key} must be 1 or 0, got {value!r}")


def mailer_from_settings(settings: Settings) -> Mailer:
    """The outbox when ``mail_url`` is empty, else an SmtpMailer for it.

    Raises ConfigError for a URL stockade cannot use, so a typo stops the server at start-up
    instead of losing mail later. Credentials are refused over an unencrypted connection to
    anything but the local machine.
    """
    if not settings.mail_url:
        return OutboxMailer(settings.data_dir / "outbox", settings.mail_from)
    url = urlsplit(settings.mail_url)
    try:
        port = url.port
    except ValueError as exc:
        raise ConfigError(f"mail_url: bad port ({exc}); expected {_MAIL_URL_FORM}") from exc
    if url.scheme not in ("smtp", "smtps") or not url.hostname or url.path not in ("", "/"):
        raise ConfigError(f"mail_url must look like {_MAIL_URL_FORM}")
    query = parse_qs(url.query, keep_blank_values=True)
    unknown = set(query) - _QUERY_KEYS
    if unknown:
        raise ConfigError(f"mail_url: unknown option(s) {', '.join(sorted(unknown))}")
    implicit = url.scheme == "smtps"
    starttls = _flag(query, "starttls")
    if implicit and starttls:
        raise ConfigError("mail_url: smtps:// is already encrypted; drop starttls=1")
    try:
        timeout = float(query.get("timeout", ["20"])[-1])
    except ValueError as exc:
        raise ConfigError("mail_url: timeout must be a number of seconds") from exc
    username = unquote(url.username) if url.username else None
    if username and not (implicit or starttls or _is_loopback(url.hostname)):
        raise ConfigError(
            "mail_url: the password would cross the network unencrypted; "
            "use smtps:// or add ?starttls=1"
        )
    cafile = query.get("cafile", [""])[-1] or None
    return SmtpMailer(
        url.hostname,
        port or (465 if implicit else 587 if starttls else 25),
        sender=settings.mail_from,
        implicit_tls=implicit,
        starttls=starttls,
        username=username,
        password=unquote(url.password) if url.password else None,
        cafile=cafile,
        timeout=timeout,
    )
