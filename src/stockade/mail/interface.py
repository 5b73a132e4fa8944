"""The mail seam: a message, the protocol every mailer implements, and its one error."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol

__all__ = ["MailError", "Mailer", "Message"]


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
        msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies, please
        msg.set_content(self.body)
        return msg


class MailError(Exception):
    """A message could not be delivered (or stored); the text says why, for the log."""


class Mailer(Protocol):
    """Sends messages. ``send`` raises MailError on failure; callers decide whether that matters."""

    def send(self, message: Message) -> None: ...
