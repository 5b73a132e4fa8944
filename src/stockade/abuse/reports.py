"""Malware reports: filing one (web form or API), the automatic quarantine, the admin queue.

The automatic rule: a project is quarantined at once (reason ``auto:trusted-reporter``) when a
trusted reporter reports it while it is younger than 24 hours, or when its open reports come
from at least two distinct reporters, at least one of them trusted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from packaging.utils import canonicalize_name
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from stockade.abuse.errors import AbuseError
from stockade.abuse.models import REPORT_OPEN, Report
from stockade.abuse.quarantine import AUTO_REASON, Mailing
from stockade.abuse.quarantine import quarantine as quarantine_project
from stockade.abuse.trust import is_trusted, trusted_ids
from stockade.accounts.models import User
from stockade.db.base import utcnow
from stockade.db.ratelimit import Limit
from stockade.events.services import Origin, record
from stockade.index.models import Project
from stockade.index.projects import QUARANTINED
from stockade.index.rules import owners_of
from stockade.lifecycle.changes import find_release
from stockade.mail import Message

__all__ = [
    "MAX_EVIDENCE",
    "MAX_REASON",
    "NEW_PROJECT_AGE",
    "REPORTS_PER_USER",
    "FiledReport",
    "ProjectReports",
    "ReportView",
    "file_report",
    "open_queue",
]

MAX_REASON = 500
MAX_EVIDENCE = 20_000
NEW_PROJECT_AGE = dt.timedelta(hours=24)
# Reports per account (web and API together): enough for a researcher's busy day, not a flood.
REPORTS_PER_USER = Limit(count=30, seconds=3600)


@dataclass(frozen=True)
class FiledReport:
    """A filed report, whether it quarantined the project, and the mail to send after commit."""

    report_id: int
    project: str
    quarantined: bool
    messages: list[Message] = field(default_factory=list)


def _text(value: object, what: str, limit: int) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise AbuseError(422, f"The {what} is required.")
    if not isinstance(value, str):
        raise AbuseError(422, f"The {what} must be a string.")
    text = value.strip()
    if len(text) > limit:
        raise AbuseError(422, f"The {what} is too long: at most {limit} characters.")
    return text


def _auto_quarantine(session: Session, project: Project, reporter_trusted: bool) -> bool:
    """Whether the project's reports now call for the automatic quarantine."""
    if reporter_trusted and utcnow() - project.created_at < NEW_PROJECT_AGE:
        return True
    reporters = [
        r
        for r in session.scalars(
            select(Report.reporter_id)
            .where(Report.project_id == project.id, Report.status == REPORT_OPEN)
            .distinct()
        )
        if r is not None
    ]
    return len(reporters) >= 2 and bool(trusted_ids(session, reporters))


