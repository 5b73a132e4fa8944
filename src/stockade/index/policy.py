"""The 2FA requirement: who must have a second factor before uploading to or managing a project.

Three rules, each naming itself in the refusal it causes:

- ``all`` (setting ``two_factor_required = "all"``, as PyPI since 2024): every upload, also the
  one that creates a project, and every project-management action;
- ``critical`` (the default level): maintainers of projects marked critical (top downloads, or
  pinned by an administrator), to upload to or manage them;
- the per-project opt-in (``Project.require_2fa``, turned on by an owner): every collaborator of
  that project, at every level, ``none`` included.

A project that falls under a rule also refuses to take in collaborators without 2FA: inviting
them and accepting an invitation are both refused (the role would be useless to them). As on
PyPI, administrators are not exempt: an administrator acting on such a project needs 2FA too.
Creating API tokens is never blocked; the upload made with one is. Account pages, and the page
where 2FA is set up, are never behind a rule.

The ``critical`` rule applies from the date in ``two_factor_enforce_after`` on (empty: now).
Before that date, maintainers of critical projects without 2FA may still upload and manage
them; each upload answers with a warning naming the date (:meth:`TwoFactorPolicy.warning`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from sqlalchemy.orm import Session

from stockade.accounts.twofactor.factors import has_two_factor
from stockade.config import Settings
from stockade.db import Database
from stockade.index.models import Project
from stockade.orgs.services import requires_two_factor

__all__ = [
    "LEVELS",
    "SETUP_PATH",
    "Action",
    "Rule",
    "TwoFactorPolicy",
    "applicable_rule",
    "critical_enforced",
    "enforcement_date",
    "manage_refusal",
    "refusal_message",
    "rule_summary",
    "two_factor_refusal",
]

LEVELS = ("none", "critical", "all")
# The page where a user enables 2FA (web.accounts.twofactor.overview); every refusal links it.
SETUP_PATH = "/manage/account/two-factor/"

Action = Literal["upload", "manage", "join"]

_DOING: dict[str, str] = {
    "upload": "to upload to project {project!r}",
    "manage": "to manage project {project!r}",
    "join": "to become a collaborator on project {project!r}",
}


class Rule(StrEnum):
    """Why a user must have 2FA for a project."""

    ALL = "all"
    CRITICAL = "critical"
    PROJECT = "project"
    ORG = "org"


def enforcement_date(settings: Settings) -> dt.date | None:
    """The day the ``critical`` rule starts to apply; None: it already does (no date set)."""
    value = settings.two_factor_enforce_after
    return dt.date.fromisoformat(value) if value else None


def critical_enforced(settings: Settings, *, today: dt.date | None = None) -> bool:
    """Whether the ``critical`` rule applies today (UTC)."""
    start = enforcement_date(settings)
    return start is None or (today or dt.datetime.now(dt.UTC).date()) >= start


def applicable_rule(
    level: str, project: Project | None, *, critical_in_force: bool = True
) -> Rule | None:
    """The rule under which collaborators of ``project`` need 2FA at this index-wide ``level``;
    None when nothing requires it. ``project`` None is a project an upload would create: only
    ``all`` reaches it. When several rules apply, the widest one is named. The ``critical`` rule
    counts only when ``critical_in_force`` (its enforcement date has come)."""
    if level == Rule.ALL:
        return Rule.ALL
    if project is None:
        return None
    if level == Rule.CRITICAL and project.critical and critical_in_force:
        return Rule.CRITICAL
    if project.require_2fa:
        return Rule.PROJECT
    return None


def _reason(rule: Rule, project: str) -> str:
    if rule is Rule.ALL:
        return (
            "this index requires two-factor authentication for every upload and every "
            "project management action"
        )
    if rule is Rule.CRITICAL:
        return (
            f"{project!r} is a critical project, and this index requires two-factor "
            "authentication from every maintainer of a critical project"
        )
    if rule is Rule.ORG:
        return f"the organization that owns project {project!r} requires 2FA of its members"
    return f"the owners of project {project!r} require 2FA for all maintainers"


def refusal_message(
    rule: Rule, *, username: str, project: str, action: Action, setup_url: str
) -> str:
    """The one-line refusal: who, what for, which rule, and where to set 2FA up."""
    doing = _DOING[action].format(project=project)
    return (
        f"User {username!r} must enable two-factor authentication {doing}: "
        f"{_reason(rule, project)}. Set it up at {setup_url}"
    )


def rule_summary(
    level: str, project: Project, *, enforce_after: dt.date | None = None
) -> list[str]:
    """What applies to ``project`` under ``level``, in sentences for its settings page;
    ``enforce_after``: the day the ``critical`` rule starts to apply (None: it does)."""
    lines = []
    if level == Rule.ALL:
        lines.append(
            "This index requires two-factor authentication for every upload and every "
            "project management action, on every project."
        )
    if project.critical:
        if level == "none":
            lines.append(
                "The project is critical, but this index does not require 2FA of the "
                "maintainers of critical projects."
            )
        elif (
            level == Rule.CRITICAL
            and enforce_after is not None
            and dt.datetime.now(dt.UTC).date() < enforce_after
        ):
            lines.append(
                f"The project is critical: from {enforce_after.isoformat()} on, every "
                "maintainer must have two-factor authentication to upload to it or manage it. "
                "Until then, uploads without it succeed with a warning."
            )
        else:
            lines.append(
                "The project is critical: every maintainer must have two-factor "
                "authentication to upload to it or manage it."
            )
    if project.require_2fa:
        lines.append(
            "The owners require 2FA for all maintainers: collaborators without it cannot "
            "upload, manage the project or be invited."
        )
    if not lines:
        lines.append("Nothing requires two-factor authentication for this project.")
    return lines


@dataclass(frozen=True)
class TwoFactorPolicy:
    """The index-wide level and where refusals send people; applies the rules."""

    level: str = "none"
    # The site's base URL ("" gives a link relative to the site).
    base_url: str = ""
    # From when the ``critical`` rule applies (None: it does).
    enforce_after: dt.date | None = None

    @classmethod
    def of(cls, settings: Settings, base_url: str | None = None) -> TwoFactorPolicy:
        """The policy configured in ``settings``; ``base_url`` when the request knows better."""
        return cls(
            settings.two_factor_required,
            (base_url or settings.base_url).rstrip("/"),
            enforcement_date(settings),
        )

    @property
    def critical_in_force(self) -> bool:
        """Whether the ``critical`` rule applies today (UTC)."""
        start = self.enforce_after
        return start is None or dt.datetime.now(dt.UTC).date() >= start

    def warning(
        self, session: Session, *, user_id: int, username: str, project: Project | None
    ) -> str | None:
        """The notice for a maintainer of a critical project without 2FA while the ``critical``
        rule is not yet in force (None when it does not concern them)."""
        if (
            self.level != Rule.CRITICAL
            or project is None
            or not project.critical
            or self.critical_in_force
            or has_two_factor(session, user_id)
        ):
            return None
        return (
            f"Warning: {project.name!r} is a critical project. From {self.enforce_after} on, "
            f"user {username!r} must enable two-factor authentication to upload to it or "
            f"manage it. Set it up at {self.setup_url}"
        )

    @property
    def setup_url(self) -> str:
        """The page where 2FA is set up."""
        return self.base_url + SETUP_PATH

    def refusal(
        self,
        session: Session,
        *,
        user_id: int,
        username: str,
        project: Project | None,
        project_name: str,
        action: Action,
    ) -> str | None:
        """Why this user may not do ``action`` on the project for lack of 2FA; None when they
        may (no rule applies, or they have a second factor)."""
        rule = applicable_rule(self.level, project, critical_in_force=self.critical_in_force)
        if rule is None and project is not None and requires_two_factor(session, project.id):
            rule = Rule.ORG
        if rule is None or has_two_factor(session, user_id):
            return None
        return refusal_message(
            rule, username=username, project=project_name, action=action, setup_url=self.setup_url
        )


def two_factor_refusal(
    session: Session,
    settings: Settings,
    *,
    user_id: int,
    username: str,
    project: Project | None,
    project_name: str,
    action: Action,
    base_url: str | None = None,
) -> str | None:
    """The refusal for a user without 2FA under the configured policy, or None."""
    return TwoFactorPolicy.of(settings, base_url).refusal(
        session,
        user_id=user_id,
        username=username,
        project=project,
        project_name=project_name,
        action=action,
    )


def manage_refusal(
    db: Database,
    settings: Settings,
    *,
    user_id: int,
    username: str,
    project: Project,
    base_url: str,
) -> str | None:
    """``two_factor_refusal`` for a management action (the organization's requirement is
    read with the rest)."""
    with db.read() as session:
        return two_factor_refusal(
            session,
            settings,
            user_id=user_id,
            username=username,
            project=project,
            project_name=project.name,
            action="manage",
            base_url=base_url,
        )
