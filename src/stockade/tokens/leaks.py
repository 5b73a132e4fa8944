"""Tokens reported leaked by a secret scanner: revoked at once, their owner told where.

A report is a JSON list of ``{"token", "type", "url", "source"}`` records, as GitHub's secret
scanning sends them to its partners. Each record whose token is one of ours (its macaroon's
signature checks out against the index's secret key, whatever its caveats say) revokes the
token, records ``token:leak`` and mails the token's user the public address it was found at.
Records that are malformed or name no token of ours are skipped without a word: the scanner
is told nothing about which tokens exist.

An API token reads ``stockade-`` followed by a macaroon serialized (pymacaroons' v1 format,
base64url) starting with its location packet, ``0016location stockade``: every token starts
with ``stockade-MDAxNmxvY2F0aW9uIHN0b2NrYWRl`` (:data:`TOKEN_PATTERN`), which is what scanners
are given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pymacaroons import Macaroon, Verifier
from sqlalchemy import select
from sqlalchemy.orm import Session

from stockade.accounts.models import User
from stockade.db.base import utcnow
from stockade.events.services import Origin, record
from stockade.mail import Message
from stockade.tokens.models import ApiToken
from stockade.tokens.services import TOKEN_PREFIX, root_key

__all__ = ["TOKEN_PATTERN", "TOKEN_TYPE", "Disclosure", "LeakReportError", "revoke_leaked"]

# The regular expression scanners match tokens with ("stockade" is the macaroon's location).
TOKEN_PATTERN = r"stockade-MDAxNmxvY2F0aW9uIHN0b2NrYWRl[A-Za-z0-9_=-]{100,}"  # noqa: S105  (a regex, no secret)
# The ``type`` a scanner gives our tokens' matches.
TOKEN_TYPE = "stockade_api_token"  # noqa: S105  (a pattern's name, not a secret)
_TOKEN_RE = re.compile(TOKEN_PATTERN)
# A report is a handful of records; more than this is not a scanner's.
MAX_RECORDS = 1000


class LeakReportError(ValueError):
    """The report is not a list of disclosure records."""


@dataclass(frozen=True)
class Disclosure:
    """One record of a report: a token (as found), where it was found and by what."""

    token: str
    url: str
    source: str

    @classmethod
    def parse(cls, record: object) -> Disclosure | None:
        """The record, or None when it is not one of ours or lacks a field."""
        if not isinstance(record, dict):
            return None
        token, kind, url = record.get("token"), record.get("type"), record.get("url")
        if not (isinstance(token, str) and isinstance(url, str)) or kind != TOKEN_TYPE:
            return None
        source = record.get("source")
        return cls(token.strip(), url[:2000], source[:100] if isinstance(source, str) else "")


def parse_report(body: Any) -> list[Disclosure]:
    """The report's records that name a token of ours. Raises LeakReportError when the body
    is not a list (as PyPI, the scanner gets a 400 for it)."""
    if not isinstance(body, list) or len(body) > MAX_RECORDS:
        raise LeakReportError("the report is not a list of disclosures")
    found = [Disclosure.parse(item) for item in body]
    return [d for d in found if d is not None]


def _find(session: Session, raw: str, secret_key: str) -> ApiToken | None:
    """The token row of a raw token whose macaroon is genuinely ours, caveats aside (an
    expired or narrowed token is still the leaked one), else None."""
    if not _TOKEN_RE.fullmatch(raw) or not raw.startswith(TOKEN_PREFIX):
        return None
    try:
        macaroon = Macaroon.deserialize(raw[len(TOKEN_PREFIX) :])
        identifier = macaroon.identifier
        if isinstance(identifier, bytes):
            identifier = identifier.decode("ascii")
    except Exception:  # pymacaroons' decoders raise struct.error, IndexError … on garbage
        return None
    token = session.scalar(select(ApiToken).where(ApiToken.identifier == identifier))
    if token is None:
        return None
    verifier = Verifier()
    verifier.satisfy_general(lambda _caveat: True)
    try:
        verifier.verify(macaroon, root_key(secret_key, identifier))
    except Exception:  # a forged or altered signature: not a token of ours
        return None
    return token


def revoke_leaked(
    session: Session,
    disclosures: list[Disclosure],
    *,
    secret_key: str,
    origin: Origin,
    site_name: str,
    base_url: str,
) -> list[Message]:
    """Revoke each disclosed token of ours and record it; returns the mail for the tokens'
    users, to deliver after the commit. A token already revoked is recorded again (a new
    place it was found at) and its user told again."""
    messages: list[Message] = []
    for disclosure in disclosures:
        token = _find(session, disclosure.token, secret_key)
        if token is None:
            continue
        was_active = token.revoked_at is None
        if was_active:
            token.revoked_at = utcnow()
        record(
            session,
            "token:leak",
            origin=origin,
            user_id=token.user_id,
            token_id=token.id,
            name=token.name,
            url=disclosure.url,
            source=disclosure.source or None,
            publisher_id=token.publisher_id,
            revoked=was_active,
        )
        user = session.get(User, token.user_id) if token.user_id is not None else None
        email = user.primary_email if user is not None else None
        if user is None or email is None or not email.verified:
            continue
        messages.append(
            Message(
                to=email.email,
                subject=f"[{site_name}] Your API token {token.name!r} was found in public",
                body=(
                    f"Your API token {token.name!r} on {site_name} was found in public by a "
                    "secret scanner, and has been revoked: it can no longer upload.\n\n"
                    f"Where it was found: {disclosure.url}\n"
                    + (f"Found by: {disclosure.source}\n" if disclosure.source else "")
                    + "\nRemove it from there (and from the history of the repository it is "
                    "in), check the recent uploads of your projects in your security history, "
                    "and create a new token if you still need one:\n"
                    f"{base_url}/manage/account/tokens/\n"
                ),
            )
        )
    return messages
