"""The operator's actions that change what the mirror serves: one function each, called by
``stockade mirror …`` and by the admin page alike, so both record the same events and the
index follows the change in the same transaction."""

from __future__ import annotations

import datetime as dt
import math

from sqlalchemy import select
from sqlalchemy.orm import Session

from stockade.db.base import utcnow
from stockade.events.services import Origin, record
from stockade.lifecycle.changes import find_project
from stockade.lifecycle.deletion import delete_project
from stockade.mirror import rules
from stockade.mirror.errors import MirrorError
from stockade.mirror.models import MirrorProject
from stockade.mirror.sync import reconcile_name

__all__ = ["exempt", "purge", "set_rule", "unset_rule"]

PURGE_REASON = "purged from the mirror cache"


def set_rule(
    session: Session,
    name: str,
    mode: str,
    *,
    upstream_name: str | None,
    origin: Origin,
    actor_id: int | None,
) -> str:
    """Set the name's origin rule; what the index serves follows at once. Returns the rule
    in words."""
    normalized = rules.normalized_name(name)
    rules.set_origin(
        session, normalized, mode, upstream_name=upstream_name, origin=origin, actor_id=actor_id
    )
    reconcile_name(session, normalized)
    return rules.describe_rule(normalized, mode, upstream_name)


def unset_rule(session: Session, name: str, *, origin: Origin, actor_id: int | None) -> None:
    """Drop the name's origin rule (the default applies again); the index follows at once."""
    normalized = rules.normalized_name(name)
    if not rules.remove_origin(session, normalized, origin=origin, actor_id=actor_id):
        raise MirrorError(404, f"There is no origin rule for {normalized!r}.")
    reconcile_name(session, normalized)


def exempt(
    session: Session,
    name: str,
    *,
    version: str | None,
    reason: str,
    days: float | None,
    origin: Origin,
    actor_id: int | None,
) -> int:
    """Let the project (or one version) through the cooldown, for ``days`` or until revoked;
    the held files it lets through are published at once. Returns how many."""
    if days is not None and (not math.isfinite(days) or days <= 0):
        raise MirrorError(400, "An exemption lasts a positive number of days (or until revoked).")
    normalized = rules.normalized_name(name)
    expires = utcnow() + dt.timedelta(days=days) if days is not None else None
    rules.add_exemption(
        session,
        normalized,
        version=version,
        reason=reason,
        expires_at=expires,
        origin=origin,
        actor_id=actor_id,
    )
    return len(reconcile_name(session, normalized).published)


def purge(
    session: Session,
    name: str,
    *,
    reason: str = PURGE_REASON,
    origin: Origin,
    actor_id: int | None,
) -> str:
    """Take the name's upstream copy out of the index and forget its cache records.

    The index project is soft-deleted (blobs kept; ``stockade project restore`` brings it
    back), which also keeps its name from being mirrored again until an admin decides. A
    local project is never deleted by a purge: only the cache records go. Returns what was
    done, in words."""
    reason = " ".join(reason.split()) or PURGE_REASON
    normalized = rules.normalized_name(name)
    mps = list(
        session.scalars(select(MirrorProject).where(MirrorProject.normalized_name == normalized))
    )
    if not mps:
        raise MirrorError(404, f"Nothing is cached from an upstream for {name.strip()!r}.")
    index_project = find_project(session, normalized)
    deleted = False
    if (
        index_project is not None
        and index_project.deletion_id is None
        and any(mp.project_id == index_project.id for mp in mps)
        and not rules.is_local(session, index_project)
    ):
        delete_project(
            session, index_project, origin=origin, actor_id=actor_id, admin=True, reason=reason
        )
        deleted = True
    for mp in mps:
        session.delete(mp)
    session.flush()
    record(
        session,
        "mirror:project:purge",
        origin=origin,
        actor_id=actor_id,
        project_id=index_project.id if index_project is not None else None,
        summary=f"{normalized} purged from the mirror cache: {reason}",
        name=normalized,
        reason=reason,
    )
    return f"{normalized}: cache forgotten" + ("; index project deleted" if deleted else "")
