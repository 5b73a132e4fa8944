"""Key files and signers.

The offline keys (root, a threshold of them, and targets) are PEM files in a folder the
operator moves off the server after ``stockade tuf init``. The online key (bins, bin-n,
snapshot, timestamp) is reached through a securesystemslib private-key URI: by default the
key file ``<data>/tuf/online.pem`` (``file2:``), or any signer securesystemslib knows (a KMS,
an HSM) named by the ``tuf_online_signer`` setting.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.serialization import load_pem_private_key
from securesystemslib.signer import CryptoSigner, Key, Signer

from stockade.config import Settings

__all__ = [
    "ONLINE_KEY_FILE",
    "generate_key_file",
    "load_key_file",
    "offline_signers",
    "online_key_uri",
    "online_signer",
]

ONLINE_KEY_FILE = "online.pem"


def generate_key_file(path: Path) -> CryptoSigner:
    """A new Ed25519 key, written to ``path`` (PKCS#8 PEM, readable by its owner only)."""
    signer = CryptoSigner.generate_ed25519()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(signer.private_bytes)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    return signer


def load_key_file(path: Path) -> CryptoSigner:
    """The signer of a key file written by :func:`generate_key_file`."""
    return CryptoSigner(load_pem_private_key(path.read_bytes(), password=None))


def offline_signers(keys_dir: Path, prefix: str) -> list[CryptoSigner]:
    """Every ``<prefix>*.pem`` key in the offline keys folder."""
    return [load_key_file(p) for p in sorted(keys_dir.glob(f"{prefix}*.pem"))]


def online_key_uri(settings: Settings) -> str:
    """The online signer's private-key URI."""
    return settings.tuf_online_signer or f"file2:{settings.data_dir / 'tuf' / ONLINE_KEY_FILE}"


def online_signer(settings: Settings, public_key: Key) -> Signer:
    """The online signer for ``public_key`` (the key root lists for timestamp)."""
    return Signer.from_priv_key_uri(online_key_uri(settings), public_key)
