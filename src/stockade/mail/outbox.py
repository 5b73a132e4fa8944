"""The embedded default: messages become .eml files in a folder."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import re
import secrets
from pathlib import Path

from stockade.mail.interface import MailError, Message

__all__ = ["OutboxMailer"]

log = logging.getLogger(__name__)

# A link in a message's text: up to the first white space (mail bodies put links on a line
# of their own, or end them with a space).
_LINK = re.compile(r"https?://[^\s<>\"]+")


class OutboxMailer:
    """Writes each message to ``<folder>/<UTC time>-<random>.eml`` (atomically) and logs it,
    with every link in it whole."""

    def __init__(self, folder: Path, sender: str) -> None:
        self.folder = folder
        self.sender = sender

    def send(self, message: Message) -> None:
        """Store the message: written to a hidden temporary file, synced, then renamed, so a
        reader of the folder never sees half a message."""
        # Microseconds keep names in the order the messages were written.
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%f")
        name = f"{stamp}-{secrets.token_hex(4)}.eml"
        tmp = self.folder / f".{name}.tmp"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with tmp.open("wb") as fh:
                fh.write(message.to_email(self.sender).as_bytes())
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.folder / name)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise MailError(f"cannot write to the outbox {self.folder}: {exc}") from exc
        log.warning("mail to %s (%s) written to %s", message.to, message.subject, name)
        # The .eml is quoted-printable, so a long link breaks across lines there: the log
        # carries each link whole, for someone running the index without a mail server.
        links = (link.rstrip(".,;:)") for link in _LINK.findall(message.body))
        for link in dict.fromkeys(links):
            log.warning("  link in that mail: %s", link)
