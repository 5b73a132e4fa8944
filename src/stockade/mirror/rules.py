"""Who may serve a name, and which upstream files are old enough to be served.

Dependency confusion is closed by default: a name that is local (uploaded here, owned by
someone here, deleted here, reserved by an admin's ``local`` rule, or under a namespace granted
to an organization here) never gets upstream files.
A name first cached from an upstream refuses local uploads until an admin's rule allows them.
Per-name rules (``MirrorOrigin``): ``local``, ``upstream`` (one upstream, local uploads
refused) or ``both`` (local files and one or every upstream's). Every rule change is an event.

The cooldown hides upstream files younger than the upstream's ``cooldown_days`` (a file with no
upload time counts as young) unless a live exemption names the project (or its version).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from packaging.utils import canonicalize_name, canonicalize_version
from packaging.version import InvalidVersion, Version
from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from stockade.db.base import utcnow
from stockade.events.services import Origin, record
from stockade.index.models import File, Project, Role
from stockade.mirror.errors import MirrorError
from stockade.mirror.models import (
    ORIGIN_BOTH,
    ORIGIN_LOCAL,
    ORIGIN_UPSTREAM,
    MirrorCooldownExemption,
    MirrorFile,
    MirrorOrigin,
    MirrorProject,
    MirrorUpstream,
)
from stockade.orgs.namespaces import under_namespace

__all__ = [
    "add_exemption",
    "exemptions_of",
    "is_local",
    "is_mature",
    "local_upload_refusal",
    "matures_at",
    "normalized_name",
    "remove_origin",
    "revoke_exemption",
    "set_origin",
    "upstream_allowed",
]


# A project name as PEP 503 normalizes it: what may follow /simple/.
_NORMALIZED = re.compile(r"^[a-z0-9]([a-z0-9-]{0,253}[a-z0-9])?$")


def normalized_name(name: str) -> str:
    """``name`` normalized (PEP 503); a 400 when it cannot be a project's name."""
    normalized = canonicalize_name(name.strip())
    if not _NORMALIZED.match(normalized):
        raise MirrorError(
            400, f"{name.strip()!r} is not a project name: letters, digits, '.', '_' and '-'."
        )
    return normalized


def is_local(session: Session, project: Project) -> bool:
    """A project is local unless the mirror made it and only the mirror filled it: one that
    no upstream page points at, or that has owners, or files of its own, is local."""
    mirrored = session.scalar(select(exists().where(MirrorProject.project_id == project.id)))
    if not mirrored:
        return True
    if session.scalar(select(exists().where(Role.project_id == project.id))):
        return True
    own_file = (
        select(File.id)
        .where(File.project_id == project.id)
        .where(~exists().where(MirrorFile.file_id == File.id))
    )
    return bool(session.scalar(select(exists(own_file))))


def upstream_allowed(session: Session, normalized_name: str, upstream: MirrorUpstream) -> bool:
    """May ``upstream``'s files be served under this name? Never under a local organization's
    namespace (PEP 752: a prefix reserved here confers no trust on another index's projects,
    and mirroring them would hand the org's names to whoever registers them upstream)."""
    if under_namespace(session, normalized_name):
        return False
    rule = session.scalar(
        select(MirrorOrigin).where(MirrorOrigin.normalized_name == normalized_name)
    )
    if rule is not None:
        if rule.mode == ORIGIN_LOCAL:
            return False
        if rule.mode == ORIGIN_UPSTREAM:
            return rule.upstream_id == upstream.id
        return rule.upstream_id in (None, upstream.id)
    project = session.scalar(select(Project).where(Project.normalized_name == normalized_name))
    if project is None:
        return True
    if is_local(session, project):
        return False
    # The first upstream whose files the project got keeps it.
    other = session.scalar(
        select(MirrorProject.id).where(
            MirrorProject.project_id == project.id, MirrorProject.upstream_id != upstream.id
        )
    )
    return other is None


