"""Handing mail over after the transaction that caused it committed."""

from __future__ import annotations

import logging

from stockade.mail.interface import Mailer, MailError, Message

__all__ = ["deliver"]

log = logging.getLogger(__name__)


def deliver(mailer: Mailer, *messages: Message) -> bool:
    """Send each message; log failures instead of raising (the action they report is already
    committed). True when every message was handed over."""
    ok = True
    for message in messages:
        try:
            mailer.send(message)
        except MailError as exc:
            log.error("could not send %r to %s: %s", message.subject, message.to, exc)
            ok = False
    return ok
