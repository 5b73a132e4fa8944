"""A project's security settings: the owners' 2FA opt-in, administrators' critical pins, and
the owners' provenance-pattern choices (what happens to an upload that breaks it, and a reset
when they change how the project publishes on purpose).

Critical is sticky (issue: critical projects): once a project is critical it stays critical, so
removing a pin clears only ``critical_pinned`` — the marker that an administrator chose it —
and never the designation itself. Each change locks the project row and records an event on
the project.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from stockade.accounts.models import User
from stockade.accounts.twofactor.factors import has_two_factor
from stockade.config import PROVENANCE_REGRESSION_CHOICES
from stockade.db.base import utcnow
from stockade.events.services import Origin, record
from stockade.index.models import Project, Role
from stockade.index.policy import TwoFactorPolicy
from stockade.index.rules import NotAllowed, lock_project, require_owner

__all__ = [
    "MemberTwoFactor",
    "PinResult",
    "members_two_factor",
    "pin_critical",
    "reset_provenance_pattern",
    "set_provenance_regression",
    "set_require_2fa",
    "unpin_critical",
]


def set_require_2fa(
    session: Session,
    *,
    actor: User,
    project: Project,
    enabled: bool,
    policy: TwoFactorPolicy,
    origin: Origin,
) -> bool:
    """Turn the owners' "require 2FA for all maintainers" on or off; False when it already was.

    Only owners (and administrators) may; turning it on needs 2FA on the actor's own account,
    as on PyPI, so no owner can lock themselves out by mistake.
    """
    lock_project(session, project)
    session.refresh(project)
    require_owner(session, actor, project)
    if project.require_2fa == enabled:
        return False
    if enabled and not has_two_factor(session, actor.id):
        raise NotAllowed(
            f"You must enable two-factor authentication on your own account before requiring "
            f"it of every maintainer of project {project.name!r}. Set it up at {policy.setup_url}"
        )
    project.require_2fa = enabled
    record(
        session,
        "project:2fa:require" if enabled else "project:2fa:unrequire",
        origin=origin,
        actor_id=actor.id,
        project_id=project.id,
        name=project.name,
    )
    return True


@dataclass(frozen=True)
class PinResult:
    """What pinning or unpinning changed."""

    changed: bool
    # Whether the project was critical before (a pin on a critical project keeps it so).
    was_critical: bool


def pin_critical(
    session: Session, *, project: Project, origin: Origin, actor_id: int | None = None
) -> PinResult:
    """Pin the project as critical (an administrator's choice): critical from now on, and kept
    critical by the pin whatever its downloads."""
    lock_project(session, project)
    session.refresh(project)
    was_critical = project.critical
    if project.critical_pinned:
        return PinResult(changed=False, was_critical=was_critical)
    project.critical = True
    project.critical_pinned = True
    if project.critical_since is None:
        project.critical_since = utcnow()
    record(
        session,
        "project:critical",
        origin=origin,
        actor_id=actor_id,
        project_id=project.id,
        name=project.name,
        reason="pinned",
        was_critical=was_critical,
    )
    return PinResult(changed=True, was_critical=was_critical)


def unpin_critical(
    session: Session, *, project: Project, origin: Origin, actor_id: int | None = None
) -> PinResult:
    """Remove an administrator's pin. The project stays critical (critical is sticky)."""
    lock_project(session, project)
    session.refresh(project)
    if not project.critical_pinned:
        return PinResult(changed=False, was_critical=project.critical)
    project.critical_pinned = False
    record(
        session,
        "project:critical:unpin",
        origin=origin,
        actor_id=actor_id,
        project_id=project.id,
        name=project.name,
    )
    return PinResult(changed=True, was_critical=project.critical)


@dataclass(frozen=True)
class MemberTwoFactor:
    """A collaborator and whether they have a second factor."""

    username: str
    role: str
    has_two_factor: bool


def members_two_factor(session: Session, project_id: int) -> list[MemberTwoFactor]:
    """Every collaborator of the project with their 2FA state, those without it first."""
    rows = session.execute(
        select(User.id, User.username, Role.role_name)
        .join(Role, Role.user_id == User.id)
        .where(Role.project_id == project_id)
    ).all()
    members = [
        MemberTwoFactor(name, role, has_two_factor(session, uid)) for uid, name, role in rows
    ]
    return sorted(members, key=lambda m: (m.has_two_factor, m.username.lower()))


def set_provenance_regression(
    session: Session, *, actor: User, project: Project, mode: str | None, origin: Origin
) -> bool:
    """The owners' choice for uploads that break the project's provenance pattern
    (``refuse``, ``hold``, ``warn``; None: the index's setting); False when it already was."""
    if mode is not None and mode not in PROVENANCE_REGRESSION_CHOICES:
        raise NotAllowed(f"Unknown choice {mode!r}: refuse, hold or warn.")
    lock_project(session, project)
    session.refresh(project)
    require_owner(session, actor, project)
    if project.provenance_regression == mode:
        return False
    project.provenance_regression = mode
    record(
        session,
        "project:provenance:regression",
        origin=origin,
        actor_id=actor.id,
        project_id=project.id,
        mode=mode or "the index's setting",
    )
    return True


def reset_provenance_pattern(
    session: Session, *, actor: User, project: Project, origin: Origin
) -> None:
    """Start a new provenance pattern: the releases so far no longer set one (the owners are
    moving the project's CI, or starting to publish another way, on purpose)."""
    lock_project(session, project)
    session.refresh(project)
    require_owner(session, actor, project)
    project.provenance_pattern_since = utcnow()
    record(
        session,
        "project:provenance:reset",
        origin=origin,
        actor_id=actor.id,
        project_id=project.id,
    )
