"""Provenance regression: an upload that breaks the pattern its project's releases set.

When the last ``provenance_window`` releases of a project (those after the owners last reset
the pattern, ``Project.provenance_pattern_since``) all came through a trusted publisher, all
carried PEP 740 attestations, or all came from one publisher identity (provider, repository
and workflow), an upload that does not is a regression: the shape of the ultralytics releases
of December 2024, uploaded with a stolen token into a project that had always published from
CI. What happens to it is the project's choice, else the index's (``provenance_regression``):
``refuse`` (403 naming the rule), ``hold`` (stored, not listed until an owner confirms it,
:mod:`stockade.publish.holds`) or ``warn`` (accepted; the uploader is warned, the owners
mailed).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from stockade.config import Settings
from stockade.index.models import File, Project, Release
from stockade.index.provenance import FileProvenance
from stockade.oidc.models import Publisher

__all__ = ["Regression", "find_regression", "mode_of"]


@dataclass(frozen=True)
class Regression:
    """The rule an upload breaks (``trusted-publishing``, ``attestations``, ``publisher``) and
    why, in one sentence."""

    rule: str
    reason: str


def mode_of(settings: Settings, project: Project) -> str:
    """``refuse``, ``hold`` or ``warn``: the project's choice, else the index's."""
    return project.provenance_regression or settings.provenance_regression


def _identity(publisher: Publisher | None) -> tuple[str, ...] | None:
    if publisher is None:
        return None
    # The environment is left out: the same workflow deploying to another environment is the
    # same CI; another repository or workflow is not.
    return (
        publisher.provider,
        (publisher.owner or "").lower(),
        (publisher.repository or "").lower(),
        publisher.workflow or "",
        (publisher.email or "").lower(),
        publisher.issuer_url or "",
    )


def _describe(identity: tuple[str, ...]) -> str:
    provider, owner, repository, workflow, email, _issuer = identity
    if repository:
        where = f"{owner}/{repository}" if owner else repository
        return f"{provider} {where}" + (f" ({workflow})" if workflow else "")
    return f"{provider} {email}".strip()


def find_regression(
    session: Session,
    settings: Settings,
    project: Project,
    *,
    canonical_version: str,
    publisher_id: int | None,
    attested: bool,
) -> Regression | None:
    """The rule this upload breaks, or None (also when the project has fewer releases than
    the window since its pattern was last reset). Files added to a release of the window are
    judged against the other releases."""
    window = settings.provenance_window
    has_files = exists().where(File.release_id == Release.id, File.deletion_id.is_(None))
    query = select(Release.id).where(
        Release.project_id == project.id,
        Release.deletion_id.is_(None),
        Release.canonical_version != canonical_version,
        has_files,
    )
    if project.provenance_pattern_since is not None:
        query = query.where(Release.created_at > project.provenance_pattern_since)
    release_ids = list(
        session.scalars(query.order_by(Release.created_at.desc(), Release.id.desc()).limit(window))
    )
    if len(release_ids) < window:
        return None
    files = session.execute(
        select(File.id, File.publisher_id).where(
            File.release_id.in_(release_ids), File.deletion_id.is_(None)
        )
    ).all()
    file_ids = [f.id for f in files]
    attested_ids = set(
        session.scalars(select(FileProvenance.file_id).where(FileProvenance.file_id.in_(file_ids)))
    )
    what = f"The last {window} releases of {project.name}"
    if all(f.publisher_id is not None for f in files):
        if publisher_id is None:
            return Regression(
                "trusted-publishing",
                f"{what} were all uploaded by a trusted publisher; this upload used an API "
                "token instead (provenance rule: trusted-publishing).",
            )
        used = {f.publisher_id for f in files}
        identities = {_identity(session.get(Publisher, pid)) for pid in used}
        if len(identities) == 1 and None not in identities:
            (expected,) = identities
            actual = _identity(session.get(Publisher, publisher_id))
            if expected is not None and actual != expected:
                return Regression(
                    "publisher",
                    f"{what} all came from {_describe(expected)}; this upload came from "
                    f"{_describe(actual) if actual else 'another publisher'} "
                    "(provenance rule: publisher).",
                )
    if all(f.id in attested_ids for f in files) and not attested:
        return Regression(
            "attestations",
            f"{what} all carried attestations (PEP 740); this upload has none "
            "(provenance rule: attestations).",
        )
    return None
