"""C2SP signed notes (``signed-note``) with Ed25519 keys, and the ``tlog-checkpoint`` body.

A checkpoint reads::

    <origin>
    <tree size>
    <root hash, base64>

    — <key name> <base64(key id ‖ signature)>

The key id is the first four bytes of SHA-256(name ‖ "\\n" ‖ 0x01 ‖ public key); a verifier key
is written ``<name>+<key id, hex>+<base64(0x01 ‖ public key)>`` (Go's ``note`` package).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "Checkpoint",
    "NoteError",
    "VerifierKey",
    "format_checkpoint",
    "parse_checkpoint",
    "sign_note",
    "verifier_key",
]

_ED25519 = b"\x01"
_DASH = "\u2014 "


class NoteError(ValueError):
    """A note or key that cannot be read, or a signature that does not verify."""


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _key_id(name: str, raw: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + _ED25519 + raw).digest()[:4]


@dataclass(frozen=True)
class VerifierKey:
    """A log's public key and the name its signatures carry."""

    name: str
    key_id: bytes
    public: Ed25519PublicKey

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        try:
            name, key_id_hex, key_b64 = text.strip().split("+", 2)
            key_id = bytes.fromhex(key_id_hex)
            raw = base64.b64decode(key_b64, validate=True)
        except (ValueError, binascii.Error) as exc:
            raise NoteError("not a verifier key (name+keyid+key)") from exc
        if raw[:1] != _ED25519 or len(raw) != 33 or len(key_id) != 4:
            raise NoteError("not an Ed25519 verifier key")
        if _key_id(name, raw[1:]) != key_id:
            raise NoteError("the verifier key's id does not match its key")
        return cls(name, key_id, Ed25519PublicKey.from_public_bytes(raw[1:]))

    def __str__(self) -> str:
        raw = base64.b64encode(_ED25519 + _raw(self.public)).decode()
        return f"{self.name}+{self.key_id.hex()}+{raw}"

    def open(self, note: bytes) -> str:
        """The note's text, once a signature by this key verifies; :class:`NoteError` else."""
        try:
            decoded = note.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NoteError("the note is not UTF-8") from exc
        text, sep, signatures = decoded.rpartition("\n\n")
        if not sep or not signatures.endswith("\n"):
            raise NoteError("the note has no signature block")
        text += "\n"
        for line in signatures.splitlines():
            if not line.startswith(_DASH):
                raise NoteError("a signature line does not start with an em dash")
            name, _, sig_b64 = line[len(_DASH) :].rpartition(" ")
            try:
                sig = base64.b64decode(sig_b64, validate=True)
            except binascii.Error as exc:
                raise NoteError("a signature is not base64") from exc
            if name != self.name or sig[:4] != self.key_id:
                continue
            try:
                self.public.verify(sig[4:], text.encode())
            except InvalidSignature as exc:
                raise NoteError(f"the signature by {name} does not verify") from exc
            return text
        raise NoteError(f"the note is not signed by {self.name}")


def verifier_key(name: str, private: Ed25519PrivateKey) -> VerifierKey:
    public = private.public_key()
    return VerifierKey(name, _key_id(name, _raw(public)), public)


def sign_note(text: str, name: str, private: Ed25519PrivateKey) -> bytes:
    """``text`` (ending in a newline) signed by ``private`` under ``name``."""
    if not text.endswith("\n") or "\n\n" in text:
        raise NoteError("a note's text ends with one newline and has no blank line")
    sig = verifier_key(name, private).key_id + private.sign(text.encode())
    return (text + "\n" + _DASH + name + " " + base64.b64encode(sig).decode() + "\n").encode()


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes


def format_checkpoint(checkpoint: Checkpoint) -> str:
    root = base64.b64encode(checkpoint.root).decode()
    return f"{checkpoint.origin}\n{checkpoint.size}\n{root}\n"


def parse_checkpoint(text: str) -> Checkpoint:
    lines = text.split("\n")
    try:
        origin, size, root = lines[0], int(lines[1]), base64.b64decode(lines[2], validate=True)
    except (IndexError, ValueError, binascii.Error) as exc:
        raise NoteError("not a checkpoint") from exc
    if not origin or size < 0 or len(root) != 32 or str(size) != lines[1]:
        raise NoteError("not a checkpoint")
    return Checkpoint(origin, size, root)
