"""Rate limits shared by every worker (counters in the database, fixed windows)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import BigInteger, Integer, String, UniqueConstraint, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from stockade.db.base import Base
from stockade.db.engine import Database

__all__ = ["Limit", "RateLimitHit", "RateLimited", "hit"]


class RateLimitHit(Base):
    """How often a key (e.g. "login:ip:1.2.3.4") was hit in one time window.

    Kept in the database so that every worker shares the limits.
    """

    __tablename__ = "rate_limit_hits"
    __table_args__ = (UniqueConstraint("key", "window_start"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    window_start: Mapped[int] = mapped_column(BigInteger)
    count: Mapped[int] = mapped_column(Integer, default=0)


@dataclass(frozen=True)
class Limit:
    """At most ``count`` hits per ``seconds``."""

    count: int
    seconds: int


class RateLimited(Exception):
    """Too many attempts; try again after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many attempts. Try again in {retry_after} seconds.")
        self.retry_after = retry_after


def hit(db: Database, key: str, limit: Limit, *, now: float | None = None) -> None:
    """Count one attempt against ``key``; raises RateLimited past the limit.

    Runs in its own short transaction, so attempts count even when the action then fails.
    """
    now = time.time() if now is None else now
    window = int(now // limit.seconds) * limit.seconds
    retry_after = max(1, int(window + limit.seconds - now))
    for _ in range(3):
        try:
            with db.write() as session:
                row = session.scalar(
                    select(RateLimitHit).where(
                        RateLimitHit.key == key, RateLimitHit.window_start == window
                    )
                )
                if row is None:
                    session.add(RateLimitHit(key=key, window_start=window, count=1))
                    # Old windows of this key are of no use any more.
                    session.execute(
                        delete(RateLimitHit).where(
                            RateLimitHit.key == key, RateLimitHit.window_start < window
                        )
                    )
                    count = 1
                else:
                    count = session.execute(
                        update(RateLimitHit)
                        .where(RateLimitHit.id == row.id)
                        .values(count=RateLimitHit.count + 1)
                        .returning(RateLimitHit.count)
                    ).scalar_one()
            break
        except IntegrityError:
            continue  # another worker created the window row first
    else:
        count = limit.count + 1
    if count > limit.count:
        raise RateLimited(retry_after)
