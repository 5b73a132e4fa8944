"""API tokens as macaroons, PyPI-style.

A token reads ``stockade-<serialized macaroon>``. The macaroon's identifier finds the database
row; its root key is derived from the server's secret key and the identifier, so nothing
stored in the database is enough to forge or use a token. First-party caveats (JSON) bind it
to its user, optionally to projects and to a validity window. Anyone holding a token can add
caveats to narrow it further (attenuation); every caveat must hold.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

from pymacaroons import Macaroon, Verifier
from pymacaroons.exceptions import MacaroonException
from sqlalchemy import select
from sqlalchemy.orm import Session

from stockade.accounts.models import User
from stockade.db.base import utcnow
from stockade.events.services import Origin, record
from stockade.tokens.models import ApiToken

__all__ = [
    "TOKEN_PREFIX",
    "AuthenticatedToken",
    "TokenError",
    "check_token",
    "create_publisher_token",
    "create_token",
    "revoke_token",
    "root_key",
    "signed_in",
]

TOKEN_PREFIX = "stockade-"  # noqa: S105  (a public prefix, not a secret)
_LOCATION = "stockade"


class TokenError(ValueError):
    """The token is malformed, unknown, expired, revoked, or its user is disabled.

    The message is safe to show to the client.
    """


@dataclass(frozen=True)
class AuthenticatedToken:
    """A token that passed every check, and what it may do."""

    token_id: int
    # The token's user. A trusted publisher's token has no user: then user_id is 0, username
    # is empty and publisher_id is set; use ``actor_id`` for events and rows.
    user_id: int
    username: str
    # Normalized project names the token is limited to; None means no project limit.
    projects: frozenset[str] | None
    # The trusted publisher (stockade.oidc) a short-lived upload token was minted for.
    publisher_id: int | None = None

    def allows(self, normalized_project: str) -> bool:
        """Whether the token's caveats allow uploading to this project."""
        return self.projects is None or normalized_project in self.projects

    @property
    def actor_id(self) -> int | None:
        """The user acting with this token; None for a trusted publisher's token."""
        return None if self.publisher_id is not None else self.user_id

    @property
    def api_token_id(self) -> int | None:
        """The API token's id; None for a user acting from the web pages (:func:`signed_in`)."""
        return self.token_id or None


def signed_in(user_id: int, username: str, normalized_project: str) -> AuthenticatedToken:
    """A logged-in user acting on one project from its management pages, as the upload rules
    see a principal: their role on the project (and the 2FA rule) decide, as for their token;
    no API token is involved (``token_id`` 0, ``api_token_id`` None)."""
    return AuthenticatedToken(0, user_id, username, frozenset({normalized_project}))


def root_key(secret_key: str, identifier: str) -> bytes:
    """The macaroon root key of the token with this identifier."""
    return hmac.new(
        secret_key.encode(), b"stockade-macaroon-v1:" + identifier.encode(), hashlib.sha256
    ).digest()


def create_token(
    session: Session,
    user: User,
    *,
    secret_key: str,
    name: str,
    projects: list[str] | None = None,
    expires_days: int | None = None,
    origin: Origin,
) -> str:
    """Create a token for ``user`` and return it; this is the only time it is visible."""
    now = utcnow()
    identifier = secrets.token_hex(16)
    expires_at = now + dt.timedelta(days=expires_days) if expires_days else None
    names = sorted(set(projects)) if projects else None
    row = ApiToken(
        user_id=user.id, name=name, identifier=identifier, projects=names, expires_at=expires_at
    )
    session.add(row)
    session.flush()
    macaroon = Macaroon(
        location=_LOCATION, identifier=identifier, key=root_key(secret_key, identifier)
    )
    macaroon.add_first_party_caveat(json.dumps({"t": "user", "id": user.id}))
    if names is not None:
        macaroon.add_first_party_caveat(json.dumps({"t": "projects", "names": names}))
    if expires_at is not None:
        window = {"t": "expiry", "nbf": int(now.timestamp()), "exp": int(expires_at.timestamp())}
        macaroon.add_first_party_caveat(json.dumps(window))
    record(
        session,
        "token:create",
        origin=origin,
        actor_id=user.id,
        user_id=user.id,
        token_id=row.id,
        name=name,
        projects=names,
        expires=expires_at.isoformat() if expires_at else None,
    )
    serialized: str = macaroon.serialize()
    return TOKEN_PREFIX + serialized


