"""Trusted publishers: registering and removing them, pending publishers, upload tokens.

Every change is an event in the project's (or, for pending publishers, the user's) history.
The token exchange itself (a CI job's OIDC token for an upload token) is stockade.oidc.exchange.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from stockade.abuse.naming import name_refusal
from stockade.accounts.models import User
from stockade.config import Settings
from stockade.db.base import utcnow
from stockade.events.services import CLI, Origin, record
from stockade.index.models import Project
from stockade.index.policy import two_factor_refusal
from stockade.oidc.models import PendingPublisher, Publisher
from stockade.oidc.publishers import (
    PublisherError,
    PublisherSpec,
    attestation_identity,
    describe,
)
from stockade.orgs.namespaces import upload_refusal as namespace_upload_refusal
from stockade.tokens.models import ApiToken
from stockade.tokens.services import TokenError, check_token, create_publisher_token

if TYPE_CHECKING:  # pypi-attestations loads sigstore (~1 s, ~40 MB): not on the app's import path
    import pypi_attestations

__all__ = [
    "PENDING_LIFETIME",
    "TOKEN_LIFETIME",
    "MintedToken",
    "PublisherError",
    "add_pending_publisher",
    "add_publisher",
    "attestation_publisher",
    "burn_token",
    "drop_publishers",
    "mint",
    "mint_upload_token",
    "pending_2fa_refusal",
    "pending_name_refusal",
    "pending_publishers",
    "project_publishers",
    "publisher_names",
    "remove_pending_publisher",
    "remove_publisher",
]

# An upload token minted for a trusted publisher is good for this long (PyPI: 15 minutes).
TOKEN_LIFETIME = dt.timedelta(minutes=15)
# A pending publisher not used within this time lapses: a name cannot be held indefinitely by
# registering a publisher for it.
PENDING_LIFETIME = dt.timedelta(days=30)
# Pending publishers one user may hold at once.
MAX_PENDING_PER_USER = 10

_PROJECT_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)


@dataclass(frozen=True)
class MintedToken:
    """An upload token for a trusted publisher: shown once, valid until ``expires_at``."""

    token: str
    expires_at: dt.datetime
    publisher_id: int
    project: str


def _fields(spec: PublisherSpec) -> dict[str, object]:
    return {"provider": spec.provider, "identity": spec.identity, **spec.columns()}


def add_publisher(
    session: Session,
    project: Project,
    spec: PublisherSpec,
    *,
    origin: Origin,
    actor_id: int | None,
) -> int:
    """Register a trusted publisher for ``project``; returns its id. Raises PublisherError
    when the project already has this publisher."""
    publisher = Publisher(project_id=project.id, added_by_id=actor_id, **_fields(spec))
    try:
        with session.begin_nested():
            session.add(publisher)
            session.flush()
    except IntegrityError as exc:
        raise PublisherError(
            f"Project {project.name!r} already has this publisher: {spec.describe()}."
        ) from exc
    record(
        session,
        "publisher:add",
        origin=origin,
        actor_id=actor_id,
        project_id=project.id,
        publisher_id=publisher.id,
        provider=spec.provider,
        publisher=spec.describe(),
    )
    return publisher.id


def remove_publisher(
    session: Session, project: Project, publisher_id: int, *, origin: Origin, actor_id: int | None
) -> None:
    """Remove one of the project's publishers. Upload tokens minted for it stop working (the
    database deletes them with it); files it published keep their place in the history."""
    publisher = session.scalar(
        select(Publisher).where(Publisher.id == publisher_id, Publisher.project_id == project.id)
    )
    if publisher is None:
        raise PublisherError("No such publisher for this project.")
    text = describe(publisher)
    session.execute(delete(ApiToken).where(ApiToken.publisher_id == publisher.id))
    session.delete(publisher)
    record(
        session,
        "publisher:remove",
        origin=origin,
        actor_id=actor_id,
        project_id=project.id,
        publisher_id=publisher_id,
        provider=publisher.provider,
        publisher=text,
    )


def drop_publishers(
    session: Session, project: Project, *, origin: Origin, actor_id: int | None
) -> int:
    """Remove every trusted publisher of the project, and the upload tokens minted for them;
    returns how many publishers. When a deleted project's name passes to someone else, the old
    owners' CI jobs must not upload into the new owner's project."""
    ids = list(session.scalars(select(Publisher.id).where(Publisher.project_id == project.id)))
    for publisher_id in ids:
        remove_publisher(session, project, publisher_id, origin=origin, actor_id=actor_id)
    return len(ids)


def project_publishers(session: Session, project_id: int) -> list[Publisher]:
    """The project's trusted publishers, oldest first."""
    query = select(Publisher).where(Publisher.project_id == project_id).order_by(Publisher.id)
    return list(session.scalars(query))


