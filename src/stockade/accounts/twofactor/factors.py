"""Two-factor authentication: which factors an account has, enrolling and removing TOTP, and
removing every factor (for the admin-approved account recovery).

The interface other domains use is ``two_factor_methods``, ``has_two_factor`` and
``remove_all_factors``; ``enable_totp`` enrols TOTP without the web flow.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from stockade.accounts.models import User, UserEmail
from stockade.accounts.services import verify_password
from stockade.accounts.twofactor.models import (
    PendingLogin,
    RecoveryCode,
    TotpSecret,
    WebAuthnChallenge,
    WebAuthnKey,
)
from stockade.accounts.twofactor.recovery_codes import (
    generate_codes,
    remaining_codes,
    spend_recovery_code,
)
from stockade.accounts.twofactor.totp import matching_step, new_secret, spend_code
from stockade.db.base import utcnow
from stockade.events.services import Origin, record

__all__ = [
    "METHODS",
    "TwoFactorError",
    "confirm_totp",
    "enable_totp",
    "end_pending_logins",
    "factor_added",
    "has_two_factor",
    "lock_account",
    "prove_second_factor",
    "remove_all_factors",
    "remove_totp",
    "remove_webauthn_key",
    "require_verified_email",
    "start_totp",
    "totp_of",
    "two_factor_methods",
]

METHODS = ("totp", "webauthn")
INVALID_CODE = "Invalid TOTP code. Check the time on your device and try again."
ALREADY_TOTP = "This account already has an authentication application. Remove it first."
WRONG_PASSWORD = "The password is invalid. Try again."  # noqa: S105 (a message, not a password)
NEEDS_VERIFIED_EMAIL = (
    "Verify your primary email address before adding a second factor: without it, logins "
    "from a new IP address cannot be confirmed and the account cannot be recovered."
)
LAST_FACTOR_CODE = (
    "This is the last second factor of the account: give a current code from your "
    "authentication application, or an unused recovery code, to remove it."
)


class TwoFactorError(Exception):
    """A two-factor action cannot be done; the message says why, for the user."""


def lock_account(session: Session, user_id: int) -> None:
    """Lock the user's row until commit: every service that adds or removes a factor (or
    replaces the recovery codes) takes it first, so two concurrent changes cannot both see
    "not the last factor" or "the first factor" (PostgreSQL; SQLite writers are serial)."""
    session.execute(select(User.id).where(User.id == user_id).with_for_update())


def require_verified_email(session: Session, user_id: int) -> None:
    """Refuse (TwoFactorError) unless the account has a verified primary address: as on PyPI,
    a second factor needs one, or a login from a new IP address could never be confirmed."""
    verified = session.scalar(
        select(UserEmail.id).where(
            UserEmail.user_id == user_id,
            UserEmail.primary.is_(True),
            UserEmail.verified.is_(True),
        )
    )
    if verified is None:
        raise TwoFactorError(NEEDS_VERIFIED_EMAIL)


def totp_of(session: Session, user_id: int, *, confirmed: bool = True) -> TotpSecret | None:
    """The account's TOTP secret: the confirmed one, or (``confirmed=False``) any, even an
    enrolment in progress."""
    query = select(TotpSecret).where(TotpSecret.user_id == user_id)
    if confirmed:
        query = query.where(TotpSecret.confirmed_at.is_not(None))
    return session.scalar(query)


def two_factor_methods(session: Session, user_id: int) -> list[str]:
    """The second factors the user has: a subset of ``["totp", "webauthn"]``, in that order."""
    methods = []
    if totp_of(session, user_id) is not None:
        methods.append("totp")
    if session.scalar(select(WebAuthnKey.id).where(WebAuthnKey.user_id == user_id).limit(1)):
        methods.append("webauthn")
    return methods


def has_two_factor(session: Session, user_id: int) -> bool:
    """Whether the user has at least one second factor (TOTP or a security key)."""
    return bool(two_factor_methods(session, user_id))


def factor_added(
    session: Session,
    user_id: int,
    *,
    first: bool,
    method: str,
    origin: Origin,
    label: str | None = None,
) -> list[str]:
    """Record an added factor; the first factor of an account also gets 8 recovery codes,
    which are returned (to show once). Event: ``account:two_factor:add``."""
    record(
        session,
        "account:two_factor:add",
        origin=origin,
        actor_id=user_id,
        user_id=user_id,
        method=method,
        label=label,
    )
    if not first:
        return []
    return generate_codes(session, user_id, origin=origin, actor_id=user_id)


def start_totp(session: Session, user: User) -> str:
    """Begin enrolling an authentication app: a new secret, stored unconfirmed (it protects
    nothing until ``confirm_totp``). Replaces an earlier unconfirmed one."""
    lock_account(session, user.id)
    require_verified_email(session, user.id)
    row = totp_of(session, user.id, confirmed=False)
    if row is not None and row.confirmed_at is not None:
        raise TwoFactorError(ALREADY_TOTP)
    secret = new_secret()
    if row is None:
        session.add(TotpSecret(user_id=user.id, secret=secret))
    else:
        row.secret = secret
        row.created_at = utcnow()
        row.last_used_step = None
    session.flush()
    return secret


def enable_totp(
    session: Session,
    user: User,
    secret: str,
    code: str,
    *,
    origin: Origin,
    now: float | None = None,
) -> list[str]:
    """Enrol TOTP with ``secret`` once ``code`` (a current code of it) proves the app has it.

    Returns the new recovery codes when this is the account's first factor, else [].
    Raises TwoFactorError for a wrong code, when the account already has TOTP or has no
    verified primary address.
    Events: ``account:two_factor:add`` (method totp), ``account:recovery_codes:generate``.
    """
    lock_account(session, user.id)
    require_verified_email(session, user.id)
    first = not has_two_factor(session, user.id)
    row = totp_of(session, user.id, confirmed=False)
    if row is not None and row.confirmed_at is not None:
        raise TwoFactorError(ALREADY_TOTP)
    try:
        valid = matching_step(secret, code, now=now) is not None
    except ValueError:  # not base32, or too short for pyotp
        valid = False
    if not valid:
        raise TwoFactorError(INVALID_CODE)
    if row is None:
        row = TotpSecret(user_id=user.id, secret=secret)
        session.add(row)
    row.secret = secret
    row.last_used_step = None
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent enrolment won
        raise TwoFactorError(ALREADY_TOTP) from exc
    # The confirming code is spent: it cannot log anyone in afterwards.
    if not spend_code(session, row, code, now=now):
        raise TwoFactorError(INVALID_CODE)
    row.confirmed_at = utcnow()
    return factor_added(session, user.id, first=first, method="totp", origin=origin)


def confirm_totp(
    session: Session,
    user: User,
    code: str,
    *,
    password: str,
    origin: Origin,
    now: float | None = None,
) -> list[str]:
    """Finish the enrolment begun by ``start_totp`` with a valid code and the account's
    password (a stolen session alone must not add a factor; see ``enable_totp``)."""
    lock_account(session, user.id)
    if not verify_password(user, password):
        raise TwoFactorError(WRONG_PASSWORD)
    row = totp_of(session, user.id, confirmed=False)
    if row is None:
        raise TwoFactorError("No authentication application is being set up. Start again.")
    if row.confirmed_at is not None:
        raise TwoFactorError(ALREADY_TOTP)
    return enable_totp(session, user, row.secret, code, origin=origin, now=now)


def _check_removal(
    session: Session,
    user: User,
    *,
    password: str,
    code: str,
    origin: Origin,
    now: float | None = None,
) -> int | None:
    """Removing a factor needs the password; removing the last one also a current code.

    Returns how many recovery codes remain when one was spent for this (to mail), else None.
    """
    lock_account(session, user.id)
    if not verify_password(user, password):
        raise TwoFactorError(WRONG_PASSWORD)
    count = len(two_factor_methods(session, user.id))
    keys = session.scalars(select(WebAuthnKey.id).where(WebAuthnKey.user_id == user.id)).all()
    last = count <= 1 and len(keys) <= 1
    if not last:
        return None
    totp = totp_of(session, user.id)
    if totp is not None and spend_code(session, totp, code, now=now):
        return None
    if code.strip() and spend_recovery_code(session, user.id, code, origin=origin):
        return remaining_codes(session, user.id)
    raise TwoFactorError(LAST_FACTOR_CODE)


def _clear_if_none_left(session: Session, user_id: int) -> None:
    # Recovery codes recover a second factor: without any factor they must not linger.
    if not has_two_factor(session, user_id):
        session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))


def _remove_factor(
    session: Session,
    user: User,
    row: TotpSecret | WebAuthnKey,
    method: str,
    detail: dict[str, Any],
    *,
    password: str,
    code: str,
    origin: Origin,
    now: float | None = None,
) -> int | None:
    """Remove the user's factor ``row`` (of ``method``) if ``_check_removal`` allows it; with
    no factor left, the recovery codes go too. Returns what ``_check_removal`` returns.
    Event: ``account:two_factor:remove`` with ``method``, ``detail`` and reason ``user``."""
    spent = _check_removal(session, user, password=password, code=code, origin=origin, now=now)
    session.delete(row)
    session.flush()
    record(
        session,
        "account:two_factor:remove",
        origin=origin,
        actor_id=user.id,
        user_id=user.id,
        method=method,
        **detail,
        reason="user",
    )
    _clear_if_none_left(session, user.id)
    return spent


def remove_totp(
    session: Session,
    user: User,
    *,
    password: str,
    code: str,
    origin: Origin,
    now: float | None = None,
) -> int | None:
    """Remove the account's authentication app (password, and for the last factor a code).

    Returns the recovery codes left when one was spent for this, else None.
    Event: ``account:two_factor:remove`` (method totp).
    """
    row = totp_of(session, user.id)
    if row is None:
        raise TwoFactorError("This account has no authentication application.")
    return _remove_factor(
        session, user, row, "totp", {}, password=password, code=code, origin=origin, now=now
    )


def remove_webauthn_key(
    session: Session,
    user: User,
    key_id: int,
    *,
    password: str,
    code: str,
    origin: Origin,
    now: float | None = None,
) -> int | None:
    """Remove one security key (password, and for the last factor a code).

    Returns the recovery codes left when one was spent for this, else None.
    Event: ``account:two_factor:remove`` (method webauthn).
    """
    key = session.get(WebAuthnKey, key_id)
    if key is None or key.user_id != user.id:
        raise TwoFactorError("No such security key.")
    return _remove_factor(
        session,
        user,
        key,
        "webauthn",
        {"label": key.label},
        password=password,
        code=code,
        origin=origin,
        now=now,
    )


def remove_all_factors(
    session: Session, user_id: int, *, origin: Origin, actor_id: int | None, reason: str
) -> None:
    """Remove every second factor of the account: TOTP, every security key, the recovery codes,
    and any login waiting for a second step.

    Only for the admin-approved account recovery: no other path removes 2FA without the
    password and a code. Events: one ``account:two_factor:remove`` per factor, and
    ``account:recovery_codes:remove`` when there were codes, each with ``reason``.
    """
    lock_account(session, user_id)
    totp = totp_of(session, user_id, confirmed=False)
    if totp is not None:
        if totp.confirmed_at is not None:
            record(
                session,
                "account:two_factor:remove",
                origin=origin,
                actor_id=actor_id,
                user_id=user_id,
                method="totp",
                reason=reason,
            )
        session.delete(totp)
    for key in session.scalars(select(WebAuthnKey).where(WebAuthnKey.user_id == user_id)):
        record(
            session,
            "account:two_factor:remove",
            origin=origin,
            actor_id=actor_id,
            user_id=user_id,
            method="webauthn",
            label=key.label,
            reason=reason,
        )
        session.delete(key)
    codes = session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    if getattr(codes, "rowcount", 0):
        record(
            session,
            "account:recovery_codes:remove",
            origin=origin,
            actor_id=actor_id,
            user_id=user_id,
            reason=reason,
        )
    session.execute(delete(WebAuthnChallenge).where(WebAuthnChallenge.user_id == user_id))
    end_pending_logins(session, user_id)
    session.flush()


def end_pending_logins(session: Session, user_id: int) -> None:
    """Spend every login of the account still waiting for its second step or confirmation
    link: after a password change or reset, a login begun with the old password is void."""
    session.execute(
        update(PendingLogin)
        .where(PendingLogin.user_id == user_id, PendingLogin.finished_at.is_(None))
        .values(finished_at=utcnow())
    )


def prove_second_factor(
    session: Session, user_id: int, code: str, *, origin: Origin, now: float | None = None
) -> bool:
    """Whether ``code`` is a current code of the user's authenticator app or one of their
    recovery codes (spent either way), for an action that asks for a second factor again."""
    lock_account(session, user_id)
    totp = totp_of(session, user_id)
    if totp is not None and spend_code(session, totp, code, now=now):
        return True
    return bool(code.strip()) and spend_recovery_code(session, user_id, code, origin=origin)