def file_report(
    session: Session,
    *,
    reporter: User,
    project_name: object,
    version: object,
    reason: object,
    evidence: object,
    via: str,
    origin: Origin,
    mailing: Mailing,
) -> FiledReport:
    """File a report (``report:file``) and apply the automatic quarantine.

    AbuseError: 422 for a missing, mistyped or too long field, 404 for an unknown project or
    release, 409 when this reporter already has an open report on the project."""
    name = _text(project_name, "project", 255)
    reason_text = _text(reason, "reason", MAX_REASON)
    evidence_text = _text(evidence, "evidence", MAX_EVIDENCE)
    version_text = None if version in (None, "") else _text(version, "version", 255)
    project = session.scalar(
        select(Project).where(Project.normalized_name == canonicalize_name(name)).with_for_update()
    )
    if project is None or project.deletion_id is not None:
        raise AbuseError(404, f"There is no project named {name!r}.")
    if version_text is not None:
        release = find_release(session, project, version_text)
        if release is None or release.deletion_id is not None:
            raise AbuseError(404, f"Project {project.name!r} has no release {version_text!r}.")
        version_text = release.version
    duplicate = session.scalar(
        select(func.count(Report.id)).where(
            Report.project_id == project.id,
            Report.reporter_id == reporter.id,
            Report.status == REPORT_OPEN,
        )
    )
    if duplicate:
        raise AbuseError(
            409,
            f"You already have an open report on project {project.name!r}; the administrators "
            "will review it.",
        )
    trusted = is_trusted(session, reporter.id)
    report = Report(
        project_id=project.id,
        version=version_text,
        reporter_id=reporter.id,
        reason=reason_text,
        evidence=evidence_text,
        via=via,
    )
    session.add(report)
    session.flush()
    # On the reporter's history, not the project's: owners must not learn who reported them.
    record(
        session,
        "report:file",
        origin=origin,
        actor_id=reporter.id,
        user_id=reporter.id,
        project=project.normalized_name,
        report_id=report.id,
        version=version_text,
        reason=reason_text,
        via=via,
        trusted_reporter=trusted,
    )
    messages: list[Message] = []
    quarantined = False
    if project.status != QUARANTINED and _auto_quarantine(session, project, trusted):
        messages = quarantine_project(
            session, project, AUTO_REASON, origin=origin, actor_id=None, mailing=mailing
        )
        quarantined = True
    return FiledReport(report.id, project.normalized_name, quarantined, messages)


# -- the queue ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReportView:
    """One open report as the queue shows it."""

    id: int
    version: str | None
    reason: str
    evidence: str
    via: str
    created_at: dt.datetime
    reporter: str | None
    trusted: bool


@dataclass(frozen=True)
class ProjectReports:
    """A project with open reports."""

    name: str
    normalized_name: str
    status: str
    status_reason: str | None
    created_at: dt.datetime
    owners: list[str]
    reports: list[ReportView]

    @property
    def age(self) -> dt.timedelta:
        """How long the project has existed."""
        return utcnow() - self.created_at

    @property
    def reporters(self) -> list[tuple[str, bool]]:
        """Distinct reporters (username, trusted), in report order."""
        seen: dict[str, bool] = {}
        for r in self.reports:
            if r.reporter is not None:
                seen.setdefault(r.reporter, r.trusted)
        return list(seen.items())


def open_queue(session: Session) -> list[ProjectReports]:
    """Projects with open reports, and quarantined projects (with reports or not: the queue is
    where they are cleared). Quarantined ones first, then by number of reports, then by their
    oldest report."""
    rows = session.execute(
        select(Report, Project, User.username)
        .join(Project, Project.id == Report.project_id)
        .outerjoin(User, User.id == Report.reporter_id)
        .where(Report.status == REPORT_OPEN, Project.deletion_id.is_(None))
        .order_by(Report.id)
    ).all()
    trusted = trusted_ids(session, [r.reporter_id for r, _, _ in rows if r.reporter_id])
    grouped: dict[int, tuple[Project, list[ReportView]]] = {}
    for report, project, username in rows:
        grouped.setdefault(project.id, (project, []))[1].append(
            ReportView(
                id=report.id,
                version=report.version,
                reason=report.reason,
                evidence=report.evidence,
                via=report.via,
                created_at=report.created_at,
                reporter=username,
                trusted=report.reporter_id in trusted,
            )
        )
    for project in session.scalars(
        select(Project)
        .where(Project.status == QUARANTINED, Project.deletion_id.is_(None))
        .order_by(Project.id)
    ):
        grouped.setdefault(project.id, (project, []))
    queue = [
        ProjectReports(
            name=project.name,
            normalized_name=project.normalized_name,
            status=project.status,
            status_reason=project.status_reason,
            created_at=project.created_at,
            owners=sorted(u.username for u in owners_of(session, project.id)),
            reports=views,
        )
        for project, views in grouped.values()
    ]
    queue.sort(
        key=lambda p: (
            p.status != QUARANTINED,
            -len(p.reports),
            p.reports[0].id if p.reports else 0,
        )
    )
    return queue