def local_upload_refusal(session: Session, normalized_name: str) -> str | None:
    """Why a local upload to this name is refused (it is cached from an upstream and no rule
    allows local files), or None."""
    rule = session.scalar(
        select(MirrorOrigin).where(MirrorOrigin.normalized_name == normalized_name)
    )
    if rule is not None:
        if rule.mode in (ORIGIN_LOCAL, ORIGIN_BOTH):
            return None
        return (
            f"The name {normalized_name!r} is served from an upstream index only; an "
            "administrator must allow local uploads to it (stockade mirror origin "
            f"{normalized_name} --both or --local)."
        )
    project = session.scalar(select(Project).where(Project.normalized_name == normalized_name))
    if project is not None and is_local(session, project):
        return None
    cached = session.scalar(
        select(MirrorUpstream.name)
        .join(MirrorProject, MirrorProject.upstream_id == MirrorUpstream.id)
        .where(MirrorProject.normalized_name == normalized_name, MirrorProject.status == "ok")
        .limit(1)
    )
    if cached is None:
        return None
    return (
        f"The name {normalized_name!r} is already mirrored from the upstream index {cached!r}: "
        "a local upload would shadow it (dependency confusion). An administrator can allow "
        f"it with: stockade mirror origin {normalized_name} --both (or --local)."
    )


def set_origin(
    session: Session,
    name: str,
    mode: str,
    *,
    upstream_name: str | None,
    origin: Origin,
    actor_id: int | None,
) -> MirrorOrigin:
    """Set the name's origin rule (``local`` also reserves a name that does not exist yet)."""
    if mode not in (ORIGIN_LOCAL, ORIGIN_UPSTREAM, ORIGIN_BOTH):
        raise MirrorError(400, f"Unknown origin {mode!r}: use local, upstream or both.")
    normalized = canonicalize_name(name)
    upstream = None
    if upstream_name is not None:
        upstream = session.scalar(
            select(MirrorUpstream).where(MirrorUpstream.name == upstream_name)
        )
        if upstream is None:
            raise MirrorError(404, f"No upstream named {upstream_name!r}.")
    if mode == ORIGIN_UPSTREAM and upstream is None:
        raise MirrorError(400, "An upstream-only rule names its upstream.")
    rule = session.scalar(select(MirrorOrigin).where(MirrorOrigin.normalized_name == normalized))
    previous = rule.mode if rule is not None else None
    if rule is None:
        rule = MirrorOrigin(normalized_name=normalized, mode=mode)
        session.add(rule)
    rule.mode = mode
    rule.upstream_id = upstream.id if upstream is not None else None
    rule.created_by_id = actor_id
    rule.created_at = utcnow()
    session.flush()
    project_id = session.scalar(select(Project.id).where(Project.normalized_name == normalized))
    record(
        session,
        "mirror:origin:set",
        origin=origin,
        actor_id=actor_id,
        project_id=project_id,
        summary=describe_rule(normalized, mode, upstream_name),
        name=normalized,
        mode=mode,
        upstream=upstream_name,
        previous=previous,
    )
    return rule


def describe_rule(name: str, mode: str, upstream_name: str | None) -> str:
    if mode == ORIGIN_LOCAL:
        return f"{name} is served from local uploads only"
    if mode == ORIGIN_UPSTREAM:
        return f"{name} is served from the upstream {upstream_name} only; local uploads refused"
    where = f"the upstream {upstream_name}" if upstream_name else "any upstream"
    return f"{name} is served from local uploads first, then {where}"


def remove_origin(session: Session, name: str, *, origin: Origin, actor_id: int | None) -> bool:
    normalized = canonicalize_name(name)
    gone = session.execute(
        delete(MirrorOrigin).where(MirrorOrigin.normalized_name == normalized)
    ).rowcount  # type: ignore[attr-defined]  # CursorResult of a DELETE
    if gone:
        record(
            session,
            "mirror:origin:remove",
            origin=origin,
            actor_id=actor_id,
            summary=f"{normalized} follows the default origin rule again",
            name=normalized,
        )
    return bool(gone)


