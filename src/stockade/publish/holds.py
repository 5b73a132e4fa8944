"""Held uploads (:mod:`stockade.publish.regression`): holding one, listing them, and an
owner's decision.

Holding writes a :class:`HeldFile` row (the blob is stored already), records
``file:hold`` and mails every owner; the index does not change, so no page, JSON API, view
or download shows the file. Confirming writes every held file of the release through the
upload's own write transaction (:func:`stockade.publish.upload.write_file`), in one
transaction that journals them together and renders the pages once, as a staged release is
published; the uploader stays the uploader, and the rules are checked again (a filename
taken meanwhile refuses the confirmation with 409). Discarding deletes the held rows and leaves
the index alone; the orphan sweep deletes the blob in time.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name, canonicalize_version
from sqlalchemy import select
from sqlalchemy.orm import Session

from stockade.accounts.models import User
from stockade.config import Settings
from stockade.db import Database, utcnow
from stockade.dists import DistInfo
from stockade.events.services import Origin, record
from stockade.index.held import CONFIRMED, HELD, HeldFile
from stockade.index.models import ROLE_OWNER, Project
from stockade.index.paths import blob_key
from stockade.index.rules import effective_role, owners_of
from stockade.index.state import journal_many, rerender
from stockade.mail import Message
from stockade.publish.errors import UploadError
from stockade.publish.form import UploadedFile, UploadForm
from stockade.publish.regression import Regression
from stockade.storage import BlobStorage
from stockade.tokens.services import AuthenticatedToken

__all__ = [
    "HeldView",
    "check_owner",
    "confirm_release",
    "discard_release",
    "find_project",
    "held_files",
    "hold_file",
    "owner_mail",
]


@dataclass(frozen=True)
class HeldView:
    """A held file as the CLI and the pages list it."""

    project: str
    version: str
    filename: str
    uploader: str
    rule: str
    reason: str
    held_at: str

    def as_dict(self) -> dict[str, str]:
        return {
            "project": self.project,
            "version": self.version,
            "filename": self.filename,
            "uploader": self.uploader,
            "rule": self.rule,
            "reason": self.reason,
            "held_at": self.held_at,
        }


def owner_mail(
    session: Session,
    project: Project,
    *,
    subject: str,
    body: str,
    site_name: str,
) -> list[Message]:
    """The same message for every owner with a verified primary address."""
    messages = []
    for owner in owners_of(session, project.id):
        email = owner.primary_email
        if email is not None and email.verified:
            messages.append(Message(to=email.email, subject=f"[{site_name}] {subject}", body=body))
    return messages


def hold_file(
    session: Session,
    settings: Settings,
    token: AuthenticatedToken,
    project: Project,
    dist: DistInfo,
    upload: UploadedFile,
    metadata_sha256: str | None,
    form: UploadForm,
    origin: Origin,
    regression: Regression,
    *,
    provenance: dict[str, Any] | None,
) -> list[Message]:
    """Hold the upload (its blob is stored); returns the owners' mail. The same file held
    again is a no-op; another file of a held filename is refused as PyPI refuses a filename
    used before."""
    held = session.scalar(select(HeldFile).where(HeldFile.live_filename == upload.filename))
    if held is not None:
        if held.sha256_digest == upload.sha256:
            return []
        raise UploadError(400, "File already exists. See the project's held releases.")
    session.add(
        HeldFile(
            project_id=project.id,
            version=dist.version,
            canonical_version=canonicalize_version(dist.version),
            filename=upload.filename,
            live_filename=upload.filename,
            status=HELD,
            size=upload.size,
            sha256_digest=upload.sha256,
            blake2_256_digest=upload.blake2_256,
            md5_digest=upload.md5,
            metadata_sha256=metadata_sha256,
            comment_text=form.get("comment"),
            provenance=provenance,
            rule=regression.rule,
            reason=regression.reason,
            uploader_id=token.actor_id,
            uploader_name=token.username,
            token_id=token.api_token_id,
            publisher_id=token.publisher_id,
        )
    )
    record(
        session,
        "file:hold",
        origin=origin,
        actor_id=token.actor_id,
        project_id=project.id,
        filename=upload.filename,
        version=dist.version,
        rule=regression.rule,
        token_id=token.api_token_id,
        publisher_id=token.publisher_id,
    )
    who = token.username or "a trusted publisher"
    return owner_mail(
        session,
        project,
        subject=f"An upload to {project.name} is held for your confirmation",
        body=(
            f"{who} uploaded {upload.filename} ({project.name} {dist.version}) to "
            f"{settings.site_name}, and it is held: it is stored but nobody can see or install "
            f"it until an owner confirms it.\n\n{regression.reason}\n\n"
            "If you expected this upload, confirm it with your second factor at\n"
            f"{settings.base_url}/manage/project/{project.normalized_name}/held/\n\n"
            "If you did not, the token it came with may be in someone else's hands: revoke it, "
            "review the project's maintainers and discard the held release there.\n"
        ),
        site_name=settings.site_name,
    )


def held_files(session: Session, project: Project | None = None) -> list[HeldView]:
    """Every file still held (of one project, or of the whole index), oldest first."""
    query = (
        select(HeldFile, Project.name)
        .join(Project, Project.id == HeldFile.project_id)
        .where(HeldFile.status == HELD)
        .order_by(HeldFile.held_at, HeldFile.id)
    )
    if project is not None:
        query = query.where(HeldFile.project_id == project.id)
    return [
        HeldView(
            project=name,
            version=row.version,
            filename=row.filename,
            uploader=row.uploader_name or f"trusted publisher {row.publisher_id}",
            rule=row.rule,
            reason=row.reason,
            held_at=row.held_at.isoformat(timespec="seconds"),
        )
        for row, name in session.execute(query).all()
    ]


def _release_rows(session: Session, project: Project, version: str) -> list[HeldFile]:
    rows = list(
        session.scalars(
            select(HeldFile)
            .where(
                HeldFile.project_id == project.id,
                HeldFile.canonical_version == canonicalize_version(version),
                HeldFile.status == HELD,
            )
            .order_by(HeldFile.id)
            .with_for_update()
        )
    )
    if not rows:
        raise UploadError(404, f"No held files of {project.name} {version}.")
    return rows


def find_project(session: Session, name: str) -> Project:
    """The live project of this name; 404 otherwise."""
    project = session.scalar(
        select(Project).where(
            Project.normalized_name == canonicalize_name(name), Project.deletion_id.is_(None)
        )
    )
    if project is None:
        raise UploadError(404, f"No project {name!r}.")
    return project


def check_owner(session: Session, user: User, project: Project) -> None:
    """Only an active Owner of the project decides about its held files."""
    if not user.is_active or effective_role(session, user.id, project.id) != ROLE_OWNER:
        raise UploadError(
            403, f"Only owners of project {project.name!r} can confirm or discard held files."
        )


def _fetch(storage: BlobStorage, key: str, folder: Path) -> Path:
    path = Path(tempfile.mkstemp(dir=folder, prefix="held-")[1])
    with path.open("wb") as out:
        for chunk in storage.iter_range(key):
            out.write(chunk)
    return path


def confirm_release(
    db: Database,
    storage: BlobStorage,
    settings: Settings,
    *,
    name: str,
    version: str,
    owner: User,
    origin: Origin,
    via: str,
) -> list[str]:
    """Publish every held file of the release (the caller checked that ``owner`` is an Owner
    and proved a second factor where one is asked for); returns the filenames."""
    # Imported here: the upload flow imports this module for holding.
    from stockade.publish.upload import check_dist, write_file

    with db.read() as session:
        project = find_project(session, name)
        rows = _release_rows(session, project, version)
        pending = [(row.id, row.filename, row.sha256_digest) for row in rows]
    settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    spooled: dict[int, tuple[Path, DistInfo]] = {}
    try:
        for row_id, filename, sha256 in pending:
            path = _fetch(storage, blob_key(sha256), settings.tmp_dir)
            spooled[row_id] = (path, check_dist(settings, path, filename))

        def unit(session: Session) -> list[str]:
            project = find_project(session, name)
            check_owner(session, owner, project)
            rows = _release_rows(session, project, version)
            changes: list[tuple[str, str | None]] = []
            for row in rows:
                if row.id not in spooled:
                    raise UploadError(409, "The held release changed meanwhile; try again.")
                path, dist = spooled[row.id]
                upload = UploadedFile(
                    path,
                    row.filename,
                    row.size,
                    row.sha256_digest,
                    row.blake2_256_digest,
                    row.md5_digest,
                )
                form = UploadForm()
                if row.comment_text:
                    form.fields["comment"] = [row.comment_text]
                token = AuthenticatedToken(
                    row.token_id or 0,
                    row.uploader_id or 0,
                    row.uploader_name,
                    None,
                    publisher_id=row.publisher_id,
                )
                write_file(
                    session,
                    settings,
                    token,
                    dist,
                    upload,
                    row.metadata_sha256,
                    form,
                    origin,
                    provenance=row.provenance,
                    journal_to=changes,
                    confirmed=True,
                )
                row.status, row.live_filename = CONFIRMED, None
                row.decided_by_id, row.decided_at = owner.id, utcnow()
            session.flush()
            project = find_project(session, name)
            journal_many(session, project, changes, user_id=owner.id)
            rerender(session, project)
            record(
                session,
                "release:held:confirm",
                origin=origin,
                actor_id=owner.id,
                project_id=project.id,
                version=rows[0].version,
                filenames=[r.filename for r in rows],
                via=via,
            )
            return [r.filename for r in rows]

        return db.run_write(unit)
    finally:
        for path, _dist in spooled.values():
            path.unlink(missing_ok=True)


def discard_release(
    session: Session, project: Project, version: str, *, owner: User, origin: Origin, via: str
) -> list[str]:
    """Drop the release's held files (never listed); returns the filenames."""
    check_owner(session, owner, project)
    rows = _release_rows(session, project, version)
    filenames = [r.filename for r in rows]
    for row in rows:
        # The row goes (the event keeps what it was): its blob is then unreferenced, and the
        # orphan sweep deletes it after the grace period.
        session.delete(row)
    record(
        session,
        "release:held:discard",
        origin=origin,
        actor_id=owner.id,
        project_id=project.id,
        version=rows[0].version,
        filenames=filenames,
        via=via,
    )
    return filenames
