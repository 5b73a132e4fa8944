"""Account recovery requests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from stockade.db.base import Base, UTCDateTime, utcnow

__all__ = ["RecoveryRequest"]


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
