"""One worker's view of the log for the web face: the signed checkpoint and immutable tiles
kept in memory, proofs and lookups read on request.

The checkpoint is signed again only when the log grew (the worker learns of a change from the
journal, or after ``max_age`` seconds at the latest): between changes, requests for it cost
no query. Tiles never change once written (a partial tile has its width in its path), so each
is read from the database once and kept, within ``max_tile_bytes``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stockade.db import Database
from stockade.errors import ServiceError
from stockade.tlog import merkle, services
from stockade.tlog.keys import LogSigner
from stockade.tlog.note import Checkpoint, format_checkpoint, sign_note
from stockade.tlog.tiles import TILE_HEIGHT, TILE_WIDTH, Tile

__all__ = ["LogError", "LogReader", "SignedCheckpoint"]


class LogError(ServiceError):
    """A request the log cannot answer: a status and a one-line message."""


@dataclass(frozen=True)
class SignedCheckpoint:
    size: int
    root: bytes
    note: bytes
    etag: str


class LogReader:
    def __init__(
        self,
        db: Database,
        signer: LogSigner,
        *,
        max_age: float = 5.0,
        max_tile_bytes: int = 8 << 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.signer = signer
        self.max_age = max_age
        self.max_tile_bytes = max_tile_bytes
        self.clock = clock
        self._checkpoint: SignedCheckpoint | None = None
        self._read_at = 0.0
        self._tiles: OrderedDict[Tile, bytes] = OrderedDict()
        self._tile_bytes = 0
        self._lock = threading.Lock()

    def journal_changed(self, name: str, action: str) -> None:
        """A page-cache listener: the log may have grown."""
        self._read_at = 0.0

    def checkpoint(self) -> SignedCheckpoint:
        current = self._checkpoint
        if current is not None and self.clock() - self._read_at < self.max_age:
            return current
        read_at = self.clock()
        with self.db.read() as session:
            view = services.read_state(session)
        if current is None or current.size != view.size or current.root != view.root:
            text = format_checkpoint(Checkpoint(self.signer.origin, view.size, view.root))
            note = sign_note(text, self.signer.origin, self.signer.private)
            etag = '"' + hashlib.sha256(note).hexdigest()[:32] + '"'
            current = SignedCheckpoint(view.size, view.root, note, etag)
            self._checkpoint = current
        self._read_at = read_at
        return current

    def _size(self, size: int) -> None:
        if size < 0:
            raise LogError(400, "A tree size is a whole number, 0 or more.")
        latest = self.checkpoint().size
        if size > latest:
            # The checkpoint may lag a just-committed append: look once more.
            self._read_at = 0.0
            latest = self.checkpoint().size
        if size > latest:
            raise LogError(400, f"The log has {latest} entries, not {size}.")

    def inclusion(self, index: int, size: int) -> list[str]:
        self._size(size)
        if not 0 <= index < size:
            raise LogError(400, f"Entry {index} is not in a tree of {size} entries.")
        with self.db.read() as session:
            proof = services.prove(session, lambda node: merkle.inclusion_proof(index, size, node))
        return [base64.b64encode(h).decode() for h in proof]

    def consistency(self, old: int, size: int) -> list[str]:
        self._size(size)
        if not 0 < old <= size:
            raise LogError(400, f"No consistency proof from {old} entries to {size}.")
        with self.db.read() as session:
            proof = services.prove(session, lambda node: merkle.consistency_proof(old, size, node))
        return [base64.b64encode(h).decode() for h in proof]

    def lookup(self, filename: str) -> dict[str, Any]:
        with self.db.read() as session:
            found = services.lookup(session, filename)
        if found is None:
            raise LogError(404, f"The log has no entry for {filename!r}.")
        return {
            "index": found.index,
            "entry": json.loads(found.data),
            "data": base64.b64encode(found.data).decode(),
        }

    def tile(self, tile: Tile) -> bytes:
        with self._lock:
            cached = self._tiles.get(tile)
            if cached is not None:
                self._tiles.move_to_end(tile)
                return cached
        size = self.checkpoint().size
        level_size = size if tile.level is None else size >> (TILE_HEIGHT * tile.level)
        first = tile.index * TILE_WIDTH
        if first + tile.width > level_size:
            self._read_at = 0.0
            size = self.checkpoint().size
            level_size = size if tile.level is None else size >> (TILE_HEIGHT * tile.level)
            if first + tile.width > level_size:
                raise LogError(404, "The log has no such tile yet.")
        with self.db.read() as session:
            if tile.level is None:
                parts = services.entries_between(session, first, tile.width)
                body = b"".join(len(p).to_bytes(2, "big") + p for p in parts)
            else:
                parts = services.tile_hashes(session, TILE_HEIGHT * tile.level, first, tile.width)
                body = b"".join(parts)
        if len(parts) != tile.width:
            raise LogError(404, "The log has no such tile yet.")
        with self._lock:
            self._tiles[tile] = body
            self._tile_bytes += len(body)
            while self._tile_bytes > self.max_tile_bytes and self._tiles:
                _, dropped = self._tiles.popitem(last=False)
                self._tile_bytes -= len(dropped)
        return body
