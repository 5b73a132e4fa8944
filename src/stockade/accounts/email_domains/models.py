"""What the last RDAP and DNS check found about each email domain."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from stockade.db.base import Base, UTCDateTime, utcnow

__all__ = ["EmailDomainCheck"]


class EmailDomainCheck(Base):
    """What the last RDAP and DNS check found about one email domain.

    A domain whose ``status`` is bad (see ``email_domains.check.BAD_STATUSES``) cannot get
    addresses verified.
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
