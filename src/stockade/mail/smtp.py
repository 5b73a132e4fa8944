"""SMTP delivery, and choosing the mailer from settings."""

from __future__ import annotations

import smtplib
import ssl
from urllib.parse import parse_qs, unquote, urlsplit

from stockade.config import Settings
from stockade.mail.interface import Mailer, Message
from stockade.mail.outbox import OutboxMailer

__all__ = ["SmtpMailer", "mailer_from_settings"]


class SmtpMailer:
    """Sends through an SMTP server: ``smtp://`` (optionally STARTTLS) or ``smtps://``."""

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
        timeout: float = 20.0,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.implicit_tls, self.starttls = implicit_tls, starttls
        self.username, self.password, self.timeout = username, password, timeout

    def send(self, message: Message) -> None:
        """Deliver one message (raises smtplib/OSError errors)."""
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.implicit_tls:
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with smtp:
            if self.starttls:
                smtp.starttls(context=context)
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message.to_email(self.sender))


def mailer_from_settings(settings: Settings) -> Mailer:
    """The outbox when ``mail_url`` is empty, else an SmtpMailer for it."""
    if not settings.mail_url:
        return OutboxMailer(settings.data_dir / "outbox", settings.mail_from)
    url = urlsplit(settings.mail_url)
    if url.scheme not in ("smtp", "smtps") or not url.hostname:
        raise ValueError("mail_url must look like smtp://[user:password@]host[:port][?starttls=1]")
    query = parse_qs(url.query)
    implicit = url.scheme == "smtps"
    return SmtpMailer(
        url.hostname,
        url.port or (465 if implicit else 25),
        sender=settings.mail_from,
        implicit_tls=implicit,
        starttls=query.get("starttls", ["0"])[0] in ("1", "true", "yes"),
        username=unquote(url.username) if url.username else None,
        password=unquote(url.password) if url.password else None,
    )
