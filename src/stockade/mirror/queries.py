"""What the operator and the admin pages read about the mirror: upstream health and cache
size, files held back by the cooldown, origin rules and cooldown exemptions."""

from __future__ import annotations

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from stockade.index.models import Project
from stockade.mirror.models import (
    FILE_HELD,
    MirrorCooldownExemption,
    MirrorFile,
    MirrorName,
    MirrorOrigin,
    MirrorProject,
    MirrorUpstream,
)
from stockade.mirror.rules import describe_rule, matures_at

__all__ = [
    "exemptions",
    "held_files",
    "listed_names",
    "origin_rules",
    "upstream_health",
]


def upstream_health(s: Session) -> list[dict[str, object]]:
    """Each upstream: its settings, how many projects are cached (and failing), its files by
    state and the bytes of them in storage."""
    rows = []
    for up in s.scalars(select(MirrorUpstream).order_by(MirrorUpstream.priority)):
        projects = s.scalar(
            select(func.count())
            .select_from(MirrorProject)
            .where(MirrorProject.upstream_id == up.id)
        )
        errors = s.scalar(
            select(func.count())
            .select_from(MirrorProject)
            .where(MirrorProject.upstream_id == up.id, MirrorProject.last_error.is_not(None))
        )
        by_state = dict(
            s.execute(
                select(MirrorFile.state, func.count())
                .where(MirrorFile.upstream_id == up.id)
                .group_by(MirrorFile.state)
            ).all()
        )
        cached = s.scalar(
            select(func.coalesce(func.sum(MirrorFile.size), 0)).where(
                MirrorFile.upstream_id == up.id, MirrorFile.cached.is_(True)
            )
        )
        rows.append(
            {
                "name": up.name,
                "url": up.url,
                "ttl_seconds": up.ttl_seconds,
                "cooldown_days": up.cooldown_days,
                "priority": up.priority,
                "enabled": up.enabled,
                "from_settings": up.from_settings,
                "projects": projects,
                "projects_failing": errors,
                "files": {k: by_state.get(k, 0) for k in ("published", "held", "removed")},
                "cached_bytes": int(cached or 0),
            }
        )
    return rows


def held_files(s: Session) -> list[dict[str, object]]:
    """Upstream files held back by the cooldown, and until when (None: no upload time)."""
    rows: list[dict[str, object]] = []
    query = (
        select(MirrorFile, MirrorUpstream, MirrorProject.normalized_name)
        .join(MirrorUpstream, MirrorUpstream.id == MirrorFile.upstream_id)
        .join(MirrorProject, MirrorProject.id == MirrorFile.mirror_project_id)
        .where(MirrorFile.state == FILE_HELD)
        .order_by(MirrorProject.normalized_name, MirrorFile.filename)
    )
    for f, up, name in s.execute(query).all():
        until = matures_at(up, f)
        rows.append(
            {
                "project": name,
                "filename": f.filename,
                "upstream": up.name,
                "upload_time": f.upload_time.isoformat() if f.upload_time else None,
                "held_until": until.isoformat() if until else None,
            }
        )
    return rows


def origin_rules(s: Session) -> list[dict[str, object]]:
    """Every origin rule, in words."""
    names = dict(s.execute(select(MirrorUpstream.id, MirrorUpstream.name)).all())
    return [
        {
            "name": r.normalized_name,
            "mode": r.mode,
            "rule": describe_rule(
                r.normalized_name, r.mode, names.get(r.upstream_id) if r.upstream_id else None
            ),
            "since": r.created_at.isoformat(),
        }
        for r in s.scalars(select(MirrorOrigin).order_by(MirrorOrigin.normalized_name))
    ]


def exemptions(s: Session) -> list[MirrorCooldownExemption]:
    """Every cooldown exemption, newest first."""
    return list(
        s.scalars(select(MirrorCooldownExemption).order_by(MirrorCooldownExemption.id.desc()))
    )


def listed_names(s: Session) -> list[tuple[str, str]]:
    """Names of imported upstream project lists that are not projects here (local or cached,
    live, deleted or quarantined) nor reserved locally: (name, normalized), one per name."""
    rows = s.execute(
        select(MirrorName.name, MirrorName.normalized_name)
        .where(
            ~exists().where(Project.normalized_name == MirrorName.normalized_name),
            ~exists().where(
                MirrorOrigin.normalized_name == MirrorName.normalized_name,
                MirrorOrigin.mode == "local",
            ),
        )
        .order_by(MirrorName.normalized_name)
    )
    seen: set[str] = set()
    names = []
    for name, normalized in rows:
        if normalized not in seen:
            seen.add(normalized)
            names.append((name, normalized))
    return names


def lists_synced_at(s: Session) -> object:
    """When any upstream's project list was last imported (None: never)."""
    return s.scalar(select(func.max(MirrorUpstream.list_synced_at)))
