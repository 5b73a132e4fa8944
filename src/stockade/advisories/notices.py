"""Telling owners: when an imported advisory newly matches a release of their project, each
Owner gets one mail per project and the project's history an event, once per advisory."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from stockade.accounts.models import User
from stockade.advisories.models import Advisory, AdvisoryNotice, AdvisoryPackage
from stockade.advisories.ranges import affects, fixed_versions
from stockade.events.services import Origin, record
from stockade.index.mails import Outbox
from stockade.index.models import Project, Release
from stockade.index.rules import owners_of
from stockade.index.state import version_key

__all__ = ["NewMatch", "NoticeOutbox", "notify_matches"]

_CHUNK = 500


@dataclass(frozen=True)
class NewMatch:
    """An advisory that newly matches some releases of a project."""

    osv_id: str
    summary: str | None
    versions: tuple[str, ...]
    fixed_in: tuple[str, ...]


class NoticeOutbox(Outbox):
    """The owners' advisory mail, queued in the transaction and delivered after it commits."""

    def advisories(self, owner: User, project: Project, matches: list[NewMatch]) -> None:
        """Tell an owner which known vulnerabilities now affect which releases."""
        lines = []
        for m in matches:
            fixed = f"; fixed in {', '.join(m.fixed_in)}" if m.fixed_in else "; no fix known"
            lines.append(
                f"- {m.osv_id}: {m.summary or 'no summary'}\n"
                f"  affects {', '.join(m.versions)}{fixed}\n"
                f"  {self.base_url}/v1/vulns/{m.osv_id}"
            )
        count = f"{len(matches)} known vulnerabilit{'y' if len(matches) == 1 else 'ies'}"
        self._add(
            owner,
            f"{count} in {project.name}",
            f"New security advisories match releases of your project {project.name} on "
            f"{self.site_name}:\n\n" + "\n".join(lines) + "\n\n"
            f"Visitors see them on {self.base_url}/project/{project.normalized_name}/ and "
            "pip-audit reports them. Consider releasing a fixed version and yanking the "
            "affected ones.\n",
        )


def _chunks(values: list[int] | list[str]) -> Iterable[list[int] | list[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def notify_matches(
    session: Session, advisory_ids: Iterable[int], *, origin: Origin, outbox: NoticeOutbox
) -> list[tuple[str, str]]:
    """Record an event and queue the owners' mail for each project that one of these advisories
    matches and was not told of before; the (advisory id, project name) of each."""
    ids = sorted(set(advisory_ids))
    packages: list[tuple[AdvisoryPackage, Advisory]] = []
    for chunk in _chunks(ids):
        packages += session.execute(
            select(AdvisoryPackage, Advisory)
            .join(Advisory, Advisory.id == AdvisoryPackage.advisory_id)
            .where(AdvisoryPackage.advisory_id.in_(chunk), Advisory.withdrawn.is_(None))
        )
    names = sorted({p.normalized_name for p, _ in packages})
    projects: dict[str, Project] = {}
    for chunk in _chunks(names):
        for project in session.scalars(
            select(Project).where(Project.normalized_name.in_(chunk), Project.deletion_id.is_(None))
        ):
            projects[project.normalized_name] = project
    told: list[tuple[str, str]] = []
    found: dict[int, list[NewMatch]] = {}
    for package, advisory in packages:
        target = projects.get(package.normalized_name)
        if target is None:
            continue
        project = target
        if session.get(AdvisoryNotice, (advisory.id, project.id)) is not None:
            continue
        releases = session.scalars(
            select(Release.version).where(
                Release.project_id == project.id, Release.deletion_id.is_(None)
            )
        ).all()
        hit = sorted(
            (v for v in releases if affects(v, package.versions, package.ranges)),
            key=version_key,
        )
        if not hit:
            continue
        match = NewMatch(
            advisory.osv_id, advisory.summary, tuple(hit), tuple(fixed_versions(package.ranges))
        )
        session.add(AdvisoryNotice(advisory_id=advisory.id, project_id=project.id))
        session.flush()
        record(
            session,
            "project:advisory",
            origin=origin,
            project_id=project.id,
            advisory=advisory.osv_id,
            versions=", ".join(hit),
            fixed_in=", ".join(match.fixed_in) or None,
        )
        found.setdefault(project.id, []).append(match)
        told.append((advisory.osv_id, project.name))
    for project in projects.values():
        if project.id in found:
            for owner in owners_of(session, project.id):
                outbox.advisories(owner, project, found[project.id])
    return told
