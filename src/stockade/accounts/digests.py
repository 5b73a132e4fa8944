"""How the accounts domain stores a secret it hands out: only its sha256.

Session cookies, mailed links, pending logins and recovery codes are random secrets shown to
their owner once; the database keeps their digest, so a copy of it logs nobody in. The secrets
carry 64 bits or more of randomness, so a plain (unsalted, fast) hash is enough to look them up.
"""

from __future__ import annotations

import hashlib

__all__ = ["sha256_hex"]


def sha256_hex(secret: str) -> str:
    """The hex sha256 of ``secret`` (UTF-8): the form under which a secret is stored and
    looked up."""
    return hashlib.sha256(secret.encode()).hexdigest()
