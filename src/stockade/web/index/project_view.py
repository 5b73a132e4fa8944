"""Everything the public project page shows about one release of a project."""

from __future__ import annotations

import datetime as dt
import string
from dataclasses import dataclass
from email.utils import getaddresses
from typing import Any
from urllib.parse import urlsplit

from packaging.utils import canonicalize_version
from sqlalchemy import select
from sqlalchemy.orm import Session

from stockade.accounts.models import User
from stockade.advisories.queries import any_imported, matches_for, matches_for_many
from stockade.attestations.services import Identity, identities
from stockade.index.browse import is_prerelease, latest_release
from stockade.index.models import ROLE_OWNER, File, Project, Release, Role
from stockade.index.paths import file_path
from stockade.index.state import version_key
from stockade.oidc.services import publisher_names
from stockade.stats.counts import recent_downloads
from stockade.verified.services import VerifiedLink, verified_links

__all__ = [
    "FileRow",
    "HistoryEntry",
    "KnownVulnerability",
    "Maintainer",
    "ProjectView",
    "load_project_view",
]

_KINDS = {"bdist_wheel": "Wheel", "sdist": "Source"}


@dataclass(frozen=True)
class FileRow:
    """One distribution file of the shown release."""

    filename: str
    url: str
    kind: str
    python_version: str
    requires_python: str | None
    size: int
    sha256: str
    blake2_256: str
    md5: str
    uploaded: dt.datetime
    # Who signed the file's PEP 740 attestations (verified at upload); None: not attested.
    attestation: Identity | None = None
    # The trusted publisher (stockade.oidc) whose upload token sent the file, if any.
    published_via: str | None = None


@dataclass(frozen=True)
class HistoryEntry:
    """One release in the project's history."""

    version: str
    created: dt.datetime
    yanked: bool
    yanked_reason: str | None
    prerelease: bool
    current: bool
    # How many known advisories affect this release (0 also when none were ever imported).
    vulnerabilities: int = 0


@dataclass(frozen=True)
class Maintainer:
    """A user with a role on the project."""

    username: str
    role: str


@dataclass(frozen=True)
class KnownVulnerability:
    """An advisory that affects the shown release."""

    osv_id: str
    aliases: tuple[str, ...]
    summary: str | None
    details: str | None
    fixed_in: tuple[str, ...]


@dataclass(frozen=True)
class ProjectView:
    """A project page: the project, the release shown, and that release's metadata."""

    name: str
    normalized_name: str
    status: str
    status_reason: str | None
    release_id: int
    version: str
    latest_version: str
    summary: str | None
    created: dt.datetime
    yanked: bool
    yanked_reason: str | None
    requires_python: str | None
    history: list[HistoryEntry]
    files: list[FileRow]
    maintainers: list[Maintainer]
    # Each link marked verified (a trusted publisher's repository, a verified domain, this
    # index's own page) or not.
    links: list[VerifiedLink]
    classifiers: list[tuple[str, list[str]]]
    license: str | None
    license_expression: str | None
    authors: list[Person]
    maintainers_meta: list[Person]
    keywords: str | None
    requires_dist: list[str]
    description: str
    description_content_type: str | None
    # Downloads over the last day, week and month (stockade.stats), and the critical flag.
    downloads: dict[str, int] | None = None
    critical: bool = False
    # The advisories affecting the shown release; None when none were ever imported.
    vulnerabilities: list[KnownVulnerability] | None = None

    @property
    def is_latest(self) -> bool:
        """Whether this is the release PyPI would call the latest."""
        return self.version == self.latest_version

    @property
    def prerelease(self) -> bool:
        """Whether the shown release is a pre- or dev-release."""
        return is_prerelease(self.version)


def _text(meta: dict[str, Any], key: str) -> str | None:
    value = meta.get(key)
    return (value.strip() or None) if isinstance(value, str) else None


def _strings(meta: dict[str, Any], key: str) -> list[str]:
    value = meta.get(key)
    return [str(v) for v in value] if isinstance(value, list) else []


