"""A real OIDC issuer on loopback: discovery document, JWKS, JWTs signed with RSA and EC keys.

It also plays GitHub Actions' token endpoint (``ACTIONS_ID_TOKEN_REQUEST_URL``): a GET with
``Authorization: Bearer <request token>`` and ``?audience=…`` returns ``{"value": <JWT>}``
carrying ``github_claims``. Served over HTTP, or HTTPS with a test CA (tests/support/tls.py).
"""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from support.tls import Certificates

REQUEST_TOKEN = "ghs-test-request-token"


_KEYS: dict[tuple[str, int], Any] = {}


def _private_key(kind: str, number: int) -> Any:
    # RSA key generation is slow: each issuer's n-th key of a kind is the same across tests
    # (distinct keys within one issuer are all a test needs).
    if (kind, number) not in _KEYS:
        _KEYS[kind, number] = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            if kind == "rsa"
            else ec.generate_private_key(ec.SECP256R1())
        )
    return _KEYS[kind, number]


class Issuer:
    """Signing keys and what the issuer serves. Tests change ``github_claims`` and call
    ``token(...)`` to make JWTs; ``jwks_requests`` counts key-set fetches."""

    def __init__(self) -> None:
        self.url = ""
        self.keys: dict[str, tuple[str, Any]] = {}
        self.published: list[str] = []
        self.jwks_requests = 0
        self.token_requests: list[str] = []
        self.github_claims: dict[str, Any] = {}
        self.add_key("rsa")
        self.add_key("ec")

    def add_key(self, kind: str, *, publish: bool = True) -> str:
        """Make a new key ("rsa" → RS256, "ec" → ES256); returns its kid."""
        kid = f"{kind}-{secrets.token_hex(4)}"
        number = sum(1 for k in self.keys if k.startswith(kind + "-"))
        self.keys[kid] = ("RS256" if kind == "rsa" else "ES256", _private_key(kind, number))
        if publish:
            self.published.append(kid)
        return kid

    def kid(self, kind: str) -> str:
        return next(k for k in self.published if k.startswith(kind + "-"))

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid in self.published:
            alg, private = self.keys[kid]
            algorithm = jwt.get_algorithm_by_name(alg)
            jwk = json.loads(algorithm.to_jwk(private.public_key()))
            keys.append({**jwk, "kid": kid, "alg": alg, "use": "sig"})
        return {"keys": keys}

    def token(
        self,
        claims: dict[str, Any],
        *,
        kind: str = "rsa",
        kid: str | None = None,
        algorithm: str | None = None,
        key: Any = None,
    ) -> str:
        """A JWT with ``claims`` (iss, iat, nbf, exp, jti filled in unless given)."""
        kid = kid or self.kid(kind)
        alg, private = self.keys[kid]
        now = int(time.time())
        body = {
            "iss": self.url,
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "jti": str(uuid.uuid4()),
            **claims,
        }
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(
            body,
            key if key is not None else private,
            algorithm=algorithm or alg,
            headers={"kid": kid},
        )


def github_claims(
    audience: str,
    *,
    owner: str = "octo",
    owner_id: str = "4242",
    repository: str = "tools",
    workflow: str = "release.yml",
    environment: str | None = None,
    event_name: str = "push",
) -> dict[str, Any]:
    """Claims shaped like a GitHub Actions ID token's."""
    repo = f"{owner}/{repository}"
    ref = f"{repo}/.github/workflows/{workflow}@refs/heads/main"
    return {
        "aud": audience,
        "sub": f"repo:{repo}:ref:refs/heads/main",
        "ref": "refs/heads/main",
        "sha": "4f1c0d2b8e1a9c3f5d6e7a8b9c0d1e2f3a4b5c6d",
        "repository": repo,
        "repository_owner": owner,
        "repository_owner_id": owner_id,
        "repository_id": "987654",
        "run_id": "1234",
        "run_number": "7",
        "run_attempt": "1",
        "actor": owner,
        "actor_id": owner_id,
        "workflow": "Release",
        "workflow_ref": ref,
        "job_workflow_ref": ref,
        "event_name": event_name,
        "ref_type": "branch",
        "environment": environment,
        "runner_environment": "github-hosted",
    }


def _handler(issuer: Issuer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _json(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/.well-known/openid-configuration":
                self._json(
                    200,
                    {
                        "issuer": issuer.url,
                        "jwks_uri": issuer.url + "/.well-known/jwks",
                        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                        "response_types_supported": ["id_token"],
                        "subject_types_supported": ["public"],
                    },
                )
            elif parts.path == "/.well-known/jwks":
                issuer.jwks_requests += 1
                self._json(200, issuer.jwks())
            elif parts.path == "/gh-oidc":
                auth = self.headers.get("Authorization", "")
                if auth.lower() != f"bearer {REQUEST_TOKEN}":
                    self._json(401, {"message": "bad request token"})
                    return
                audience = parse_qs(parts.query).get("audience", [""])[0]
                issuer.token_requests.append(audience)
                claims = {**issuer.github_claims, "aud": audience}
                self._json(200, {"value": issuer.token(claims), "count": 1})
            else:
                self._json(404, {"message": "not found"})

    return Handler


@contextlib.contextmanager
def serve_issuer(certificates: Certificates | None = None) -> Iterator[Issuer]:
    """Run an issuer on a free loopback port (HTTPS when given certificates)."""
    issuer = Issuer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(issuer))
    scheme = "http"
    if certificates is not None:
        server.socket = certificates.server_context().wrap_socket(server.socket, server_side=True)
        scheme = "https"
    issuer.url = f"{scheme}://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield issuer
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
