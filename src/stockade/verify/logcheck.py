"""The transparency-log step of ``stockade verify``.

Against the index's log it checks, for each file: the newest entry about its filename is
included in a checkpoint signed by the log's key, names the same sha256, and does not say the
file was deleted or quarantined. The checkpoint must extend the one the last run saw
(a consistency proof), so a log that was rewritten or forked fails. The state folder keeps
the log's key (pinned on first use unless ``--log-key`` gives it) and the last checkpoint.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import httpx

from stockade.tlog import merkle
from stockade.tlog.note import Checkpoint, NoteError, VerifierKey, parse_checkpoint
from stockade.verify.interface import Target, VerifyError

__all__ = ["LogCheck", "state_folder"]

_GONE = {"delete": "deleted", "quarantine": "quarantined"}


def state_folder(base: Path, index_url: str) -> Path:
    """Where the state of one index lives under ``base``: one folder per index URL."""
    return base / hashlib.sha256(index_url.encode()).hexdigest()[:16]


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _hashes(answer: dict[str, Any]) -> list[bytes]:
    try:
        return [base64.b64decode(h, validate=True) for h in answer["hashes"]]
    except (KeyError, TypeError, binascii.Error) as exc:
        raise VerifyError("the log's proof is not a list of base64 hashes") from exc


class LogCheck:
    name = "log"

    def __init__(
        self,
        client: httpx.Client,
        index_url: str,
        state: Path,
        *,
        key: str | None = None,
        wait: float = 10.0,
    ) -> None:
        self.client = client
        self.log_url = index_url.rstrip("/") + "/log"
        self.state = state
        self.key_text = key
        self.wait = wait
        self.notes: list[str] = []
        self._verifier: VerifierKey | None = None
        self._checkpoint: Checkpoint | None = None
        self._note: bytes = b""

    def _get(self, path: str, **params: int) -> httpx.Response:
        try:
            answer = self.client.get(self.log_url + path, params=params or None)
        except httpx.HTTPError as exc:
            raise VerifyError(f"cannot reach the log at {self.log_url}: {exc}") from exc
        if answer.status_code != 200:
            text = answer.text.strip().splitlines()[0] if answer.text.strip() else ""
            raise VerifyError(f"{self.log_url}{path} answered {answer.status_code} {text}".strip())
        return answer

    def _key(self) -> VerifierKey:
        pinned = self.state / "log.key"
        text = self.key_text
        if text is None and pinned.exists():
            text = pinned.read_text()
        first_use = text is None
        if text is None:
            text = self._get("/key").text
        try:
            key = VerifierKey.parse(text)
        except NoteError as exc:
            raise VerifyError(f"the log's key is unusable: {exc}") from exc
        if first_use:
            self.notes.append(f"trusting the log key {key} from now on (first use)")
        if not pinned.exists():
            _write(pinned, f"{key}\n".encode())
        return key

    def _fetch_checkpoint(self) -> tuple[Checkpoint, bytes]:
        assert self._verifier is not None
        note = self._get("/checkpoint").content
        try:
            checkpoint = parse_checkpoint(self._verifier.open(note))
        except NoteError as exc:
            raise VerifyError(f"the log's checkpoint is not valid: {exc}") from exc
        if checkpoint.origin != self._verifier.name:
            raise VerifyError(f"the checkpoint is for log {checkpoint.origin!r}, not this one")
        return checkpoint, note

    def _advance(self, old: Checkpoint, new: Checkpoint) -> None:
        """Check that ``new`` extends ``old`` (a consistency proof)."""
        if new.size < old.size:
            raise VerifyError(
                f"the log shrank: {new.size} entries now, {old.size} before (a rewritten log)"
            )
        proof = (
            []
            if new.size == old.size or old.size == 0
            else _hashes(self._get("/proof/consistency", old=old.size, size=new.size).json())
        )
        try:
            if old.size:
                merkle.verify_consistency(old.size, new.size, proof, old.root, new.root)
        except merkle.ProofError as exc:
            raise VerifyError(str(exc)) from exc

    def open(self) -> None:
        self._verifier = self._key()
        checkpoint, note = self._fetch_checkpoint()
        saved = self.state / "checkpoint"
        if saved.exists():
            try:
                old = parse_checkpoint(self._verifier.open(saved.read_bytes()))
            except NoteError as exc:
                raise VerifyError(f"the saved checkpoint in {saved} is not valid: {exc}") from exc
            self._advance(old, checkpoint)
        self._checkpoint, self._note = checkpoint, note

    def _grow_to(self, index: int) -> Checkpoint:
        """A checkpoint that includes entry ``index``: a just-made entry may be newer than the
        checkpoint the server signed last, so look again for a few seconds."""
        assert self._checkpoint is not None
        deadline = time.monotonic() + self.wait
        while index >= self._checkpoint.size:
            if time.monotonic() > deadline:
                size = self._checkpoint.size
                raise VerifyError(f"entry {index} is not in the log's checkpoint ({size} entries)")
            time.sleep(0.2)
            checkpoint, note = self._fetch_checkpoint()
            self._advance(self._checkpoint, checkpoint)
            self._checkpoint, self._note = checkpoint, note
        return self._checkpoint

    def check(self, target: Target) -> str:
        found = self._get(f"/lookup/{target.filename}").json()
        try:
            index = int(found["index"])
            data = base64.b64decode(found["data"], validate=True)
            entry = json.loads(data)
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise VerifyError("the log's lookup answer is malformed") from exc
        if entry.get("filename") != target.filename:
            raise VerifyError(f"the log's entry {index} is about {entry.get('filename')!r}")
        if entry.get("sha256") != target.sha256:
            raise VerifyError(
                f"the log records sha256 {entry.get('sha256')} for it, but {target.source} "
                f"has {target.sha256}"
            )
        gone = _GONE.get(str(entry.get("action")))
        if gone is not None:
            raise VerifyError(f"the log says it was {gone} ({entry.get('time')}, entry {index})")
        checkpoint = self._grow_to(index)
        proof = _hashes(self._get("/proof/inclusion", index=index, size=checkpoint.size).json())
        try:
            merkle.verify_inclusion(
                merkle.leaf_hash(data), index, checkpoint.size, proof, checkpoint.root
            )
        except merkle.ProofError as exc:
            raise VerifyError(f"entry {index}: {exc}") from exc
        return f"log entry {index} of {checkpoint.size}"

    def close(self) -> None:
        _write(self.state / "checkpoint", self._note)
