"""The ``critical-projects`` job: which projects are critical, and telling their maintainers.

A project becomes critical when

- it is among the top ``critical_percent`` % of projects by downloads over the last
  ``critical_window_days`` days (reason "downloads"). The number chosen is
  ``ceil(percent x projects / 100)`` over every project row (deleted ones included, they keep
  their row), so as soon as any project has downloads at least one is chosen; only projects
  with downloads in the window qualify, ties at the cut go to the older project;
- stockade itself depends on it (its distribution's requirements, recursively, as installed)
  and it is hosted on this index (reason "dependency");
- an administrator pins it (``stockade admin pin-critical``; not this job).

Critical is sticky: the job never clears the flag, whatever the downloads do later. A deleted
project keeps its row (``Project.deletion_id``), so deleting and re-creating a name sheds
nothing. Each newly critical project gets a ``project:critical`` event. Every critical project
(pinned ones too) whose maintainers were not told yet gets one mail per owner and maintainer
with a verified primary address, sent after the commit, and a ``project:critical:notified``
event: that event is the record that they were told, so they are told once.

Ranking reads ``download_totals`` (one row per project, kept current as counts arrive; see
stockade.stats.counts), after moving the window to today: the job touches one day of daily rows,
not days x projects.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.metadata
import math
from collections import defaultdict

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from sqlalchemy import func, select, true
from sqlalchemy.orm import Session

from stockade.accounts.models import User, UserEmail
from stockade.config import Settings
from stockade.db.base import utcnow
from stockade.events.models import Event
from stockade.events.services import Origin, record
from stockade.index.models import Project, Role
from stockade.index.policy import SETUP_PATH, enforcement_date
from stockade.jobs.interface import Job, JobContext, JobResult
from stockade.mail import Message, deliver
from stockade.stats.counts import roll_window, today
from stockade.stats.models import DownloadTotal

__all__ = [
    "CRITICAL_PROJECTS_JOB",
    "critical_mail",
    "designate",
    "notify",
    "stockade_dependencies",
    "top_count",
]

JOB_ORIGIN = Origin(ip_address=None, user_agent="stockade-job:critical-projects")
NOTIFIED = "project:critical:notified"


@functools.cache
def stockade_dependencies() -> frozenset[str]:
    """Canonical names of the distributions stockade needs, recursively (as installed here;
    extras are not followed, markers are evaluated for this interpreter)."""
    seen: set[str] = set()
    todo = ["stockade"]
    env = {k: str(v) for k, v in default_environment().items()}
    env["extra"] = ""
    while todo:
        name = todo.pop()
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for line in requires:
            try:
                req = Requirement(line)
            except InvalidRequirement:
                continue
            if req.marker is not None and not req.marker.evaluate(env):
                continue
            dep = canonicalize_name(req.name)
            if dep not in seen and dep != "stockade":
                seen.add(dep)
                todo.append(dep)
    return frozenset(seen)


def top_count(percent: float, projects: int) -> int:
    """How many projects the top ``percent`` % of ``projects`` is (rounded up)."""
    return math.ceil(percent * projects / 100 - 1e-9) if projects else 0


def designate(
    session: Session,
    settings: Settings,
    *,
    now: dt.date | None = None,
    dependencies: frozenset[str] | None = None,
) -> list[tuple[Project, str]]:
    """Mark the projects that qualify as critical; returns the newly critical ones with the
    reason. Idempotent."""
    roll_window(session, settings.critical_window_days, now=now)
    total_projects = int(session.scalar(select(func.count(Project.id))) or 0)
    k = top_count(settings.critical_percent, total_projects)
    top_ids = (
        session.scalars(
            select(DownloadTotal.project_id)
            .where(DownloadTotal.window_total > 0)
            .order_by(DownloadTotal.window_total.desc(), DownloadTotal.project_id)
            .limit(k)
        ).all()
        if k
        else []
    )
    deps = stockade_dependencies() if dependencies is None else dependencies
    wanted: dict[int, str] = {}
    if deps:
        for project_id in session.scalars(
            select(Project.id).where(
                Project.normalized_name.in_(sorted(deps)), Project.critical.is_not(true())
            )
        ):
            wanted[project_id] = "dependency"
    for project_id in top_ids:
        wanted[project_id] = "downloads"
    if not wanted:
        return []
    fresh = session.scalars(
        select(Project)
        .where(Project.id.in_(sorted(wanted)), Project.critical.is_not(true()))
        .order_by(Project.id)
        .with_for_update()
    ).all()
    marked = []
    stamp = utcnow()
    for project in fresh:
        project.critical = True
        project.critical_since = stamp
        reason = wanted[project.id]
        record(
            session,
            "project:critical",
            origin=JOB_ORIGIN,
            project_id=project.id,
            name=project.name,
            reason=reason,
        )
        marked.append((project, reason))
    return marked


def critical_mail(
    *,
    site_name: str,
    base_url: str,
    username: str,
    address: str,
    project: str,
    level: str,
    enforce_after: dt.date | None,
) -> Message:
    """Tells a maintainer that their project is now critical, and what to do about it."""
    setup = f"{base_url}{SETUP_PATH}" if base_url else SETUP_PATH
    if level in ("critical", "all"):
        if enforce_after is not None and enforce_after > today():
            when = (
                f"From {enforce_after.isoformat()} on, {site_name} requires two-factor "
                "authentication (2FA) from every maintainer of a critical project to upload "
                "to it or manage it. Until then, uploads without 2FA still work, with a warning."
            )
        else:
            when = (
                f"{site_name} requires two-factor authentication (2FA) from every maintainer of "
                "a critical project: without it you can no longer upload to the project or "
                "manage it."
            )
    else:
        when = (
            f"{site_name} does not require two-factor authentication (2FA) of maintainers of "
            "critical projects at the moment, but strongly recommends it."
        )
    body = f"""\
