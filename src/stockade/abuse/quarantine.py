"""Quarantine, clear, remove: what administrators (and trusted reporters' reports) do to a
project reported as malware.

A quarantined project (PEP 792 ``quarantined``) leaves the installers' view at once: the status
change is journalled and the simple pages re-rendered in the caller's transaction
(:func:`stockade.lifecycle.status.set_status`), so every worker hides it within the journal poll
interval. Its uploads and role changes are refused
(:func:`stockade.index.projects.frozen_refusal`) and its page is shown only to its owners and
the administrators. Clearing makes it active again; removing deletes it (soft, restorable by an
administrator) and prohibits its name.

Every function works in the caller's transaction and returns the mail to deliver once it has
committed; the caller also calls ``stockade.lifecycle.changes.announce``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from stockade import faults
from stockade.abuse.errors import AbuseError
from stockade.abuse.mails import owner_mail
from stockade.abuse.models import REPORT_OPEN, REPORT_RESOLVED, ProhibitedName, Report
from stockade.abuse.naming import prohibit
from stockade.db.base import utcnow
from stockade.events.services import Origin, record
from stockade.index.models import Project
from stockade.index.projects import QUARANTINED
from stockade.lifecycle.deletion import delete_project
from stockade.lifecycle.status import set_status
from stockade.mail import Message

__all__ = [
    "AUTO_REASON",
    "Mailing",
    "clear",
    "dismiss",
    "quarantine",
    "remove",
    "resolve_open_reports",
]

AUTO_REASON = "auto:trusted-reporter"


@dataclass(frozen=True)
class Mailing:
    """Where mail links point and what the site is called."""

    site_name: str
    base_url: str


def _live(session: Session, project: Project) -> None:
    # Serializes quarantine, clear and reports on one project.
    session.refresh(project, with_for_update=True)
    if project.deletion_id is not None:
        raise AbuseError(404, f"Project {project.name!r} does not exist.")


def quarantine(
    session: Session,
    project: Project,
    reason: str | None,
    *,
    origin: Origin,
    actor_id: int | None,
    mailing: Mailing,
) -> list[Message]:
    """Quarantine a live project (``project:quarantine``); its owners are told."""
    _live(session, project)
    if project.status == QUARANTINED:
        raise AbuseError(400, f"Project {project.name!r} is already quarantined.")
    reason = " ".join((reason or "").split()) or "quarantined by an administrator"
    set_status(
        session,
        project,
        QUARANTINED,
        reason,
        origin=origin,
        actor_id=actor_id,
        tag="project:quarantine",
    )
    faults.point("quarantine:before-commit")
    return owner_mail(
        session,
        project,
        "quarantined",
        reason=reason,
        site_name=mailing.site_name,
        base_url=mailing.base_url,
    )


def resolve_open_reports(
    session: Session, project: Project, resolution: str, *, origin: Origin, actor_id: int | None
) -> int:
    """Close the project's open reports with ``resolution``; one ``report:resolve`` event each.
    Returns how many."""
    reports = list(
        session.scalars(
            select(Report).where(Report.project_id == project.id, Report.status == REPORT_OPEN)
        )
    )
    now = utcnow()
    for report in reports:
        report.status, report.resolution = REPORT_RESOLVED, resolution
        report.resolved_at, report.resolved_by_id = now, actor_id
        # The reporter's history (and the administrators'), not the project's: see file_report.
        record(
            session,
            "report:resolve",
            origin=origin,
            actor_id=actor_id,
            user_id=report.reporter_id,
            project=project.normalized_name,
            report_id=report.id,
            resolution=resolution,
        )
    return len(reports)


def clear(
    session: Session, project: Project, *, origin: Origin, actor_id: int | None, mailing: Mailing
) -> list[Message]:
    """Lift a quarantine (``project:quarantine:clear``): active again, open reports resolved as
    ``cleared``, owners told."""
    _live(session, project)
    if project.status != QUARANTINED:
        raise AbuseError(400, f"Project {project.name!r} is not quarantined.")
    set_status(
        session,
        project,
        "active",
        None,
        origin=origin,
        actor_id=actor_id,
        tag="project:quarantine:clear",
    )
    resolve_open_reports(session, project, "cleared", origin=origin, actor_id=actor_id)
    return owner_mail(
        session,
        project,
        "cleared",
        reason=None,
        site_name=mailing.site_name,
        base_url=mailing.base_url,
    )


def dismiss(session: Session, project: Project, *, origin: Origin, actor_id: int | None) -> int:
    """Close the open reports of a project that is not quarantined, with no action taken."""
    _live(session, project)
    if project.status == QUARANTINED:
        raise AbuseError(
            400, f"Project {project.name!r} is quarantined: clear it or remove it instead."
        )
    count = resolve_open_reports(session, project, "dismissed", origin=origin, actor_id=actor_id)
    if not count:
        raise AbuseError(400, f"Project {project.name!r} has no open reports.")
    return count


def remove(
    session: Session,
    project: Project,
    reason: str | None,
    *,
    origin: Origin,
    actor_id: int | None,
    mailing: Mailing,
) -> list[Message]:
    """Remove a malicious project: delete it (soft: an administrator can restore it), prohibit
    its name for new projects, resolve its open reports as ``removed``, tell its owners."""
    _live(session, project)
    reason = " ".join((reason or "").split()) or "malware"
    messages = owner_mail(
        session,
        project,
        "removed",
        reason=reason,
        site_name=mailing.site_name,
        base_url=mailing.base_url,
    )
    delete_project(session, project, origin=origin, actor_id=actor_id, admin=True, reason=reason)
    taken = session.scalar(
        select(ProhibitedName.id).where(ProhibitedName.normalized_name == project.normalized_name)
    )
    if taken is None:
        prohibit(session, project.name, f"removed: {reason}", origin=origin, actor_id=actor_id)
    resolve_open_reports(session, project, "removed", origin=origin, actor_id=actor_id)
    record(
        session,
        "project:remove",
        origin=origin,
        actor_id=actor_id,
        project_id=project.id,
        name=project.name,
        reason=reason,
    )
    return messages
