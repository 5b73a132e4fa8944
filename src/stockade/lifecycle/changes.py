"""What every lifecycle change shares: finding and locking the project, the checks a change
must pass, and the one way a change is written down.

Every lifecycle function works in the caller's transaction: it changes rows and ends with
:func:`changed`, which appends to the journal (bumping the project's serial and telling every
worker what changed), records the event and re-renders the project's simple pages in that same
transaction, so the pages never disagree with the rows. Once the transaction has committed, the
caller calls :func:`announce` so that this worker drops its cached copies at once; other workers
learn of the change from the journal within ``cache_poll_interval``.
"""

from __future__ import annotations

from typing import Any

from packaging.utils import canonicalize_name, canonicalize_version
from sqlalchemy import select
from sqlalchemy.orm import Session

from stockade.events.services import Origin, record
from stockade.index.cache import PageCache
from stockade.index.models import Project, Release
from stockade.index.state import journal, rerender
from stockade.lifecycle.errors import LifecycleError

__all__ = [
    "MAX_REASON",
    "announce",
    "changed",
    "check_changeable",
    "clean_reason",
    "find_project",
    "find_release",
    "journaled",
    "live_release",
    "lock_project",
]

MAX_REASON = 1000


def find_project(session: Session, name: str) -> Project | None:
    """The project of this name in any spelling, deleted or not."""
    return session.scalar(select(Project).where(Project.normalized_name == canonicalize_name(name)))


def find_release(session: Session, project: Project, version: str) -> Release | None:
    """The release of ``version`` (1.0 and 1.0.0 are one release), deleted or not."""
    return session.scalar(
        select(Release).where(
            Release.project_id == project.id,
            Release.canonical_version == canonicalize_version(version),
        )
    )


def lock_project(session: Session, project: Project) -> None:
    """Lock the project row, as uploads do: a file cannot slip into a release being deleted."""
    session.execute(select(Project.id).where(Project.id == project.id).with_for_update())
    session.refresh(project)


def clean_reason(reason: str | None) -> str | None:
    """A reason as it is stored: white space folded, None when empty; refused when too long."""
    text = " ".join((reason or "").split())
    if len(text) > MAX_REASON:
        raise LifecycleError(400, f"The reason is too long: at most {MAX_REASON} characters.")
    return text or None


def check_changeable(project: Project, *, admin: bool) -> None:
    """Owners' and maintainers' changes need a live, unfrozen project."""
    if project.deletion_id is not None:
        raise LifecycleError(404, f"Project {project.name!r} does not exist.")
    if project.status == "quarantined" and not admin:
        raise LifecycleError(
            403,
            f"Project {project.name!r} is quarantined: it cannot be changed until an "
            "administrator clears it.",
        )
    if project.status == "archived":
        raise LifecycleError(
            400,
            f"Project {project.name!r} is archived and read-only; an owner must unarchive it "
            "first.",
        )


def live_release(session: Session, project: Project, version: str) -> Release:
    """The release of ``version`` that is not deleted; refused with 404 otherwise."""
    release = find_release(session, project, version)
    if release is None or release.deletion_id is not None:
        raise LifecycleError(404, f"Project {project.name!r} has no release {version!r}.")
    return release


def journaled(
    session: Session,
    project: Project,
    action: str,
    version: str | None,
    event: str,
    /,
    *,
    origin: Origin,
    actor_id: int | None,
    **details: Any,
) -> None:
    """One step of a change: the journal entry ``action`` (for ``version``, None for the whole
    project), which bumps the serial and tells every worker, and the event ``event`` with
    ``details``. A change of several steps ends with :func:`changed`."""
    journal(session, project, action, version=version, user_id=actor_id)
    record(session, event, origin=origin, actor_id=actor_id, project_id=project.id, **details)


def changed(
    session: Session,
    project: Project,
    action: str,
    version: str | None,
    event: str,
    /,
    *,
    origin: Origin,
    actor_id: int | None,
    **details: Any,
) -> None:
    """The end of every change: journaled and recorded (:func:`journaled`), and the project's
    simple pages re-rendered in the same transaction, so they never disagree with the rows."""
    journaled(session, project, action, version, event, origin=origin, actor_id=actor_id, **details)
    rerender(session, project)


def announce(pages: PageCache, normalized_name: str) -> None:
    """After commit: this worker forgets its cached pages (and the root list) and its file
    answers for the project at once; other workers follow the journal."""
    pages.invalidate(normalized_name, root=True)
    for listener in pages.listeners:
        listener(normalized_name, "lifecycle change")
