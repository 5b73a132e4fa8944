"""TOTP (RFC 6238) codes: 160-bit secrets, 6 digits, 30-second steps, one step of clock skew
either way, and each code accepted once (the last used step is stored per secret)."""

from __future__ import annotations

import base64
import hmac
import secrets
import time

from sqlalchemy import or_, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from stockade.accounts.twofactor.models import TotpSecret

__all__ = [
    "DIGITS",
    "INTERVAL",
    "VALID_WINDOW",
    "matching_step",
    "new_secret",
    "provisioning_uri",
    "qr_svg",
    "spend_code",
]

DIGITS = 6
INTERVAL = 30
# Codes of the previous and the next time step are accepted too (clock skew).
VALID_WINDOW = 1
_SECRET_BYTES = 20  # 160 bits, as RFC 4226 recommends


def new_secret() -> str:
    """A fresh random base32 secret (32 characters, 160 bits)."""
    return base64.b32encode(secrets.token_bytes(_SECRET_BYTES)).decode("ascii")


def normalize_code(code: str) -> str | None:
    """The code without the spaces people type into it; None unless it is 6 digits."""
    code = "".join(code.split())
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    return code


def matching_step(secret: str, code: str, *, now: float | None = None) -> int | None:
    """The time step (within the allowed window around ``now``) whose code is ``code``."""
    wanted = normalize_code(code)
    if wanted is None:
        return None
    import pyotp  # imported when first needed: page requests never use it

    totp = pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL)
    current = int((time.time() if now is None else now) // INTERVAL)
    found = None
    # Check every step of the window (constant-time compares, no early exit).
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), wanted):
            found = step
    return found


def spend_code(session: Session, row: TotpSecret, code: str, *, now: float | None = None) -> bool:
    """Accept ``code`` for ``row`` once: True if it is valid and no code of its time step (or a
    later one) was accepted before.

    The last used step is moved forward by a compare-and-set UPDATE, so of two concurrent uses
    of one code only one can pass (the other sees the row already moved on).
    """
    step = matching_step(row.secret, code, now=now)
    if step is None:
        return False
    result = session.execute(
        update(TotpSecret)
        .where(
            TotpSecret.id == row.id,
            or_(TotpSecret.last_used_step.is_(None), TotpSecret.last_used_step < step),
        )
        .values(last_used_step=step)
        .execution_options(synchronize_session=False)
    )
    assert isinstance(result, CursorResult)
    if result.rowcount != 1:
        return False
    row.last_used_step = step
    return True


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads from the QR code."""
    import pyotp

    return pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL).provisioning_uri(
        name=account, issuer_name=issuer
    )


def qr_svg(uri: str) -> str:
    """The QR code of ``uri`` as an inline ``<svg>`` element (no script, no external load)."""
    import segno  # imported when first needed

    return str(segno.make(uri, error="m").svg_inline(scale=4, border=2))
