"""Issuers' signing keys: OIDC discovery, then the JWKS, cached per issuer.

Keys rotate: a token signed with a key id the cache does not know triggers one refetch of the
issuer's key set, at most once per ``refetch_interval`` seconds (a flood of tokens with made-up
key ids must not turn into a flood of requests to the issuer).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: page requests never need PyJWT, cryptography, httpx
    import jwt

__all__ = ["ALGORITHMS", "KeyFetchError", "KeyStore"]

# Asymmetric algorithms only: "none" and HMAC (a key confusion attack) are never accepted.
ALGORITHMS = ("RS256", "ES256")


class KeyFetchError(Exception):
    """The issuer's keys could not be fetched, or it has no key with this id."""


@dataclass
class _Entry:
    keys: dict[str, jwt.PyJWK]
    fetched_at: float


class KeyStore:
    """Signing keys of OIDC issuers, fetched over HTTP(S) and cached in memory."""

    def __init__(
        self,
        *,
        verify: bool | str = True,
        timeout: float = 5.0,
        max_age: float = 3600.0,
        refetch_interval: float = 30.0,
    ) -> None:
        self._verify = verify
        self._timeout = timeout
        self._max_age = max_age
        self._refetch_interval = refetch_interval
        self._entries: dict[str, _Entry] = {}
        # One lock per issuer: a slow issuer holds up only the exchanges of its own tokens.
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()

    def _lock(self, issuer: str) -> threading.Lock:
        with self._locks_lock:
            return self._locks.setdefault(issuer, threading.Lock())

    def key(self, issuer: str, kid: str | None) -> jwt.PyJWK:
        """The issuer's key with this id (or its only key when the token names none)."""
        now = time.monotonic()
        with self._lock(issuer):
            entry = self._entries.get(issuer)
            stale = entry is None or now - entry.fetched_at > self._max_age
            unknown = entry is not None and _pick(entry.keys, kid) is None
            may_refetch = entry is None or now - entry.fetched_at > self._refetch_interval
            if stale or (unknown and may_refetch):
                entry = _Entry(self._fetch(issuer), now)
                self._entries[issuer] = entry
        assert entry is not None
        found = _pick(entry.keys, kid)
        if found is None:
            raise KeyFetchError(f"the issuer has no signing key {kid!r}")
        return found

    def _fetch(self, issuer: str) -> dict[str, jwt.PyJWK]:
        import httpx
        import jwt

        try:
            with httpx.Client(verify=self._verify, timeout=self._timeout) as client:
                discovery = client.get(f"{issuer}/.well-known/openid-configuration")
                discovery.raise_for_status()
                config = discovery.json()
                if not isinstance(config, dict) or config.get("issuer", "").rstrip(
                    "/"
                ) != issuer.rstrip("/"):
                    raise KeyFetchError("the issuer's discovery document names another issuer")
                jwks_uri = config.get("jwks_uri")
                if not isinstance(jwks_uri, str):
                    raise KeyFetchError("the issuer's discovery document has no jwks_uri")
                response = client.get(jwks_uri)
                response.raise_for_status()
                document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise KeyFetchError(f"could not fetch the issuer's keys ({exc})") from exc
        keys: dict[str, jwt.PyJWK] = {}
        for raw in document.get("keys", []) if isinstance(document, dict) else []:
            try:
                key = jwt.PyJWK(raw)
            except (jwt.PyJWKError, jwt.InvalidKeyError):
                continue  # a key type or algorithm this index does not use
            if key.algorithm_name in ALGORITHMS or "alg" not in raw:
                keys[str(raw.get("kid", ""))] = key
        return keys


def _pick(keys: dict[str, jwt.PyJWK], kid: str | None) -> jwt.PyJWK | None:
    if kid is None:
        return next(iter(keys.values())) if len(keys) == 1 else None
    return keys.get(kid)
