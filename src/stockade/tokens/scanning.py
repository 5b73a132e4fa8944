"""The secret scanner's signature on a token-leak report.

GitHub's secret scanning (and any scanner speaking its partner protocol) signs each report's
body with ECDSA over SHA-256 and names the key in ``Github-Public-Key-Identifier``; the
signature (``Github-Public-Key-Signature``) is base64 DER. The public keys are published as
``{"public_keys": [{"key_identifier", "key" (PEM), "is_current"}]}`` at
``secret_scanning_keys_url``; they are fetched and cached per worker, fetched again when the
cache is old or a report names a key it does not hold (at most every ``refetch_interval``
seconds, so forged key ids cannot make the index hammer the scanner).
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key

__all__ = ["ScannerKeys", "SignatureError"]


class SignatureError(ValueError):
    """The report is not signed by the scanner (or its keys could not be read)."""


@dataclass(frozen=True)
class _Fetched:
    keys: dict[str, ec.EllipticCurvePublicKey]
    at: float


class ScannerKeys:
    """The scanner's public keys, fetched over HTTP(S) and cached in memory."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        max_age: float = 1800.0,
        refetch_interval: float = 30.0,
    ) -> None:
        self.url = url
        self._timeout = timeout
        self._max_age = max_age
        self._refetch_interval = refetch_interval
        # When the last fetch failed: reports do not fetch again before the refetch interval,
        # so a flood of forged reports cannot make the index hammer the scanner's key URL.
        self._failed_at: float | None = None
        self._fetched: _Fetched | None = None
        self._lock = threading.Lock()

    def verify(self, payload: bytes, key_id: str, signature: str) -> None:
        """Raise SignatureError unless ``signature`` is the scanner's on ``payload``."""
        try:
            der = base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SignatureError("the signature is not base64") from exc
        key = self._key(key_id)
        try:
            key.verify(der, payload, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature as exc:
            raise SignatureError("the signature does not match the report") from exc

    def _key(self, key_id: str) -> ec.EllipticCurvePublicKey:
        now = time.monotonic()
        with self._lock:
            fetched = self._fetched
            stale = fetched is None or now - fetched.at > self._max_age
            unknown = fetched is not None and key_id not in fetched.keys
            may_refetch = fetched is None or now - fetched.at > self._refetch_interval
            failed_lately = (
                self._failed_at is not None and now - self._failed_at < self._refetch_interval
            )
            if (stale or (unknown and may_refetch)) and not failed_lately:
                try:
                    fetched = _Fetched(self._fetch(), now)
                    self._fetched, self._failed_at = fetched, None
                except SignatureError:
                    # The keys known before (if any) stay in use until a fetch succeeds.
                    self._failed_at = now
                    if fetched is None:
                        raise
            if fetched is None:
                raise SignatureError("the scanner's public keys could not be read lately")
        assert fetched is not None
        key = fetched.keys.get(key_id)
        if key is None:
            raise SignatureError(f"the scanner has no public key {key_id!r}")
        return key

    def _fetch(self) -> dict[str, ec.EllipticCurvePublicKey]:
        import httpx

        try:
            with httpx.Client(timeout=self._timeout) as client:
                response = client.get(self.url, headers={"Accept": "application/json"})
                response.raise_for_status()
                document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise SignatureError(f"the scanner's public keys could not be read: {exc}") from exc
        entries = document.get("public_keys") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            raise SignatureError("the scanner's key document has no public_keys list")
        keys: dict[str, ec.EllipticCurvePublicKey] = {}
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            key_id, pem = entry.get("key_identifier"), entry.get("key")
            if not isinstance(key_id, str) or not isinstance(pem, str):
                continue
            try:
                key = load_pem_public_key(pem.encode())
            except ValueError:
                continue
            if isinstance(key, ec.EllipticCurvePublicKey):
                keys[key_id] = key
        return keys
