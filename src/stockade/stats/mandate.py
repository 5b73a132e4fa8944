"""The 2FA mandate for maintainers of critical projects, as users meet it: the warning an upload
carries before the enforcement date, and what the account page tells each maintainer."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select, true
from sqlalchemy.orm import Session

from stockade.accounts.twofactor.factors import has_two_factor
from stockade.config import Settings
from stockade.db import Database
from stockade.events.services import Origin, record
from stockade.index.models import Project, Role
from stockade.index.policy import TwoFactorPolicy
from stockade.tokens.services import AuthenticatedToken

__all__ = ["CriticalStatus", "critical_status", "upload_warning"]


def upload_warning(
    db: Database,
    settings: Settings,
    token: AuthenticatedToken,
    normalized_name: str,
    origin: Origin,
) -> str | None:
    """After an accepted upload: the warning for a maintainer of a critical project without
    2FA while the rule is not in force yet (recorded as ``project:upload:two_factor_warning``);
    None otherwise. A trusted publisher's upload is never warned (its token stands in for 2FA).
    """
    if token.publisher_id is not None:
        return None
    policy = TwoFactorPolicy.of(settings)
    if policy.level != "critical" or policy.critical_in_force:
        return None
    with db.read() as session:
        project = session.scalar(select(Project).where(Project.normalized_name == normalized_name))
        if project is None or not project.critical:
            return None
        text = policy.warning(
            session, user_id=token.user_id, username=token.username, project=project
        )
        project_id = project.id
    if text is None:
        return None
    with db.write() as session:
        record(
            session,
            "project:upload:two_factor_warning",
            origin=origin,
            actor_id=token.user_id,
            user_id=token.user_id,
            project_id=project_id,
            enforce_after=str(policy.enforce_after),
        )
    return text


@dataclass(frozen=True)
class CriticalStatus:
    """What the mandate means for one user."""

    projects: list[str]
    has_two_factor: bool
    level: str
    enforce_after: dt.date | None
    in_force: bool

    @property
    def applies(self) -> bool:
        """Whether the index requires 2FA of this user for their critical projects."""
        return self.level in ("critical", "all") and bool(self.projects)

    @property
    def must_act(self) -> bool:
        """Whether the user maintains critical projects and still lacks 2FA."""
        return self.applies and not self.has_two_factor


def critical_status(session: Session, settings: Settings, user_id: int) -> CriticalStatus:
    """The critical projects the user is a collaborator of, and what the mandate asks of them."""
    names = session.scalars(
        select(Project.name)
        .join(Role, Role.project_id == Project.id)
        .where(
            Role.user_id == user_id,
            Project.critical.is_(true()),
            Project.deletion_id.is_(None),
        )
        .order_by(Project.normalized_name)
    ).all()
    policy = TwoFactorPolicy.of(settings)
    return CriticalStatus(
        projects=list(names),
        has_two_factor=has_two_factor(session, user_id),
        level=policy.level,
        enforce_after=policy.enforce_after,
        in_force=policy.critical_in_force,
    )