def publisher_names(session: Session, publisher_ids: Iterable[int | None]) -> dict[int, str]:
    """One-line descriptions of these publishers ("GitHub octo/tools (release.yml)"), by id;
    ids of removed publishers are left out."""
    wanted = {i for i in publisher_ids if i is not None}
    if not wanted:
        return {}
    rows = session.scalars(select(Publisher).where(Publisher.id.in_(wanted)))
    return {row.id: describe(row) for row in rows}


def pending_name_refusal(
    session: Session, settings: Settings, name: str, user_id: int
) -> str | None:
    """Why ``name`` cannot get a pending publisher (or become a project), or None."""
    if not _PROJECT_NAME.match(name) or len(name) > 255:
        return f"{name!r} is not a valid project name."
    normalized = canonicalize_name(name)
    if session.scalar(select(Project.id).where(Project.normalized_name == normalized)):
        return (
            f"The project {name!r} already exists (or was deleted and its name is reserved): "
            "its owners add trusted publishers on the project's publishing page."
        )
    in_namespace = namespace_upload_refusal(
        session, normalized, project_id=None, project_created_at=None, user_id=user_id
    )
    if in_namespace is not None:
        return in_namespace
    return name_refusal(session, name, user_id=user_id, top_n=settings.typosquat_top_n)


def pending_2fa_refusal(
    session: Session, settings: Settings, user: User, project_name: str
) -> str | None:
    """Why ``user`` may not create a project through a pending publisher under the 2FA policy
    (its first exchange creates the project owned by ``user``, as an upload would), or None."""
    return two_factor_refusal(
        session,
        settings,
        user_id=user.id,
        username=user.username,
        project=None,
        project_name=project_name,
        action="upload",
    )


def add_pending_publisher(
    session: Session,
    settings: Settings,
    user: User,
    project_name: str,
    spec: PublisherSpec,
    *,
    origin: Origin,
    now: dt.datetime | None = None,
) -> int:
    """Register a publisher for a project that does not exist yet; its first token exchange
    creates the project, owned by ``user``. Lapses after PENDING_LIFETIME."""
    now = now or utcnow()
    refusal = pending_name_refusal(session, settings, project_name, user.id) or pending_2fa_refusal(
        session, settings, user, project_name
    )
    if refusal is not None:
        raise PublisherError(refusal)
    session.execute(delete(PendingPublisher).where(PendingPublisher.expires_at <= now))
    held = session.scalars(
        select(PendingPublisher.id).where(PendingPublisher.user_id == user.id)
    ).all()
    if len(held) >= MAX_PENDING_PER_USER:
        raise PublisherError(
            f"You already have {len(held)} pending publishers; remove one or use one first."
        )
    pending = PendingPublisher(
        project_name=project_name,
        normalized_name=canonicalize_name(project_name),
        user_id=user.id,
        expires_at=now + PENDING_LIFETIME,
        **_fields(spec),
    )
    try:
        with session.begin_nested():
            session.add(pending)
            session.flush()
    except IntegrityError as exc:
        raise PublisherError(
            f"This publisher is already pending for {project_name!r}: {spec.describe()}."
        ) from exc
    record(
        session,
        "publisher:pending:add",
        origin=origin,
        actor_id=user.id,
        user_id=user.id,
        pending_publisher_id=pending.id,
        project_name=project_name,
        provider=spec.provider,
        publisher=spec.describe(),
        expires=pending.expires_at.isoformat(),
    )
    return pending.id


