"""WebAuthn security keys (py_webauthn): registering keys, and checking them at login.

Challenges are stored server-side, bound to the user (registration) or to the pending login
(authentication), expire after a few minutes and work once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from stockade.accounts.models import User
from stockade.accounts.services import verify_password
from stockade.accounts.twofactor.factors import (
    WRONG_PASSWORD,
    TwoFactorError,
    factor_added,
    has_two_factor,
    lock_account,
    require_verified_email,
)
from stockade.accounts.twofactor.models import PendingLogin, WebAuthnChallenge, WebAuthnKey
from stockade.config import Settings
from stockade.db.base import utcnow
from stockade.events.services import Origin, record

__all__ = [
    "MAX_KEYS",
    "RelyingParty",
    "authentication_options",
    "check_key_login",
    "register_key",
    "registration_options",
    "relying_party",
]

MAX_KEYS = 10
CHALLENGE_LIFETIME = dt.timedelta(minutes=5)
_REGISTER = "register"
_AUTHENTICATE = "authenticate"
_MAX_CREDENTIAL = 64 * 1024
BAD_KEY_RESPONSE = "The security key's answer could not be verified. Try again."


# py_webauthn (with cryptography, cbor2, pyOpenSSL and pyasn1) is imported by the functions that
# use it, not at start-up: no page request needs it, and it costs every worker ~15 MiB.


def _bad_input() -> tuple[type[Exception], ...]:
    """What a malformed or forged answer can raise inside py_webauthn (WebAuthnException is the
    base of all its own errors; the rest come from parsing): never a 500. Called in ``except``
    clauses, i.e. only once something was raised."""
    from webauthn.helpers.exceptions import WebAuthnException

    return (WebAuthnException, ValueError, KeyError, TypeError, IndexError)


@dataclass(frozen=True)
class RelyingParty:
    """Who the browser is asked to create and use credentials for."""

    id: str
    origin: str
    name: str


def relying_party(settings: Settings, base_url: str) -> RelyingParty:
    """The RP from settings ``webauthn_rp_id`` / ``webauthn_origin``, else from ``base_url``
    (the configured base URL, else the URL the request came to)."""
    parts = urlsplit(settings.webauthn_origin or base_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    return RelyingParty(settings.webauthn_rp_id or parts.hostname or "", origin, settings.site_name)


def _keys(session: Session, user_id: int) -> list[WebAuthnKey]:
    return list(
        session.scalars(
            select(WebAuthnKey).where(WebAuthnKey.user_id == user_id).order_by(WebAuthnKey.id)
        )
    )


def _store_challenge(
    session: Session,
    user_id: int,
    purpose: str,
    challenge: bytes,
    pending_login_id: int | None = None,
) -> None:
    from webauthn.helpers import bytes_to_base64url

    now = utcnow()
    session.execute(
        delete(WebAuthnChallenge).where(
            WebAuthnChallenge.user_id == user_id, WebAuthnChallenge.expires_at < now
        )
    )
    session.add(
        WebAuthnChallenge(
            user_id=user_id,
            purpose=purpose,
            pending_login_id=pending_login_id,
            challenge=bytes_to_base64url(challenge),
            created_at=now,
            expires_at=now + CHALLENGE_LIFETIME,
        )
    )


def _take_challenge(
    session: Session,
    client_data: bytes,
    *,
    user_id: int,
    purpose: str,
    pending_login_id: int | None = None,
) -> bytes | None:
    """Use up the challenge the browser signed, if it is ours, live and unused."""
    from webauthn.helpers import bytes_to_base64url, parse_client_data_json

    try:
        challenge = parse_client_data_json(client_data).challenge
    except _bad_input():
        return None
    query = update(WebAuthnChallenge).where(
        WebAuthnChallenge.challenge == bytes_to_base64url(challenge),
        WebAuthnChallenge.user_id == user_id,
        WebAuthnChallenge.purpose == purpose,
        WebAuthnChallenge.used_at.is_(None),
        WebAuthnChallenge.expires_at > utcnow(),
    )
    if pending_login_id is not None:
        query = query.where(WebAuthnChallenge.pending_login_id == pending_login_id)
    result = session.execute(
        query.values(used_at=utcnow()).execution_options(synchronize_session=False)
    )
    assert isinstance(result, CursorResult)
    return challenge if result.rowcount == 1 else None


def registration_options(session: Session, user: User, rp: RelyingParty) -> str:
    """The options (JSON) for ``navigator.credentials.create``; stores the challenge."""
    import webauthn
    from webauthn.helpers import base64url_to_bytes
    from webauthn.helpers.structs import (
        AuthenticatorSelectionCriteria,
        PublicKeyCredentialDescriptor,
        ResidentKeyRequirement,
        UserVerificationRequirement,
    )

    require_verified_email(session, user.id)
    keys = _keys(session, user.id)
    if len(keys) >= MAX_KEYS:
        raise TwoFactorError(f"An account can have at most {MAX_KEYS} security keys.")
    options = webauthn.generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_name=user.username,
        user_id=f"stockade-user-{user.id}".encode(),
        user_display_name=user.full_name or user.username,
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(k.credential_id)) for k in keys
        ],
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.DISCOURAGED,
            user_verification=UserVerificationRequirement.DISCOURAGED,
        ),
    )
    _store_challenge(session, user.id, _REGISTER, options.challenge)
    return webauthn.options_to_json(options)


def _clean_label(session: Session, user_id: int, label: str) -> str:
    label = " ".join(label.split())
    if not label:
        raise TwoFactorError("Give the security key a name, to tell your keys apart.")
    if len(label) > 64:
        raise TwoFactorError("The name of a security key can be at most 64 characters long.")
    taken = session.scalar(
        select(func.count(WebAuthnKey.id)).where(
            WebAuthnKey.user_id == user_id, WebAuthnKey.label == label
        )
    )
    if taken:
        raise TwoFactorError(f"You already have a security key named “{label}”.")
    return label


def register_key(
    session: Session,
    user: User,
    rp: RelyingParty,
    *,
    label: str,
    credential: str,
    password: str,
    origin: Origin,
) -> list[str]:
    """Verify the browser's new credential and keep it as a security key named ``label``.

    Needs the account's password (a stolen session alone must not add a factor) and a
    verified primary address. Returns the new recovery codes when this is the account's first
    factor, else []. Raises TwoFactorError when the answer does not verify.
    Event: ``account:two_factor:add``.
    """
    import webauthn
    from webauthn.helpers import bytes_to_base64url, parse_registration_credential_json

    lock_account(session, user.id)
    if not verify_password(user, password):
        raise TwoFactorError(WRONG_PASSWORD)
    require_verified_email(session, user.id)
    label = _clean_label(session, user.id, label)
    if len(_keys(session, user.id)) >= MAX_KEYS:
        raise TwoFactorError(f"An account can have at most {MAX_KEYS} security keys.")
    if not credential or len(credential) > _MAX_CREDENTIAL:
        raise TwoFactorError(BAD_KEY_RESPONSE)
    try:
        parsed = parse_registration_credential_json(credential)
    except _bad_input():
        raise TwoFactorError(BAD_KEY_RESPONSE) from None
    challenge = _take_challenge(
        session, parsed.response.client_data_json, user_id=user.id, purpose=_REGISTER
    )
    if challenge is None:
        raise TwoFactorError("This security key request has expired or was used. Try again.")
    try:
        verified = webauthn.verify_registration_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
        )
    except _bad_input() as exc:
        raise TwoFactorError(f"{BAD_KEY_RESPONSE} ({exc})") from None
    credential_id = bytes_to_base64url(verified.credential_id)
    if session.scalar(select(WebAuthnKey.id).where(WebAuthnKey.credential_id == credential_id)):
        raise TwoFactorError("This security key is already registered.")
    first = not has_two_factor(session, user.id)
    transports = parsed.response.transports or []
    session.add(
        WebAuthnKey(
            user_id=user.id,
            label=label,
            credential_id=credential_id,
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            transports=",".join(t.value for t in transports)[:200] or None,
        )
    )
    session.flush()
    return factor_added(
        session, user.id, first=first, method="webauthn", origin=origin, label=label
    )


def authentication_options(session: Session, pending: PendingLogin, rp: RelyingParty) -> str:
    """The options (JSON) for ``navigator.credentials.get`` at the second login step."""
    import webauthn
    from webauthn.helpers import base64url_to_bytes
    from webauthn.helpers.structs import PublicKeyCredentialDescriptor, UserVerificationRequirement

    keys = _keys(session, pending.user_id)
    if not keys:
        raise TwoFactorError("This account has no security key.")
    options = webauthn.generate_authentication_options(
        rp_id=rp.id,
        allow_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(k.credential_id)) for k in keys
        ],
        user_verification=UserVerificationRequirement.DISCOURAGED,
    )
    _store_challenge(session, pending.user_id, _AUTHENTICATE, options.challenge, pending.id)
    return webauthn.options_to_json(options)


def check_key_login(
    session: Session, pending: PendingLogin, rp: RelyingParty, credential: str, *, origin: Origin
) -> WebAuthnKey:
    """Verify a security key's answer at the second login step; returns the key used.

    A sign count that did not go up (when either count is non-zero) means a cloned key and is
    refused. Raises TwoFactorError (after recording ``account:login:failure``) otherwise.
    """
    import webauthn
    from webauthn.helpers import bytes_to_base64url, parse_authentication_credential_json

    def fail(reason: str, message: str = BAD_KEY_RESPONSE) -> TwoFactorError:
        record(
            session, "account:login:failure", origin=origin, user_id=pending.user_id, reason=reason
        )
        return TwoFactorError(message)

    if not credential or len(credential) > _MAX_CREDENTIAL:
        raise fail("invalid_webauthn")
    try:
        parsed = parse_authentication_credential_json(credential)
    except _bad_input():
        raise fail("invalid_webauthn") from None
    key = session.scalar(
        select(WebAuthnKey).where(
            WebAuthnKey.user_id == pending.user_id,
            WebAuthnKey.credential_id == bytes_to_base64url(parsed.raw_id),
        )
    )
    if key is None:
        raise fail("unknown_webauthn_key", "This security key is not registered to the account.")
    challenge = _take_challenge(
        session,
        parsed.response.client_data_json,
        user_id=pending.user_id,
        purpose=_AUTHENTICATE,
        pending_login_id=pending.id,
    )
    if challenge is None:
        raise fail("invalid_webauthn", "This security key request has expired. Try again.")
    try:
        verified = webauthn.verify_authentication_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            credential_public_key=key.public_key,
            credential_current_sign_count=key.sign_count,
        )
    except _bad_input() as exc:
        if "sign count" in str(exc):
            raise fail(
                "webauthn_sign_count",
                "This security key's signature counter went backwards, a sign that it was "
                "cloned. It was refused.",
            ) from None
        raise fail("invalid_webauthn") from None
    # Compare-and-set: of two concurrent uses of one answer only one moves the counter.
    moved = session.execute(
        update(WebAuthnKey)
        .where(WebAuthnKey.id == key.id, WebAuthnKey.sign_count == key.sign_count)
        .values(sign_count=verified.new_sign_count, last_used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    assert isinstance(moved, CursorResult)
    if moved.rowcount != 1:
        raise fail("webauthn_sign_count")
    session.refresh(key)
    return key
