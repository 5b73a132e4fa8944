"""Which of a project's URLs are verified, and the domains its owners verify.

A URL is shown as verified when it is an https URL that
- points at the repository of one of the project's trusted publishers (GitHub or GitLab:
  ``https://github.com/<owner>/<repository>`` and anything under it), or
- is on a domain (or a subdomain of one) the owners verified with a DNS TXT record, or
- is this index's own page of the project.

Every other URL is shown as unverified: the metadata says so, nobody checked it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from stockade.config import Settings
from stockade.db import Database, utcnow
from stockade.errors import ServiceError
from stockade.events.services import Origin, record
from stockade.index.models import Project
from stockade.oidc.models import Publisher
from stockade.verified.dns import LookupFailed, txt_records
from stockade.verified.models import ProjectDomain

__all__ = [
    "MAX_DOMAINS",
    "VerifiedLink",
    "add_domain",
    "check_domain",
    "check_due",
    "normalize_domain",
    "record_name",
    "record_value",
    "remove_domain",
    "verified_links",
]

MAX_DOMAINS = 10
RECHECK = dt.timedelta(days=1)
_HOSTS = {"github": "github.com", "gitlab": "gitlab.com"}


@dataclass(frozen=True)
class VerifiedLink:
    """One of the project's links, and whether it is verified."""

    label: str
    url: str
    verified: bool


def record_name(domain: str) -> str:
    """Where the TXT record goes."""
    return f"_stockade-verify.{domain}"


def record_value(token: str) -> str:
    """What the TXT record holds."""
    return f"stockade-verify={token}"


def normalize_domain(text: str) -> str:
    """A domain name as stored (lower case, IDNA, no trailing dot); raises ServiceError."""
    name = text.strip().rstrip(".").lower()
    if "://" in name or "/" in name or ":" in name:
        raise ServiceError(400, "Give a domain name only, such as docs.example.org.")
    try:
        ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        raise ServiceError(400, "An IP address cannot be verified: give a domain name.")
    try:
        name = name.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ServiceError(400, f"{text.strip()!r} is not a valid domain name.") from exc
    labels = name.split(".")
    valid = (
        len(name) <= 253
        and len(labels) >= 2
        and all(
            0 < len(label) <= 63
            and label.replace("-", "").isalnum()
            and not label.startswith("-")
            and not label.endswith("-")
            for label in labels
        )
        and not labels[-1].isdigit()
    )
    if not valid:
        raise ServiceError(400, f"{text.strip()!r} is not a valid domain name.")
    return name


