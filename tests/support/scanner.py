"""A secret scanner on loopback, speaking GitHub's secret-scanning partner protocol.

It publishes its ECDSA P-256 public keys at ``keys_url`` in GitHub's format
(``{"public_keys": [{"key_identifier", "key", "is_current"}]}``) and signs the reports it
sends (``Github-Public-Key-Identifier``, ``Github-Public-Key-Signature``: base64 DER over the
body, SHA-256), as GitHub does.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

__all__ = ["Scanner", "serve_scanner"]


class Scanner:
    """The scanner's key pairs, the requests for its keys, and its signed reports."""

    def __init__(self) -> None:
        self.url = ""
        self.keys: dict[str, ec.EllipticCurvePrivateKey] = {}
        self.key_requests = 0
        self.current = self.add_key()

    @property
    def keys_url(self) -> str:
        return self.url + "/meta/public_keys/secret_scanning"

    def add_key(self) -> str:
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        key_id = hashlib.sha256(pem).hexdigest()
        self.keys[key_id] = key
        return key_id

    def document(self) -> dict[str, Any]:
        keys = []
        for key_id, key in self.keys.items():
            pem = key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            keys.append(
                {
                    "key_identifier": key_id,
                    "key": pem.decode(),
                    "is_current": key_id == self.current,
                }
            )
        return {"public_keys": keys}

    def sign(self, payload: bytes, key: ec.EllipticCurvePrivateKey | None = None) -> str:
        signer = key or self.keys[self.current]
        return base64.b64encode(signer.sign(payload, ec.ECDSA(hashes.SHA256()))).decode()

    def report(
        self, records: Any, *, key: ec.EllipticCurvePrivateKey | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """A report's body and headers, signed with the current key (or ``key``: a forger's)."""
        payload = json.dumps(records).encode()
        headers = {
            "Content-Type": "application/json",
            "Github-Public-Key-Identifier": self.current,
            "Github-Public-Key-Signature": self.sign(payload, key),
        }
        return payload, headers


def _handler(scanner: Scanner) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            if self.path != "/meta/public_keys/secret_scanning":
                self.send_error(404)
                return
            scanner.key_requests += 1
            data = json.dumps(scanner.document()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@contextlib.contextmanager
def serve_scanner() -> Iterator[Scanner]:
    """Publish a new scanner's keys on a free loopback port."""
    scanner = Scanner()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(scanner))
    scanner.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield scanner
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
