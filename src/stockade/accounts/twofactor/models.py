"""Second factors: TOTP secrets, WebAuthn security keys, recovery codes; and the short-lived
state of the two-step login (pending logins, WebAuthn challenges)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from stockade.db.base import Base, UTCDateTime, utcnow

__all__ = ["PendingLogin", "RecoveryCode", "TotpSecret", "WebAuthnChallenge", "WebAuthnKey"]


class TotpSecret(Base):
    """The TOTP authenticator app of a user: one per account, as on PyPI.

    A row with ``confirmed_at`` None is an enrolment in progress (the QR code shown, no valid
    code seen yet); it protects nothing until it is confirmed.
    """

    __tablename__ = "totp_secrets"

    id: Mapped[int] = mapped_column(primary_key=True)
    # One authenticator app per account: the unique constraint backs the rule.
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    # Base32; the server needs the secret itself to compute codes, so it cannot be hashed.
    secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The last 30-second time step whose code was accepted: that code and older ones are spent
    # (replay). Updated by compare-and-set so two concurrent uses of one code cannot both pass.
    last_used_step: Mapped[int | None] = mapped_column(BigInteger)


class WebAuthnKey(Base):
    """A registered security key (a WebAuthn public-key credential)."""

    __tablename__ = "webauthn_keys"
    __table_args__ = (UniqueConstraint("user_id", "label"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(64))
    # base64url of the credential id, as browsers send it back.
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    transports: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class RecoveryCode(Base):
    """One single-use recovery code; only the sha256 of the (64-bit random) code is kept."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class PendingLogin(Base):
    """A login whose password was right but whose second step is not done yet.

    The browser holds a random secret in a cookie; the row holds its sha256. No session exists
    until the second factor (and, from a new IP address, the mailed confirmation) is done.
    """

    __tablename__ = "pending_logins"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    next_path: Mapped[str | None] = mapped_column(String(2000))
    ip_address: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # The second factor that passed ("totp", "webauthn", "recovery-code"), once it has.
    method: Mapped[str | None] = mapped_column(String(20))
    # Set when the login became a session (or was abandoned): the row is then spent.
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class WebAuthnChallenge(Base):
    """A WebAuthn challenge issued to one user (registration) or one pending login; single use."""

    __tablename__ = "webauthn_challenges"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # "register" or "authenticate".
    purpose: Mapped[str] = mapped_column(String(16))
    # The pending login an authentication challenge belongs to.
    pending_login_id: Mapped[int | None] = mapped_column(Integer)
    # base64url of the random challenge bytes.
    challenge: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
