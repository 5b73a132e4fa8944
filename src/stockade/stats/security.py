"""The security dashboard's figures, now and as daily snapshots (job ``security-snapshot``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, fields

from sqlalchemy import func, select, true
from sqlalchemy.orm import Session

from stockade.accounts.models import User
from stockade.accounts.twofactor.models import TotpSecret, WebAuthnKey
from stockade.db.base import utcnow
from stockade.index.held import CONFIRMED, HELD, HeldFile
from stockade.index.models import File, Project, Role
from stockade.index.provenance import FileProvenance
from stockade.jobs.interface import Job, JobContext, JobResult
from stockade.stats.counts import today
from stockade.stats.models import SecuritySnapshot

__all__ = [
    "FIGURES",
    "SECURITY_SNAPSHOT_JOB",
    "Figures",
    "current_figures",
    "history",
    "take_snapshot",
    "through_today",
]


@dataclass(frozen=True)
class Figures:
    """One set of dashboard figures (the keys of /stats/security.json)."""

    users: int
    users_2fa: int
    users_totp: int
    users_webauthn: int
    critical_projects: int
    critical_maintainers: int
    critical_maintainers_2fa: int
    projects_requiring_2fa: int
    uploads_trusted_publishing_pct: float
    uploads_attested_pct: float
    held_files: int
    held_files_confirmed: int

    def as_dict(self) -> dict[str, int | float]:
        return asdict(self)


FIGURES = tuple(f.name for f in fields(Figures))


def current_figures(session: Session) -> Figures:
    """The figures as they are now: a handful of aggregate queries."""
    active = User.is_active.is_(true())
    totp_users = select(TotpSecret.user_id).where(TotpSecret.confirmed_at.is_not(None))
    key_users = select(WebAuthnKey.user_id)
    has_2fa = User.id.in_(totp_users) | User.id.in_(key_users)

    def users_where(*cond: object) -> int:
        return int(session.scalar(select(func.count(User.id)).where(active, *cond)) or 0)  # type: ignore[arg-type]

    live_critical = (Project.critical.is_(true()), Project.deletion_id.is_(None))
    maintainers = (
        select(Role.user_id).join(Project, Project.id == Role.project_id).where(*live_critical)
    )
    files = int(session.scalar(select(func.count(File.id))) or 0)
    published = int(
        session.scalar(select(func.count(File.id)).where(File.publisher_id.is_not(None))) or 0
    )
    attested = int(session.scalar(select(func.count(FileProvenance.file_id))) or 0)
    return Figures(
        users=users_where(),
        users_2fa=users_where(has_2fa),
        users_totp=users_where(User.id.in_(totp_users)),
        users_webauthn=users_where(User.id.in_(key_users)),
        critical_projects=int(
            session.scalar(select(func.count(Project.id)).where(*live_critical)) or 0
        ),
        critical_maintainers=users_where(User.id.in_(maintainers)),
        critical_maintainers_2fa=users_where(User.id.in_(maintainers), has_2fa),
        projects_requiring_2fa=int(
            session.scalar(
                select(func.count(Project.id)).where(
                    Project.require_2fa.is_(true()), Project.deletion_id.is_(None)
                )
            )
            or 0
        ),
        uploads_trusted_publishing_pct=_pct(published, files),
        uploads_attested_pct=_pct(attested, files),
        held_files=_held(session, HELD),
        held_files_confirmed=_held(session, CONFIRMED),
    )


def _held(session: Session, status: str) -> int:
    return int(
        session.scalar(select(func.count(HeldFile.id)).where(HeldFile.status == status)) or 0
    )


def _pct(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def take_snapshot(session: Session, *, day: dt.date | None = None) -> bool:
    """Store today's figures; False (nothing changed) when today's snapshot exists."""
    day = day or today()
    if session.get(SecuritySnapshot, day) is not None:
        return False
    figures = current_figures(session)
    session.add(SecuritySnapshot(day=day, taken_at=utcnow(), **figures.as_dict()))
    return True


def history(session: Session, *, since: dt.date | None = None) -> list[tuple[dt.date, Figures]]:
    """The stored snapshots, oldest first (from ``since`` on)."""
    query = select(SecuritySnapshot).order_by(SecuritySnapshot.day)
    if since is not None:
        query = query.where(SecuritySnapshot.day >= since)
    return [
        (row.day, Figures(**{name: getattr(row, name) for name in FIGURES}))
        for row in session.scalars(query)
    ]


def through_today(
    snapshots: list[tuple[dt.date, Figures]], current: Figures, day: dt.date
) -> list[tuple[dt.date, Figures]]:
    """The series a chart draws: the stored days before ``day``, then ``current`` as ``day``'s
    value. Today's stored snapshot may predate every account made since, so the chart's last
    point always agrees with the headline figure above it."""
    return [(d, f) for d, f in snapshots if d < day] + [(day, current)]


def _run(ctx: JobContext) -> JobResult:
    with ctx.db.write() as session:
        taken = take_snapshot(session)
    day = today().isoformat()
    if not taken:
        return JobResult(summary=f"the snapshot of {day} exists")
    return JobResult(summary=f"snapshot of {day} taken", changes=[f"snapshot {day}"])


SECURITY_SNAPSHOT_JOB = Job(
    name="security-snapshot",
    description="Store today's security dashboard figures (once a day).",
    interval=dt.timedelta(hours=1),
    run=_run,
)
