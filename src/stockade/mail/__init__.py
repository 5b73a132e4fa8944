"""Outgoing mail behind one small protocol.

``OutboxMailer`` (the embedded default) writes each message as an ``.eml`` file into
``<data>/outbox/`` and logs a line, so a fresh install works with no mail server;
``SmtpMailer`` speaks SMTP (STARTTLS or implicit TLS, optional login). Both raise
``MailError`` when a message cannot be handed over. Messages are sent only after the database
transaction that caused them has committed.
"""

from stockade.mail.delivery import deliver
from stockade.mail.interface import Mailer, MailError, Message
from stockade.mail.outbox import OutboxMailer
from stockade.mail.smtp import SmtpMailer, mailer_from_settings

__all__ = [
    "MailError",
    "Mailer",
    "Message",
    "OutboxMailer",
    "SmtpMailer",
    "deliver",
    "mailer_from_settings",
]
