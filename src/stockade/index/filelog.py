"""What the transparency log (:mod:`stockade.tlog`) is told about a change: the state now of
each file the change may have touched, beside the state the log last recorded for it.

:func:`stockade.index.state.journal` calls :func:`log_files` for every change, so every way a
file appears, changes or goes (upload, staged publish, mirror sync, yank, delete, restore,
quarantine, imports) reaches the log in the change's own transaction. ``bootstrap`` brings
the files of an index that predates the log (or ran with it off) into it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from packaging.utils import canonicalize_version
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from stockade.accounts.models import User
from stockade.db import Database
from stockade.events.services import Origin
from stockade.events.services import record as record_event
from stockade.index.models import File, Project, Release
from stockade.tlog.models import LogFile
from stockade.tlog.services import FileState, lock, record, set_enabled

__all__ = ["bootstrap", "log_files"]


def log_files(
    session: Session, project: Project, versions: Collection[str] | None, user_id: int | None
) -> int:
    """Log every change to the files of ``project`` (of ``versions`` only, when given) since
    the log last saw them; returns how many entries were appended."""
    log = lock(session)
    if log is None:
        return 0
    query = (
        select(
            File.filename,
            File.sha256_digest,
            File.deletion_id,
            Release.version,
            Release.deletion_id.label("release_deletion"),
            Release.yanked,
            LogFile.flags,
        )
        .join(Release, Release.id == File.release_id)
        .outerjoin(LogFile, LogFile.filename == File.filename)
        .where(File.project_id == project.id)
        .order_by(File.id)
    )
    if versions is not None:
        canonical = {canonicalize_version(v) for v in versions}
        query = query.where(
            or_(Release.version.in_(set(versions)), Release.canonical_version.in_(canonical))
        )
    rows = session.execute(query).all()
    if not rows:
        return 0
    project_flags = ("q" if project.status == "quarantined" else "") + (
        "d" if project.deletion_id is not None else ""
    )
    states = []
    for row in rows:
        flags = project_flags
        if row.deletion_id is not None or row.release_deletion is not None:
            flags += "d"
        if row.yanked:
            flags += "y"
        state = FileState(
            project.normalized_name,
            row.version,
            row.filename,
            row.sha256_digest,
            "".join(sorted(set(flags))),
        )
        states.append((state, row.flags))
    user = None if user_id is None else session.get(User, user_id)
    actor = None if user is None else user.username
    return record(session, log, states, actor=actor)


def bootstrap(
    db: Database,
    *,
    origin: Origin,
    progress: Callable[[int, int], None] | None = None,
    batch: int = 200,
) -> int:
    """Log every file of the index not yet logged (or changed while the log was off), ``batch``
    projects to a transaction; ``progress(done, total)`` after each. Turns the log on first
    (changes made meanwhile are logged by their own transactions). Returns entries appended."""
    with db.write() as session:
        set_enabled(session, True, origin=origin)
    with db.read() as session:
        ids = list(session.scalars(select(Project.id).order_by(Project.id)))
    appended = 0
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]

        def unit(session: Session, chunk: list[int] = chunk) -> int:
            count = 0
            for project in session.scalars(select(Project).where(Project.id.in_(chunk))):
                count += log_files(session, project, None, None)
            return count

        appended += db.run_write(unit)
        if progress is not None:
            progress(min(start + batch, len(ids)), len(ids))
    with db.write() as session:
        record_event(session, "log:bootstrap", origin=origin, entries=appended)
    return appended
