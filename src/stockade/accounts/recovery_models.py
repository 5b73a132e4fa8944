"""Account recovery requests and email-domain check results."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from stockade.db.base import Base, UTCDateTime, utcnow

__all__ = ["EmailDomainCheck", "RecoveryRequest"]


class RecoveryRequest(Base):
    """A request, filed by someone who lost every second factor, to get an account back.

    An administrator checks the proofs (``proofs_checked``) and approves or rejects it.
    """

    __tablename__ = "recovery_requests"
    __table_args__ = (
        # At most one open request per account: a second one adds nothing for the admin to do.
        Index(
            "uq_recovery_requests_user_id_pending",
            "user_id",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # Where the requester wants the answer (it need not be one of the account's addresses).
    contact_email: Mapped[str] = mapped_column(String(254))
    # What the requester says they can prove (keys of recovery.PROOFS).
    proofs_offered: Mapped[list[Any]] = mapped_column(JSON, default=list)
    statement: Mapped[str] = mapped_column(Text)
    # "pending", "approved" or "rejected".
    status: Mapped[str] = mapped_column(String(16), default="pending")
    # The proofs an administrator has checked.
    proofs_checked: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    ip_address: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decision_note: Mapped[str | None] = mapped_column(Text)


class EmailDomainCheck(Base):
    """What the last RDAP and DNS check found about one email domain.

    A domain whose ``status`` is bad (see domains.BAD_STATUSES) cannot get addresses verified.
    """

    __tablename__ = "email_domain_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    domain: Mapped[str] = mapped_column(String(253), unique=True)
    # "ok", "expired", "pending-delete", "undelegated", or "unknown" (could not tell).
    status: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str | None] = mapped_column(String(500))
    # The domain's registration date according to RDAP (re-registration detection).
    registered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    checked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
