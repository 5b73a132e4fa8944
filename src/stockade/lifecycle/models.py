"""Lifecycle models: deletion tombstones.

Deletion is soft. Each delete action (of a file, a release or a project) is one ``Deletion``
row, and every row it takes away (the project, its live releases, their live files) points at
it through its ``deletion_id`` column. A row with a ``deletion_id`` is a tombstone: every read
path hides it, its blob stays in storage, its filename stays in the append-only filename
registry. Restoring clears ``deletion_id`` on exactly the rows of that action, so what comes
back is what was taken away (same rows: same hashes, sizes and upload times), and a file
deleted on its own before its project was deleted stays deleted when the project comes back.

A deleted project keeps its row, its name and its roles: the name stays taken (the unique
``projects.normalized_name``), which is what reserves it for the former owners (see
``stockade.lifecycle.rules``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from stockade.db.base import Base, UTCDateTime, utcnow

__all__ = ["Deletion"]


class Deletion(Base):
    """One delete action: what was named, by whom, when. Rows it removed point at it."""

    __tablename__ = "deletions"
    __table_args__ = (CheckConstraint("kind IN ('project', 'release', 'file')", name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    # The project's name, and the version or filename deleted (None for a whole project).
    project_name: Mapped[str] = mapped_column(String(255))
    target: Mapped[str | None] = mapped_column(String(512))
    deleted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # None for an operator's action from the command line.
    deleted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[str | None] = mapped_column(Text)
