"""The embedded default: messages become .eml files in a folder."""

from __future__ import annotations

import logging
import os
import secrets
import time
from pathlib import Path

from stockade.mail.interface import Message

__all__ = ["OutboxMailer"]

log = logging.getLogger(__name__)


class OutboxMailer:
    """Writes each message to ``<folder>/<time>-<random>.eml`` (atomically) and logs it."""

    def __init__(self, folder: Path, sender: str) -> None:
        self.folder = folder
        self.sender = sender

    def send(self, message: Message) -> None:
        """Store the message."""
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(4)}.eml"
        tmp = self.folder / f".{name}.tmp"
        tmp.write_bytes(message.to_email(self.sender).as_bytes())
        os.replace(tmp, self.folder / name)
        log.warning("mail to %s (%s) written to %s", message.to, message.subject, name)