Hello {username},

The project "{project}", which you maintain on {site_name}, is now a critical project: it is
among the most downloaded projects of this index, something many others depend on, or an
administrator marked it so. A project stays critical for good, also if it is deleted and
created again.

{when}

Enable 2FA (an authenticator app or a security key) for your account at:

{setup}

Your critical projects and what they ask of you: {base_url}/manage/account/critical/

-- {site_name}
"""
    return Message(
        to=address, subject=f"{project} is now a critical project on {site_name}", body=body
    )


def _unnotified(session: Session) -> list[Project]:
    told = select(Event.project_id).where(Event.tag == NOTIFIED, Event.project_id.is_not(None))
    return list(
        session.scalars(
            select(Project)
            .where(Project.critical.is_(true()), Project.id.not_in(told))
            .order_by(Project.id)
        )
    )


def notify(session: Session, settings: Settings) -> list[Message]:
    """Mail for the maintainers of critical projects not told yet; records that they are."""
    projects = _unnotified(session)
    if not projects:
        return []
    rows = session.execute(
        select(Role.project_id, User.username, UserEmail.email)
        .join(User, User.id == Role.user_id)
        .join(UserEmail, UserEmail.user_id == User.id)
        .where(
            Role.project_id.in_([p.id for p in projects]),
            UserEmail.primary.is_(true()),
            UserEmail.verified.is_(true()),
            User.is_active.is_(true()),
        )
        .order_by(User.username)
    ).all()
    recipients: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for row in rows:
        recipients[row.project_id].append((row.username, row.email))
    mail = []
    enforce_after = enforcement_date(settings)
    for project in projects:
        told = recipients.get(project.id, [])
        for username, address in told:
            mail.append(
                critical_mail(
                    site_name=settings.site_name,
                    base_url=settings.base_url,
                    username=username,
                    address=address,
                    project=project.name,
                    level=settings.two_factor_required,
                    enforce_after=enforce_after,
                )
            )
        record(
            session,
            NOTIFIED,
            origin=JOB_ORIGIN,
            project_id=project.id,
            name=project.name,
            recipients=",".join(sorted(u for u, _ in told)) or None,
        )
    return mail


def _run(ctx: JobContext) -> JobResult:
    with ctx.db.write() as session:
        marked = designate(session, ctx.settings)
        changes = [f"{project.name}: critical ({reason})" for project, reason in marked]
        mail = notify(session, ctx.settings)
    deliver(ctx.mailer, *mail)
    changes += [f"mailed {m.to}: {m.subject}" for m in mail]
    return JobResult(
        summary=f"{len(marked)} project(s) newly critical, {len(mail)} mail(s) sent",
        changes=changes,
    )


CRITICAL_PROJECTS_JOB = Job(
    name="critical-projects",
    description="Mark the most downloaded projects, and stockade's own dependencies, critical.",
    interval=dt.timedelta(days=1),
    run=_run,
)