def create_publisher_token(
    session: Session,
    publisher_id: int,
    normalized_project: str,
    *,
    secret_key: str,
    lifetime: dt.timedelta,
) -> tuple[str, ApiToken]:
    """A short-lived upload token for a trusted publisher, limited to its one project.

    The caller records the exchange (stockade.oidc.services); the token is shown only once.
    """
    now = utcnow()
    identifier = secrets.token_hex(16)
    expires_at = now + lifetime
    row = ApiToken(
        user_id=None,
        publisher_id=publisher_id,
        name=f"trusted publisher {publisher_id}",
        identifier=identifier,
        projects=[normalized_project],
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    macaroon = Macaroon(
        location=_LOCATION, identifier=identifier, key=root_key(secret_key, identifier)
    )
    macaroon.add_first_party_caveat(json.dumps({"t": "publisher", "id": publisher_id}))
    macaroon.add_first_party_caveat(json.dumps({"t": "projects", "names": [normalized_project]}))
    window = {"t": "expiry", "nbf": int(now.timestamp()), "exp": int(expires_at.timestamp())}
    macaroon.add_first_party_caveat(json.dumps(window))
    serialized: str = macaroon.serialize()
    return TOKEN_PREFIX + serialized, row


class _Caveats:
    """Checks each first-party caveat; collects the project limits."""

    def __init__(self, user_id: int | None, publisher_id: int | None, now: dt.datetime) -> None:
        self.user_id = user_id
        self.publisher_id = publisher_id
        self.now = int(now.timestamp())
        self.projects: frozenset[str] | None = None
        self.failure: str | None = None

    def __call__(self, predicate: str) -> bool:
        try:
            caveat: Any = json.loads(predicate)
            kind = caveat["t"]
        except (ValueError, KeyError, TypeError):
            self.failure = "the token has a caveat this index does not understand"
            return False
        if kind == "user":
            ok = self.user_id is not None and caveat.get("id") == self.user_id
            if not ok:
                self.failure = "the token does not belong to its user"
            return bool(ok)
        if kind == "publisher":
            ok = self.publisher_id is not None and caveat.get("id") == self.publisher_id
            if not ok:
                self.failure = "the token does not belong to its trusted publisher"
            return bool(ok)
        if kind == "projects":
            names = caveat.get("names")
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                self.failure = "the token has a malformed project caveat"
                return False
            mine = frozenset(names)
            self.projects = mine if self.projects is None else self.projects & mine
            return True
        if kind == "expiry":
            nbf, exp = caveat.get("nbf"), caveat.get("exp")
            # bool is an int to Python, not to a token: True is not a time.
            if type(nbf) is not int or type(exp) is not int:
                self.failure = "the token has a malformed expiry caveat"
                return False
            if not nbf <= self.now < exp:
                self.failure = "the token has expired" if self.now >= exp else "not yet valid"
                return False
            return True
        self.failure = "the token has a caveat this index does not understand"
        return False


def check_token(session: Session, raw: str, *, secret_key: str) -> AuthenticatedToken:
    """Check a token presented by a client. Raises TokenError with a reason."""
    if not raw.startswith(TOKEN_PREFIX):
        raise TokenError("malformed token")
    try:
        macaroon = Macaroon.deserialize(raw[len(TOKEN_PREFIX) :])
        identifier = macaroon.identifier
        if isinstance(identifier, bytes):
            identifier = identifier.decode("ascii")
    except Exception as exc:  # pymacaroons' decoders raise struct.error, IndexError … on garbage
        raise TokenError("malformed token") from exc
    row = session.execute(
        select(ApiToken, User)
        .outerjoin(User, User.id == ApiToken.user_id)
        .where(ApiToken.identifier == identifier)
    ).one_or_none()
    if row is None:
        raise TokenError("unknown token")
    token, user = row
    if user is None and token.publisher_id is None:
        raise TokenError("unknown token")
    now = utcnow()
    caveats = _Caveats(user.id if user else None, token.publisher_id, now)
    verifier = Verifier()
    verifier.satisfy_general(caveats)
    try:
        verifier.verify(macaroon, root_key(secret_key, identifier))
    except MacaroonException as exc:
        raise TokenError(caveats.failure or "invalid token signature") from exc
    except Exception as exc:  # pymacaroons raises bare Exception subclasses on bad input
        raise TokenError("malformed token") from exc
    if token.revoked_at is not None:
        raise TokenError("the token was revoked")
    if token.expires_at is not None and token.expires_at <= now:
        raise TokenError("the token has expired")
    if user is not None and not user.is_active:
        raise TokenError("the token's user is disabled")
    projects = caveats.projects
    if token.projects is not None:
        stored = frozenset(token.projects)
        projects = stored if projects is None else projects & stored
    if user is None:
        return AuthenticatedToken(token.id, 0, "", projects, publisher_id=token.publisher_id)
    return AuthenticatedToken(token.id, user.id, user.username, projects)


def revoke_token(
    session: Session, token: ApiToken, *, actor_id: int | None, origin: Origin
) -> None:
    """Revoke a token (idempotent) and record it."""
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        record(
            session,
            "token:revoke",
            origin=origin,
            actor_id=actor_id,
            user_id=token.user_id,
            token_id=token.id,
            name=token.name,
        )
