"""Yanking a release (PEP 592): installers skip a yanked release unless it is pinned exactly.
Owners and maintainers yank and unyank on a live project that is neither archived nor
quarantined (administrators also on a quarantined one)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from stockade import faults
from stockade.events.services import Origin
from stockade.index.models import Project, Release
from stockade.lifecycle.changes import (
    changed,
    check_changeable,
    clean_reason,
    live_release,
    lock_project,
)
from stockade.lifecycle.errors import LifecycleError

__all__ = ["unyank", "yank"]


def yank(
    session: Session,
    project: Project,
    version: str,
    reason: str | None,
    *,
    origin: Origin,
    actor_id: int | None,
    admin: bool = False,
) -> Release:
    """Yank a release (PEP 592): installers skip it unless it is pinned exactly."""
    lock_project(session, project)
    check_changeable(project, admin=admin)
    release = live_release(session, project, version)
    cleaned = clean_reason(reason)
    if release.yanked:
        raise LifecycleError(400, f"Release {release.version!r} is already yanked.")
    release.yanked, release.yanked_reason = True, cleaned
    changed(
        session,
        project,
        "yank release",
        release.version,
        "release:yank",
        origin=origin,
        actor_id=actor_id,
        version=release.version,
        reason=cleaned,
    )
    faults.point("yank:before-commit")
    return release


def unyank(
    session: Session,
    project: Project,
    version: str,
    *,
    origin: Origin,
    actor_id: int | None,
    admin: bool = False,
) -> Release:
    """Make a yanked release installable again."""
    lock_project(session, project)
    check_changeable(project, admin=admin)
    release = live_release(session, project, version)
    if not release.yanked:
        raise LifecycleError(400, f"Release {release.version!r} is not yanked.")
    release.yanked, release.yanked_reason = False, None
    changed(
        session,
        project,
        "unyank release",
        release.version,
        "release:unyank",
        origin=origin,
        actor_id=actor_id,
        version=release.version,
    )
    return release
