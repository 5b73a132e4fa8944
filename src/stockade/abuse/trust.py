"""Trusted reporters: accounts whose malware reports can quarantine a project on their own
(see :mod:`stockade.abuse.reports`). Administrators grant and revoke the mark."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from stockade.abuse.models import TrustedReporter
from stockade.accounts.models import User
from stockade.events.services import Origin, record

__all__ = ["is_trusted", "set_trusted", "trusted_ids"]


def is_trusted(session: Session, user_id: int | None) -> bool:
    """Whether the account is a trusted reporter."""
    return user_id is not None and session.get(TrustedReporter, user_id) is not None


def trusted_ids(session: Session, user_ids: list[int]) -> set[int]:
    """Which of these accounts are trusted reporters."""
    if not user_ids:
        return set()
    return set(
        session.scalars(
            select(TrustedReporter.user_id).where(TrustedReporter.user_id.in_(user_ids))
        )
    )


def set_trusted(
    session: Session, user: User, trusted: bool, *, origin: Origin, actor_id: int | None
) -> bool:
    """Mark or unmark ``user`` as a trusted reporter; False when nothing changed. Records
    ``account:trusted-reporter:grant`` or ``…:revoke`` on the account's history."""
    row = session.get(TrustedReporter, user.id)
    if trusted == (row is not None):
        return False
    if trusted:
        session.add(TrustedReporter(user_id=user.id, granted_by_id=actor_id))
    else:
        session.delete(row)
    tag = "account:trusted-reporter:" + ("grant" if trusted else "revoke")
    record(session, tag, origin=origin, actor_id=actor_id, user_id=user.id, username=user.username)
    session.flush()
    return True
