"""Account models: users, their email addresses, web sessions, single-use account tokens
(email verification, password reset, login confirmation) and rate-limit counters."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from stockade.db.base import Base, UTCDateTime, utcnow

__all__ = ["AccountToken", "User", "UserEmail", "UserSession"]


class User(Base):
    """A person (or robot) who can log in and publish."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(50))
    # Lower-cased username: uniqueness is case-insensitive, as on PyPI.
    username_lower: Mapped[str] = mapped_column(String(50), unique=True)
    full_name: Mapped[str | None] = mapped_column(String(100))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    # A disabled account can do nothing: no login, no token, no upload.
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    emails: Mapped[list[UserEmail]] = relationship(
        back_populates="user", order_by="UserEmail.id", cascade="all, delete-orphan"
    )

    @property
    def primary_email(self) -> UserEmail | None:
        """The primary address (loaded through ``emails``)."""
        return next((e for e in self.emails if e.primary), None)

    @property
    def verified_primary_email(self) -> UserEmail | None:
        """The primary address if it is verified, else None: where notices of changes to the
        account go (as on PyPI)."""
        primary = self.primary_email
        return primary if primary is not None and primary.verified else None

    @property
    def any_verified_email(self) -> UserEmail | None:
        """The verified primary address, else the first other verified one, else None: where
        what the owner must hear of or act on goes (a login to confirm, a spent recovery code,
        a reset link asked for by username)."""
        primary = self.verified_primary_email
        if primary is not None:
            return primary
        return next((e for e in self.emails if e.verified), None)


class UserEmail(Base):
    """One email address of a user; each is verified on its own."""

    __tablename__ = "user_emails"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    # Lower-cased address: one address belongs to one account.
    email_lower: Mapped[str] = mapped_column(String(254), unique=True)
    primary: Mapped[bool] = mapped_column(Boolean, default=False)
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    verified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(back_populates="emails")


class AccountToken(Base):
    """A single-use, expiring secret sent by email (verification, reset, confirmation).

    Only the sha256 of the secret is stored.
    """

    __tablename__ = "account_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(32))
    # What the token is about, e.g. the UserEmail id for "verify-email".
    subject_id: Mapped[int | None] = mapped_column(Integer)
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class UserSession(Base):
    """A logged-in browser session. The cookie holds a secret; the row holds its sha256."""

    __tablename__ = "user_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # Random per session; CSRF tokens of logged-in forms are derived from it.
    csrf_secret: Mapped[str] = mapped_column(String(64))
    ip_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