def remove_pending_publisher(
    session: Session, user_id: int, pending_id: int, *, origin: Origin, actor_id: int | None
) -> None:
    """Withdraw one of the user's pending publishers."""
    pending = session.scalar(
        select(PendingPublisher).where(
            PendingPublisher.id == pending_id, PendingPublisher.user_id == user_id
        )
    )
    if pending is None:
        raise PublisherError("No such pending publisher.")
    record(
        session,
        "publisher:pending:remove",
        origin=origin,
        actor_id=actor_id,
        user_id=user_id,
        pending_publisher_id=pending.id,
        project_name=pending.project_name,
        provider=pending.provider,
        publisher=describe(pending),
    )
    session.delete(pending)


def pending_publishers(
    session: Session, user_id: int | None = None, *, now: dt.datetime | None = None
) -> list[PendingPublisher]:
    """Pending publishers that have not lapsed (of one user, or all), oldest first."""
    query = select(PendingPublisher).where(PendingPublisher.expires_at > (now or utcnow()))
    if user_id is not None:
        query = query.where(PendingPublisher.user_id == user_id)
    return list(session.scalars(query.order_by(PendingPublisher.id)))


def attestation_publisher(
    session: Session, publisher_id: int
) -> pypi_attestations.Publisher | None:
    """The identity attestations uploaded by this publisher must carry; None for a generic
    OIDC publisher (or an unknown id)."""
    publisher = session.get(Publisher, publisher_id)
    return attestation_identity(publisher) if publisher is not None else None


def mint(
    session: Session,
    settings: Settings,
    publisher: Publisher,
    *,
    origin: Origin,
    claims: dict[str, object] | None = None,
) -> MintedToken:
    """Mint a 15-minute upload token for the publisher's project and record it."""
    project = session.get(Project, publisher.project_id)
    if project is None:  # pragma: no cover  (the foreign key forbids it)
        raise PublisherError("The publisher's project does not exist.")
    if project.deletion_id is not None:
        raise PublisherError(f"The project {project.name!r} was deleted.")
    token, row = create_publisher_token(
        session,
        publisher.id,
        project.normalized_name,
        secret_key=settings.secret_key,
        lifetime=TOKEN_LIFETIME,
    )
    assert row.expires_at is not None
    record(
        session,
        "publisher:token:mint",
        origin=origin,
        project_id=project.id,
        publisher_id=publisher.id,
        token_id=row.id,
        publisher=describe(publisher),
        expires=row.expires_at.isoformat(),
        claims=claims or {},
    )
    return MintedToken(token, row.expires_at, publisher.id, project.normalized_name)


def mint_upload_token(
    session: Session, settings: Settings, publisher_id: int, *, origin: Origin = CLI
) -> str:
    """An upload token for a publisher, without an OIDC exchange (tests, operators)."""
    publisher = session.get(Publisher, publisher_id)
    if publisher is None:
        raise PublisherError(f"No publisher with id {publisher_id}.")
    return mint(session, settings, publisher, origin=origin).token


def burn_token(session: Session, settings: Settings, raw: str, *, origin: Origin) -> bool:
    """Revoke a publisher's upload token once the job is done with it (``uv publish`` calls
    ``/_/oidc/burn-token`` after uploading). Returns False for anything but a live publisher
    token; user tokens are never revoked this way."""
    try:
        token = check_token(session, raw, secret_key=settings.secret_key)
    except TokenError:
        return False
    if token.publisher_id is None:
        return False
    row = session.get(ApiToken, token.token_id)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    publisher = session.get(Publisher, token.publisher_id)
    record(
        session,
        "publisher:token:burn",
        origin=origin,
        project_id=publisher.project_id if publisher else None,
        publisher_id=token.publisher_id,
        token_id=row.id,
    )
    return True
