"""The mail seam."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol

__all__ = ["Mailer", "Message"]


@dataclass(frozen=True)
class Message:
    """A plain-text message to one recipient."""

    to: str
    subject: str
    body: str

    def to_email(self, sender: str) -> EmailMessage:
        """The RFC 5322 message, ready to send or store."""
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = self.to
        msg["Subject"] = self.subject
        msg["Date"] = formatdate(localtime=False, usegmt=True)
        msg["Message-ID"] = make_msgid(domain="stockade.invalid")
        msg.set_content(self.body)
        return msg


class Mailer(Protocol):
    """Sends messages. ``send`` raises on failure; callers decide whether that matters."""

    def send(self, message: Message) -> None: ...
