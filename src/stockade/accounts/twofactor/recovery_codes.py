"""Recovery codes: 8 single-use codes per account, each 64 random bits, stored as sha256."""

from __future__ import annotations

import secrets

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from stockade.accounts.digests import sha256_hex
from stockade.accounts.twofactor.models import RecoveryCode
from stockade.db.base import utcnow
from stockade.events.services import Origin, record

__all__ = ["CODE_COUNT", "generate_codes", "remaining_codes", "spend_recovery_code"]

CODE_COUNT = 8
_MAX_CODE = 64


def _normalize(code: str) -> str:
    # People copy codes with spaces or dashes and in upper case.
    return "".join(ch for ch in code.lower() if ch not in " -\t\r\n")


def generate_codes(
    session: Session, user_id: int, *, origin: Origin, actor_id: int | None
) -> list[str]:
    """Replace the account's recovery codes by 8 new ones and return them (shown once).

    Event: ``account:recovery_codes:generate``.
    """
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = [secrets.token_hex(8) for _ in range(CODE_COUNT)]
    now = utcnow()
    session.add_all(
        RecoveryCode(user_id=user_id, code_sha256=sha256_hex(c), created_at=now) for c in codes
    )
    record(
        session,
        "account:recovery_codes:generate",
        origin=origin,
        actor_id=actor_id,
        user_id=user_id,
        count=CODE_COUNT,
    )
    return codes


def remaining_codes(session: Session, user_id: int) -> int:
    """How many of the account's recovery codes are still unused."""
    return (
        session.scalar(
            select(func.count(RecoveryCode.id)).where(
                RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
            )
        )
        or 0
    )


def spend_recovery_code(session: Session, user_id: int, code: str, *, origin: Origin) -> bool:
    """Use one recovery code of the account: True once per code, False for anything else.

    Marked used by a compare-and-set UPDATE, so one code cannot pass twice concurrently.
    Event: ``account:recovery_code:use`` (with how many codes are left).
    """
    code = _normalize(code)
    if not code or len(code) > _MAX_CODE:
        return False
    result = session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user_id,
            RecoveryCode.code_sha256 == sha256_hex(code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    assert isinstance(result, CursorResult)
    if result.rowcount != 1:
        return False
    record(
        session,
        "account:recovery_code:use",
        origin=origin,
        actor_id=user_id,
        user_id=user_id,
        remaining=remaining_codes(session, user_id),
    )
    return True