# PEP 753's well-known labels: a label is normalized (punctuation and whitespace removed,
# lower case), then its aliases become one name, shown as PyPI shows it.
_WELL_KNOWN = {
    "homepage": "Homepage",
    "source": "Source",
    "repository": "Source",
    "sourcecode": "Source",
    "github": "Source",
    "download": "Download",
    "changelog": "Changelog",
    "changes": "Changelog",
    "whatsnew": "Changelog",
    "history": "Changelog",
    "releasenotes": "Release notes",
    "documentation": "Documentation",
    "docs": "Documentation",
    "issues": "Issues",
    "bugs": "Issues",
    "issue": "Issues",
    "tracker": "Issues",
    "issuetracker": "Issues",
    "bugtracker": "Issues",
    "funding": "Funding",
    "sponsor": "Funding",
    "donate": "Funding",
    "donation": "Funding",
}
_DROPPED = str.maketrans("", "", string.punctuation + string.whitespace)


def url_label(label: str) -> str:
    """A Project-URL label as the project page shows it: a PEP 753 well-known label (or one of
    its aliases, in any spelling) by its one name, any other label as given."""
    label = label.strip()
    return _WELL_KNOWN.get(label.translate(_DROPPED).lower(), label)


def _links(meta: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, URL) of Home-page, Download-URL and every Project-URL, well-known labels
    normalized (PEP 753). Only http(s) URLs become links, so a crafted ``javascript:`` URL in
    metadata is never clickable."""
    links: list[tuple[str, str]] = []
    for key, label in (("home_page", "Homepage"), ("download_url", "Download")):
        url = _text(meta, key)
        if url:
            links.append((label, url))
    urls = meta.get("project_urls")
    if isinstance(urls, dict):
        links.extend((url_label(str(label)), str(url).strip()) for label, url in urls.items())
    seen: set[str] = set()
    out = []
    for label, url in links:
        if urlsplit(url).scheme.lower() in ("http", "https") and url not in seen:
            seen.add(url)
            out.append((label, url))
    return out


@dataclass(frozen=True)
class Person:
    """An author or maintainer from the metadata: a name, an address, or both."""

    name: str
    email: str


def _people(names: str | None, emails: str | None) -> list[Person]:
    """Author/Author-email (or Maintainer/…) as people. PEP 621 tools write
    ``Name <address>`` into the email field and leave the name field empty; older tools write
    the name and a bare address apart. Either way each person is shown once."""
    parsed = [(n.strip(), a.strip()) for n, a in getaddresses([emails])] if emails else []
    parsed = [(n, a) for n, a in parsed if n or a]
    if not parsed:
        return [Person(names, "")] if names else []
    if names and not any(n for n, _ in parsed):
        if len(parsed) == 1:
            return [Person(names, parsed[0][1])]
        return [Person(names, ""), *(Person("", a) for _, a in parsed)]
    return [Person(n, a) for n, a in parsed]


def _classifiers(values: list[str]) -> list[tuple[str, list[str]]]:
    """Classifiers grouped by their first part, as PyPI shows them."""
    groups: dict[str, list[str]] = {}
    for value in values:
        head, _, rest = value.partition(" :: ")
        groups.setdefault(head, []).append(rest or head)
    return sorted(groups.items())


def _maintainers(session: Session, project_id: int) -> list[Maintainer]:
    rows = session.execute(
        select(User.username, Role.role_name)
        .join(Role, Role.user_id == User.id)
        .where(Role.project_id == project_id, User.is_active.is_(True))
    ).all()
    people = [Maintainer(username, role) for username, role in rows]
    return sorted(people, key=lambda m: (m.role != ROLE_OWNER, m.username.lower()))


def _files(session: Session, release: Release) -> list[FileRow]:
    files = session.scalars(
        select(File)
        .where(File.release_id == release.id, File.deletion_id.is_(None))
        .order_by(File.filename)
    ).all()
    attested = identities(session, (f.id for f in files))
    publishers = publisher_names(session, (f.publisher_id for f in files))
    return [
        FileRow(
            filename=f.filename,
            url=file_path(f.sha256_digest, f.filename),
            kind=_KINDS.get(f.packagetype, f.packagetype),
            python_version=f.python_version,
            requires_python=f.requires_python,
            size=f.size,
            sha256=f.sha256_digest,
            blake2_256=f.blake2_256_digest,
            md5=f.md5_digest,
            uploaded=f.upload_time,
            attestation=attested.get(f.id),
            published_via=publishers.get(f.publisher_id) if f.publisher_id else None,
        )
        for f in files
    ]


def load_project_view(
    session: Session, normalized_name: str, version: str | None = None, *, base_url: str = ""
) -> ProjectView | None:
    """The page of ``version`` (the latest release when None) of a project, or None when the
    project or that release does not exist, or the project is quarantined or has no releases."""
    project = session.scalar(select(Project).where(Project.normalized_name == normalized_name))
    if project is None or project.status == "quarantined" or project.deletion_id is not None:
        return None
    releases = list(
        session.scalars(
            select(Release).where(Release.project_id == project.id, Release.deletion_id.is_(None))
        )
    )
    if not releases:
        return None
    latest = latest_release(releases)
    if version is None:
        shown = latest
    else:
        canonical = canonicalize_version(version)
        matches = [r for r in releases if r.canonical_version == canonical]
        if not matches:
            return None
        shown = matches[0]
    meta: dict[str, Any] = shown.metadata_json or {}
    ordered = sorted(releases, key=lambda r: version_key(r.version), reverse=True)
    affected = _affected_counts(session, project, ordered)
    history = [
        HistoryEntry(
            version=r.version,
            created=r.created_at,
            yanked=r.yanked,
            yanked_reason=r.yanked_reason if r.yanked else None,
            prerelease=is_prerelease(r.version),
            current=r.id == shown.id,
            vulnerabilities=n,
        )
        for r, n in zip(ordered, affected, strict=True)
    ]
    description = meta.get("description")
    return ProjectView(
        name=project.name,
        normalized_name=project.normalized_name,
        status=project.status,
        status_reason=project.status_reason,
        release_id=shown.id,
        version=shown.version,
        latest_version=latest.version,
        summary=shown.summary,
        created=shown.created_at,
        yanked=shown.yanked,
        yanked_reason=shown.yanked_reason if shown.yanked else None,
        requires_python=shown.requires_python,
        history=history,
        files=_files(session, shown),
        maintainers=_maintainers(session, project.id),
        links=verified_links(session, project, _links(meta), base_url=base_url),
        classifiers=_classifiers(_strings(meta, "classifiers")),
        license=_text(meta, "license"),
        license_expression=_text(meta, "license_expression"),
        authors=_people(_text(meta, "author"), _text(meta, "author_email")),
        maintainers_meta=_people(_text(meta, "maintainer"), _text(meta, "maintainer_email")),
        keywords=_text(meta, "keywords"),
        requires_dist=_strings(meta, "requires_dist"),
        description=description if isinstance(description, str) else "",
        description_content_type=_text(meta, "description_content_type"),
        downloads=recent_downloads(session, project.id).as_dict(),
        critical=project.critical,
        vulnerabilities=_vulnerabilities(session, project, shown),
    )


def _affected_counts(session: Session, project: Project, releases: list[Release]) -> list[int]:
    """How many known advisories affect each release (one read of the project's advisories)."""
    if not any_imported(session):
        return [0] * len(releases)
    queries = [(project.normalized_name, r.version) for r in releases]
    return [len(m) for m in matches_for_many(session, queries)]


def _vulnerabilities(
    session: Session, project: Project, release: Release
) -> list[KnownVulnerability] | None:
    if not any_imported(session):
        return None
    return [
        KnownVulnerability(
            osv_id=m.advisory.osv_id,
            aliases=tuple(m.advisory.aliases),
            summary=m.advisory.summary,
            details=m.advisory.details,
            fixed_in=m.fixed_in,
        )
        for m in matches_for(session, project.normalized_name, release.version)
    ]
