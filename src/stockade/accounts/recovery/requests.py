"""Account recovery for a user who lost every second factor: a request, checked by hand.

The requester (not logged in) files a request naming the account, an address to answer to,
what they can prove and a free-text statement. An administrator sees it in the recovery queue
with the account's verified addresses, linked publishers and recent history, ticks the proofs
they checked, and approves or rejects it. Approval is the one path that removes second factors
without the password and a code: it removes them all, makes the old password unusable, ends
every session, and mails a password-reset link to every verified address.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from stockade.accounts.flows import find_login_user
from stockade.accounts.models import User
from stockade.accounts.recovery.models import RecoveryRequest
from stockade.accounts.recovery.reset import PendingReset, issue_reset
from stockade.accounts.sessions import end_user_sessions
from stockade.accounts.twofactor.factors import remove_all_factors, two_factor_methods
from stockade.db.base import utcnow
from stockade.db.ratelimit import Limit
from stockade.events.services import Origin, record

__all__ = [
    "PROOFS",
    "RECOVERY_PER_ACCOUNT",
    "RECOVERY_PER_IP",
    "Decided",
    "Filed",
    "RecoveryError",
    "RecoveryView",
    "approve",
    "file_request",
    "pending_requests",
    "reject",
    "save_checks",
    "view_request",
]

# What a requester may offer as proof, as the admin sees it.
PROOFS = {
    "email": "Can receive mail at a verified address of the account",
    "repository": "Controls the source repository or homepage of a project of the account",
    "releases": "Can describe releases, uploads or history only the owner would know",
    "token": "Still has a working API token of the account",
    "identity": "Can prove their identity another way (a known signing key, an employer …)",
}
RECOVERY_PER_IP = Limit(count=5, seconds=60 * 60)
RECOVERY_PER_ACCOUNT = Limit(count=3, seconds=24 * 60 * 60)
MAX_STATEMENT = 5000
MAX_NOTE = 2000


class RecoveryError(Exception):
    """A refused admin action; the message is for the admin."""


@dataclass(frozen=True)
class Filed:
    """A filed request: whom to warn (the account's verified addresses)."""

    username: str
    notify: tuple[str, ...]


@dataclass(frozen=True)
class Decided:
    """An approved or rejected request, and the mail it calls for."""

    username: str
    contact_email: str
    note: str
    notify: tuple[str, ...] = ()
    resets: tuple[PendingReset, ...] = ()


@dataclass
class RecoveryView:
    """One request as the admin queue shows it."""

    request: RecoveryRequest
    username: str
    verified_emails: list[str]
    unverified_emails: list[str]
    two_factor: list[str]
    # Trusted publishers linked to the account's projects (none exist yet).
    publishers: list[str] = field(default_factory=list)
    decided_by: str | None = None


def file_request(
    session: Session,
    account: str,
    *,
    contact_email: str,
    proofs: list[str],
    statement: str,
    origin: Origin,
) -> Filed | None:
    """Record a request for the account named ``account`` (username or address).

    Returns None, recording nothing, for an unknown or disabled account or when a request is
    already pending (the caller answers the same way every time). Event:
    ``account:recovery:request``.
    """
    user = find_login_user(session, account)
    if user is None or not user.is_active:
        return None
    pending = session.scalar(
        select(RecoveryRequest.id).where(
            RecoveryRequest.user_id == user.id, RecoveryRequest.status == "pending"
        )
    )
    if pending is not None:
        return None
    request = RecoveryRequest(
        user_id=user.id,
        contact_email=contact_email,
        proofs_offered=[p for p in PROOFS if p in proofs],
        statement=statement[:MAX_STATEMENT],
        status="pending",
        proofs_checked=[],
        ip_address=origin.ip_address,
    )
    session.add(request)
    session.flush()
    record(
        session,
        "account:recovery:request",
        origin=origin,
        user_id=user.id,
        request_id=request.id,
        contact_email=contact_email,
        proofs=request.proofs_offered,
    )
    return Filed(user.username, tuple(e.email for e in user.emails if e.verified))


def pending_requests(session: Session) -> list[tuple[RecoveryRequest, str]]:
    """Pending requests, oldest first, with the account's username."""
    rows = session.execute(
        select(RecoveryRequest, User.username)
        .join(User, User.id == RecoveryRequest.user_id)
        .where(RecoveryRequest.status == "pending")
        .order_by(RecoveryRequest.id)
    ).all()
    return [(r, name) for r, name in rows]


def view_request(session: Session, request_id: int) -> RecoveryView | None:
    """Everything the admin needs to judge one request."""
    request = session.get(RecoveryRequest, request_id)
    if request is None:
        return None
    user = session.get(User, request.user_id)
    assert user is not None  # the foreign key cascades
    decided_by = session.get(User, request.decided_by) if request.decided_by else None
    return RecoveryView(
        request=request,
        username=user.username,
        verified_emails=[e.email for e in user.emails if e.verified],
        unverified_emails=[e.email for e in user.emails if not e.verified],
        two_factor=two_factor_methods(session, user.id),
        decided_by=decided_by.username if decided_by else None,
    )


def _pending(session: Session, request_id: int) -> RecoveryRequest:
    request = session.scalar(
        select(RecoveryRequest).where(RecoveryRequest.id == request_id).with_for_update()
    )
    if request is None:
        raise RecoveryError("No such recovery request.")
    if request.status != "pending":
        raise RecoveryError(f"This request was already {request.status}.")
    return request


def save_checks(
    session: Session, request_id: int, checked: list[str], *, admin_id: int, origin: Origin
) -> RecoveryRequest:
    """Store which proofs the admin has checked. Event: ``account:recovery:checks``."""
    request = _pending(session, request_id)
    request.proofs_checked = [p for p in PROOFS if p in checked]
    record(
        session,
        "account:recovery:checks",
        origin=origin,
        actor_id=admin_id,
        user_id=request.user_id,
        request_id=request_id,
        proofs_checked=",".join(request.proofs_checked) or None,
    )
    return request


def _decide(
    request: RecoveryRequest, status: str, admin_id: int, note: str, checked: list[str]
) -> None:
    request.proofs_checked = [p for p in PROOFS if p in checked]
    request.status = status
    request.decided_at = utcnow()
    request.decided_by = admin_id
    request.decision_note = note[:MAX_NOTE] or None


def _record_decision(
    session: Session, tag: str, request: RecoveryRequest, *, admin_id: int, origin: Origin
) -> None:
    """The event ``tag`` of a decided request, by the deciding admin, against the account,
    with the proofs checked and the note."""
    record(
        session,
        tag,
        origin=origin,
        actor_id=admin_id,
        user_id=request.user_id,
        request_id=request.id,
        proofs_checked=request.proofs_checked,
        note=request.decision_note,
    )


def approve(
    session: Session,
    request_id: int,
    *,
    admin_id: int,
    checked: list[str],
    note: str,
    origin: Origin,
) -> Decided:
    """Approve: remove every second factor, make the old password unusable, end every session,
    and issue a reset link to each verified address. At least one proof must be checked, and
    the account needs a verified address for the reset link.

    Events: those of ``twofactor.factors.remove_all_factors`` (reason ``account-recovery``),
    ``account:recovery:approve``, and an ``account:password:reset:request`` per link.
    """
    request = _pending(session, request_id)
    if not [p for p in PROOFS if p in checked]:
        raise RecoveryError("Check at least one proof before approving.")
    user = session.scalar(select(User).where(User.id == request.user_id).with_for_update())
    assert user is not None
    verified = [e for e in user.emails if e.verified]
    if not verified:
        raise RecoveryError(
            "The account has no verified email address to send the reset link to: vouch for "
            "one first (stockade user verify-email NAME EMAIL)."
        )
    _decide(request, "approved", admin_id, note, checked)
    remove_all_factors(
        session, user.id, origin=origin, actor_id=admin_id, reason="account-recovery"
    )
    # The old password may be what the attacker has too: it stops working, and every reset
    # link issued before now is void.
    user.password_hash = None
    user.password_changed_at = utcnow()
    end_user_sessions(session, user.id)
    _record_decision(session, "account:recovery:approve", request, admin_id=admin_id, origin=origin)
    resets = tuple(issue_reset(session, user, e, origin=origin) for e in verified)
    return Decided(
        user.username,
        request.contact_email,
        request.decision_note or "",
        notify=tuple(e.email for e in verified),
        resets=resets,
    )


def reject(
    session: Session,
    request_id: int,
    *,
    admin_id: int,
    checked: list[str],
    note: str,
    origin: Origin,
) -> Decided:
    """Reject: nothing changes on the account; the requester is told. Event:
    ``account:recovery:reject``."""
    request = _pending(session, request_id)
    _decide(request, "rejected", admin_id, note, checked)
    user = session.get(User, request.user_id)
    assert user is not None
    _record_decision(session, "account:recovery:reject", request, admin_id=admin_id, origin=origin)
    return Decided(user.username, request.contact_email, request.decision_note or "")
