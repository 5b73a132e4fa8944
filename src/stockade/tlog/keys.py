"""The log's signing key: a PEM file, made on first use (mode 0600) unless one is configured."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from stockade.config import Settings
from stockade.tlog.note import VerifierKey, verifier_key

__all__ = ["LogSigner", "key_path", "load_signer", "origin_of"]


@dataclass(frozen=True)
class LogSigner:
    """The log's name (its checkpoints' origin line) and its key."""

    origin: str
    private: Ed25519PrivateKey

    @property
    def verifier(self) -> VerifierKey:
        return verifier_key(self.origin, self.private)


def key_path(settings: Settings) -> Path:
    return Path(settings.log_key_file) if settings.log_key_file else settings.data_dir / "log.key"


def origin_of(settings: Settings) -> str:
    """The log's origin line: ``log_origin``, else the base URL's host and path + ``/log``."""
    if settings.log_origin:
        return settings.log_origin
    url = urlsplit(settings.base_url or "http://localhost")
    return f"{url.netloc}{url.path.rstrip('/')}/log"


def _create(path: Path) -> None:
    """Write a new key next to ``path`` and link it into place: two workers racing for the
    first key both end up with the one that got there first."""
    pem = Ed25519PrivateKey.generate().private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_signer(settings: Settings) -> LogSigner:
    """The configured key, or the data folder's, made now if there is none yet."""
    path = key_path(settings)
    if not path.exists() and not settings.log_key_file:
        _create(path)
    key = load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return LogSigner(origin_of(settings), key)