# -- the cooldown -----------------------------------------------------------------------------
def exemptions_of(
    session: Session, normalized_name: str, now: dt.datetime
) -> list[MirrorCooldownExemption]:
    """The name's live exemptions."""
    return [
        e
        for e in session.scalars(
            select(MirrorCooldownExemption).where(
                MirrorCooldownExemption.normalized_name == normalized_name
            )
        )
        if e.expires_at is None or e.expires_at > now
    ]


def matures_at(upstream: MirrorUpstream, file: MirrorFile) -> dt.datetime | None:
    """When the file leaves the cooldown (None: never, it has no upload time)."""
    if file.upload_time is None:
        return None
    return file.upload_time + dt.timedelta(days=upstream.cooldown_days)


def is_mature(
    upstream: MirrorUpstream,
    file: MirrorFile,
    exemptions: list[MirrorCooldownExemption],
    now: dt.datetime,
) -> bool:
    if upstream.cooldown_days <= 0:
        return True
    for exemption in exemptions:
        if exemption.version is None:
            return True
        if canonicalize_version(exemption.version) == canonicalize_version(file.version):
            return True
    when = matures_at(upstream, file)
    return when is not None and when <= now


def add_exemption(
    session: Session,
    name: str,
    *,
    version: str | None,
    reason: str,
    expires_at: dt.datetime | None,
    origin: Origin,
    actor_id: int | None,
) -> MirrorCooldownExemption:
    """Let a project (or one version: the emergency bypass) through the cooldown."""
    reason = " ".join(reason.split())
    if not reason:
        raise MirrorError(400, "A cooldown exemption needs a reason.")
    version = (version or "").strip() or None
    if version:
        try:
            Version(version)
        except InvalidVersion as exc:
            raise MirrorError(400, f"{version!r} is not a version (PEP 440).") from exc
    normalized = canonicalize_name(name)
    exemption = MirrorCooldownExemption(
        normalized_name=normalized,
        version=version,
        reason=reason,
        expires_at=expires_at,
        created_by_id=actor_id,
    )
    session.add(exemption)
    session.flush()
    until = f" until {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else ""
    _exemption_event(
        session,
        "mirror:cooldown:exempt",
        exemption,
        f"let through the cooldown{until}: {reason}",
        origin=origin,
        actor_id=actor_id,
        reason=reason,
        expires_at=expires_at.isoformat() if expires_at else None,
    )
    return exemption


def revoke_exemption(
    session: Session, exemption_id: int, *, origin: Origin, actor_id: int | None
) -> MirrorCooldownExemption:
    """End a live exemption now (it stays on record, expired). Files it already let through
    stay published: installers may have them; new files wait out the cooldown again."""
    exemption = session.get(MirrorCooldownExemption, exemption_id)
    now = utcnow()
    if exemption is None or (exemption.expires_at is not None and exemption.expires_at <= now):
        raise MirrorError(404, f"There is no live cooldown exemption {exemption_id}.")
    exemption.expires_at = now
    session.flush()
    _exemption_event(
        session,
        "mirror:cooldown:revoke",
        exemption,
        f"no longer let through the cooldown ({exemption.reason})",
        origin=origin,
        actor_id=actor_id,
    )
    return exemption


def _exemption_event(
    session: Session,
    tag: str,
    exemption: MirrorCooldownExemption,
    done: str,
    *,
    origin: Origin,
    actor_id: int | None,
    **details: Any,  # the event's own fields
) -> None:
    name, version = exemption.normalized_name, exemption.version
    what = f"version {version} of {name}" if version else f"every version of {name}"
    record(
        session,
        tag,
        origin=origin,
        actor_id=actor_id,
        project_id=session.scalar(select(Project.id).where(Project.normalized_name == name)),
        summary=f"{what} {done}",
        name=name,
        version=version,
        **details,
    )