def add_domain(
    session: Session, project: Project, text: str, *, actor_id: int | None, origin: Origin
) -> ProjectDomain:
    """Claim a domain for the project; it is verified once its TXT record is found."""
    domain = normalize_domain(text)
    rows = list(
        session.scalars(select(ProjectDomain).where(ProjectDomain.project_id == project.id))
    )
    if any(row.domain == domain for row in rows):
        raise ServiceError(400, f"{domain} is already listed for this project.")
    if len(rows) >= MAX_DOMAINS:
        raise ServiceError(400, f"A project can list at most {MAX_DOMAINS} domains.")
    row = ProjectDomain(
        project_id=project.id,
        domain=domain,
        token=secrets.token_urlsafe(24),
        created_by_id=actor_id,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    record(
        session,
        "project:domain:add",
        origin=origin,
        actor_id=actor_id,
        project_id=project.id,
        domain=domain,
    )
    return row


def remove_domain(
    session: Session, row: ProjectDomain, *, actor_id: int | None, origin: Origin
) -> None:
    """Stop claiming a domain (its URLs are no longer verified)."""
    record(
        session,
        "project:domain:remove",
        origin=origin,
        actor_id=actor_id,
        project_id=row.project_id,
        domain=row.domain,
    )
    session.delete(row)


def check_domain(
    db: Database, settings: Settings, domain_id: int, now: dt.datetime | None = None
) -> bool | None:
    """Look the domain's TXT record up (outside any transaction) and write what was found:
    True verified, False not, None when the resolver could not say (nothing changes)."""
    now = now or utcnow()
    with db.read() as session:
        row = session.get(ProjectDomain, domain_id)
        if row is None:
            return None
        domain, token = row.domain, row.token
    try:
        found = record_value(token) in txt_records(record_name(domain), settings.dns_resolver)
        result = (
            "the TXT record is in place"
            if found
            else f"no TXT record {record_value(token)!r} at {record_name(domain)}"
        )
    except LookupFailed as exc:
        found, result = None, f"the lookup failed: {exc}"[:255]

    def write(session: Session) -> None:
        row = session.get(ProjectDomain, domain_id)
        if row is None:
            return
        row.checked_at, row.last_result = now, result
        if found is True and row.verified_at is None:
            row.verified_at = now
            record(
                session,
                "project:domain:verify",
                origin=_JOB,
                project_id=row.project_id,
                domain=row.domain,
            )
        elif found is False and row.verified_at is not None:
            row.verified_at = None
            record(
                session,
                "project:domain:lost",
                origin=_JOB,
                project_id=row.project_id,
                domain=row.domain,
            )

    db.run_write(write)
    return found


_JOB = Origin(ip_address=None, user_agent="stockade-job:verified-domains")


def check_due(db: Database, settings: Settings, now: dt.datetime) -> list[str]:
    """Check every domain not verified yet, and the verified ones checked over a day ago."""
    with db.read() as session:
        due = list(
            session.execute(
                select(ProjectDomain.id, ProjectDomain.domain).where(
                    ProjectDomain.verified_at.is_(None)
                    | (ProjectDomain.checked_at.is_(None))
                    | (ProjectDomain.checked_at < now - RECHECK)
                )
            )
        )
    lines = []
    for domain_id, domain in due:
        found = check_domain(db, settings, domain_id, now)
        state = {True: "verified", False: "not verified", None: "lookup failed"}[found]
        lines.append(f"{domain}: {state}")
    return lines


def _repositories(session: Session, project_id: int) -> list[tuple[str, tuple[str, ...]]]:
    """(host, path segments) of the project's trusted publishers' repositories."""
    out = []
    for provider, owner, repository in session.execute(
        select(Publisher.provider, Publisher.owner, Publisher.repository).where(
            Publisher.project_id == project_id
        )
    ):
        host = _HOSTS.get(provider)
        if host and owner and repository:
            segments = (*owner.lower().split("/"), repository.lower())
            out.append((host, segments))
    return out


def _in_repository(
    host: str, path: str, repositories: Iterable[tuple[str, tuple[str, ...]]]
) -> bool:
    segments = [s for s in path.lower().split("/") if s]
    if segments:
        segments[-1] = segments[-1].removesuffix(".git")
    return any(
        host == repo_host and tuple(segments[: len(repo)]) == repo
        for repo_host, repo in repositories
    )


def verified_links(
    session: Session,
    project: Project,
    links: Iterable[tuple[str, str]],
    *,
    base_url: str,
) -> list[VerifiedLink]:
    """The project's (label, URL) links, each marked verified or not."""
    links = list(links)
    if not links:
        return []
    repositories = _repositories(session, project.id)
    domains = set(
        session.scalars(
            select(ProjectDomain.domain).where(
                ProjectDomain.project_id == project.id, ProjectDomain.verified_at.is_not(None)
            )
        )
    )
    own_page = f"{base_url.rstrip('/')}/project/{project.normalized_name}/" if base_url else None
    out = []
    for label, url in links:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
        verified = parts.scheme == "https" and (
            _in_repository(host, parts.path, repositories)
            or any(host == d or host.endswith("." + d) for d in domains)
        )
        if own_page is not None and url.rstrip("/") + "/" == own_page:
            verified = True
        out.append(VerifiedLink(label, url, verified))
    return out
