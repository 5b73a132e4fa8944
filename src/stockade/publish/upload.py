"""The write path: accepting one file through the legacy upload API.

Order of work (see the design notes): the caller has authenticated the token and spooled and
hashed the body. Here the form is checked, the file's own metadata is read and validated, a
read-only pre-check refuses what the database already forbids, the blob is stored under its
content address, and one transaction writes the filename registry row (the race arbiter),
release and file rows, the journal entry, the event and the re-rendered simple pages. A crash
can leave an unreferenced blob, never a row without its blob: the blobs are held
(``storage.holds``) before they are put, and the orphan sweep deletes an unreferenced blob only
once its hold is older than the grace period.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from stockade import faults
from stockade.attestations.services import AttestationUploadError, check_attestations
from stockade.config import Settings
from stockade.db import Database, utcnow
from stockade.dists import ArchiveLimits, DistError, DistInfo, inspect_distribution, parse_filename
from stockade.dists.readme import render_refusal
from stockade.events.services import Origin, record
from stockade.index import reservations
from stockade.index.models import File, FilenameRegistry, Project, Release
from stockade.index.paths import blob_key
from stockade.index.projects import create_project
from stockade.index.provenance import store_provenance
from stockade.index.state import journal_many, rerender
from stockade.lifecycle import rules as lifecycle_rules
from stockade.mail import Message
from stockade.oidc.services import drop_publishers
from stockade.publish.checks import (
    check_form,
    check_form_matches,
    check_upload,
    lifecycle_refusals,
    release_key,
    upload_target,
)
from stockade.publish.errors import UploadError
from stockade.publish.form import UploadedFile, UploadForm
from stockade.publish.holds import hold_file, owner_mail
from stockade.publish.regression import Regression, find_regression, mode_of
from stockade.storage import BlobStorage
from stockade.storage.holds import hold_blobs
from stockade.tokens.models import ApiToken
from stockade.tokens.services import AuthenticatedToken

__all__ = ["UploadResult", "accept_upload", "add_file", "check_dist", "new_release", "write_file"]


@dataclass(frozen=True)
class UploadResult:
    """What happened to an accepted upload."""

    outcome: Literal["created", "exists", "held"]
    project: str
    version: str
    filename: str
    # A provenance regression accepted ("warn") or held: the uploader's warning, and the
    # owners' mail to deliver after the commit.
    notice: str | None = None
    messages: tuple[Message, ...] = field(default=(), compare=False)


def accept_upload(
    db: Database,
    storage: BlobStorage,
    settings: Settings,
    token: AuthenticatedToken,
    form: UploadForm,
    origin: Origin,
) -> UploadResult:
    """Validate and store one uploaded file. Raises UploadError with PyPI's status and words."""
    faults.point("upload:after-spool")
    upload = check_form(form)
    dist = check_dist(settings, upload.path, upload.filename, form)

    with db.read() as session:
        done = _precheck(session, settings, token, dist, upload)
    if done is not None:
        return done
    # PEP 740: verified before the transaction (CPU work), stored in it.
    provenance = _attestations(db, settings, token, form, upload)

    # Content-addressed and idempotent: storing before the transaction keeps the database's
    # write lock short; only a lost race can leave this blob unreferenced.
    metadata_sha256 = None
    if dist.metadata_bytes is not None:
        metadata_sha256 = hashlib.sha256(dist.metadata_bytes).hexdigest()
    # Held first: the sweep must not delete an existing blob of these bytes (the puts below
    # are then no-ops) between here and the commit.
    hold_blobs(db, [blob_key(d) for d in (upload.sha256, metadata_sha256) if d is not None])
    faults.point("upload:after-hold")
    storage.put_file(blob_key(upload.sha256), upload.path)
    if dist.metadata_bytes is not None and metadata_sha256 is not None:
        storage.put_bytes(blob_key(metadata_sha256), dist.metadata_bytes)
    faults.point("upload:after-put")

    def unit(session: Session) -> UploadResult:
        result = write_file(
            session,
            settings,
            token,
            dist,
            upload,
            metadata_sha256,
            form,
            origin,
            provenance=provenance,
        )
        faults.point("upload:before-commit")
        return result

    for _attempt in range(3):
        try:
            # Retried whole on a busy database or a deadlock: it only writes rows.
            result = db.run_write(unit)
            faults.point("upload:after-commit")
            return result
        except IntegrityError:
            # Another upload won a race: a new project of this name, or this filename.
            with db.read() as session:
                done = _precheck(session, settings, token, dist, upload)
            if done is not None:
                return done
    raise UploadError(409, "The upload conflicted with concurrent changes; try again.")


def check_dist(
    settings: Settings, path: Path, filename: str, form: UploadForm | None = None
) -> DistInfo:
    """The file's own metadata, read and validated (the archive, the metadata, the form's
    claims about it where a form came with it, the rendered description)."""
    try:
        parse_filename(filename)
        dist = inspect_distribution(path, filename, limits=ArchiveLimits())
    except DistError as exc:
        raise UploadError(400, str(exc)) from exc
    if form is not None:
        check_form_matches(form, dist)
    refusal = render_refusal(
        dist.metadata.get("description"),
        dist.metadata.get("description_content_type"),
        settings.description_render_seconds,
    )
    if refusal is not None:
        raise UploadError(400, refusal)
    return dist


def _attestations(
    db: Database,
    settings: Settings,
    token: AuthenticatedToken,
    form: UploadForm,
    upload: UploadedFile,
) -> dict[str, Any] | None:
    """The verified provenance of an upload carrying ``attestations`` (PEP 740), else None."""
    raw = form.get("attestations")
    if raw is None:
        return None
    try:
        return check_attestations(
            db,
            raw,
            publisher_id=token.publisher_id,
            filename=upload.filename,
            sha256=upload.sha256,
            trust_root=settings.sigstore_trust_root,
        )
    except AttestationUploadError as exc:
        raise UploadError(400, f"Invalid attestations supplied during upload: {exc}") from exc


def _exists(dist: DistInfo, upload: UploadedFile) -> UploadResult:
    return UploadResult("exists", dist.normalized_name, dist.version, upload.filename)


def _precheck(
    session: Session,
    settings: Settings,
    token: AuthenticatedToken,
    dist: DistInfo,
    upload: UploadedFile,
) -> UploadResult | None:
    """The checks, read-only, before the blob is stored: the result when this very file is
    there already, else None."""
    project = session.scalar(select(Project).where(Project.normalized_name == dist.normalized_name))
    project = upload_target(session, settings, token, project)
    if check_upload(session, settings, token, project, dist, upload):
        return _exists(dist, upload)
    return None


def _reopen(
    session: Session,
    settings: Settings,
    token: AuthenticatedToken,
    project: Project,
    origin: Origin,
) -> None:
    """Re-create a deleted project in its own row for the uploader (see
    :func:`stockade.lifecycle.rules.reopen`)."""

    def hand_over(session: Session, project: Project) -> None:
        # The old owners' CI jobs must not upload into the new owner's project.
        drop_publishers(session, project, origin=origin, actor_id=token.user_id)

    with lifecycle_refusals():
        lifecycle_rules.reopen(
            session,
            settings,
            project,
            user_id=token.user_id,
            username=token.username,
            origin=origin,
            hand_over=hand_over,
        )


def write_file(
    session: Session,
    settings: Settings,
    token: AuthenticatedToken,
    dist: DistInfo,
    upload: UploadedFile,
    metadata_sha256: str | None,
    form: UploadForm,
    origin: Origin,
    *,
    provenance: dict[str, Any] | None = None,
    journal_to: list[tuple[str, str | None]] | None = None,
    confirmed: bool = False,
) -> UploadResult:
    """The write transaction (also a staged release's, once per file, when it is published):
    the checks again under the project's row lock, then the project
    (new or re-created), release, filename registry and file rows, the journal, the events and
    the re-rendered pages.

    With ``journal_to``, the file's journal entries (``(action, version)``) are appended to it
    instead, and the pages are left alone: a caller writing several files of one project in
    one transaction journals them at once and renders the pages once.

    An upload that breaks the project's provenance pattern (:mod:`stockade.publish.regression`)
    is refused, held (:mod:`stockade.publish.holds`) or accepted with a notice, as the project
    or the index chose; ``confirmed``: an owner confirmed this held file, it is written."""
    changes: list[tuple[str, str | None]] = []
    # Before the project is read: a session reserving the name waits, or is seen (PEP 694).
    reservations.lock_name(session, dist.normalized_name)
    query = select(Project).where(Project.normalized_name == dist.normalized_name)
    project = session.scalar(query.with_for_update())
    if project is not None and project.deletion_id is not None and token.publisher_id is None:
        _reopen(session, settings, token, project, origin)
    if check_upload(session, settings, token, project, dist, upload):
        return _exists(dist, upload)
    regression = None
    if project is not None and not confirmed:
        regression = find_regression(
            session,
            settings,
            project,
            canonical_version=release_key(dist),
            publisher_id=token.publisher_id,
            attested=provenance is not None,
        )
    if regression is not None:
        assert project is not None
        mode = mode_of(settings, project)
        if mode == "refuse" or (mode == "hold" and journal_to is not None):
            # A staged release is published whole or not at all: it cannot be held in part.
            raise UploadError(403, f"{regression.reason} The project refuses such uploads.")
        if mode == "hold":
            messages = hold_file(
                session,
                settings,
                token,
                project,
                dist,
                upload,
                metadata_sha256,
                form,
                origin,
                regression,
                provenance=provenance,
            )
            return UploadResult(
                "held",
                project.normalized_name,
                dist.version,
                upload.filename,
                notice=f"{regression.reason} The file is held until an owner confirms it.",
                messages=tuple(messages),
            )

    if project is None:
        project = create_project(
            session, dist.name, user_id=token.user_id, username=token.username, origin=origin
        )
        # The name is registered now: a reservation of it (its uploader's) has done its work.
        reservations.release(session, project.normalized_name)

    release = session.scalar(
        select(Release).where(
            Release.project_id == project.id, Release.canonical_version == release_key(dist)
        )
    )
    if release is None:
        release = new_release(session, project, dist)
        session.flush()
        changes.append(("new release", dist.version))

    add_file(
        session,
        project,
        release,
        dist,
        upload,
        metadata_sha256,
        uploaded_by_id=token.actor_id,
        publisher_id=token.publisher_id,
        comment=form.get("comment"),
    )
    if token.api_token_id is not None:
        session.execute(
            update(ApiToken).where(ApiToken.id == token.token_id).values(last_used_at=utcnow())
        )
        record(
            session,
            "token:use",
            origin=origin,
            actor_id=token.actor_id,
            user_id=token.actor_id,
            project_id=project.id,
            token_id=token.token_id,
            filename=upload.filename,
            publisher_id=token.publisher_id,
        )
    changes.append((f"add {dist.file.python_version} file {upload.filename}", release.version))
    record(
        session,
        "file:upload",
        origin=origin,
        actor_id=token.actor_id,
        project_id=project.id,
        filename=upload.filename,
        version=release.version,
        sha256=upload.sha256,
        token_id=token.api_token_id,
        publisher_id=token.publisher_id,
        attested=provenance is not None,
    )
    session.flush()
    if provenance is not None:
        file_id = session.scalar(select(File.id).where(File.filename == upload.filename))
        assert file_id is not None  # added just above
        store_provenance(session, file_id, provenance)
        session.flush()
    if journal_to is not None:
        journal_to.extend(changes)
    else:
        journal_many(session, project, changes, user_id=token.actor_id)
        rerender(session, project)
    if regression is not None:
        return _accepted_with_warning(
            session, settings, token, project, release, upload, origin, regression
        )
    return UploadResult("created", project.normalized_name, release.version, upload.filename)


def _accepted_with_warning(
    session: Session,
    settings: Settings,
    token: AuthenticatedToken,
    project: Project,
    release: Release,
    upload: UploadedFile,
    origin: Origin,
    regression: Regression,
) -> UploadResult:
    """The ``warn`` choice: the file is in; the event, the owners' mail, the uploader's
    notice."""
    record(
        session,
        "file:provenance:regression",
        origin=origin,
        actor_id=token.actor_id,
        project_id=project.id,
        filename=upload.filename,
        version=release.version,
        rule=regression.rule,
        token_id=token.api_token_id,
        publisher_id=token.publisher_id,
    )
    who = token.username or "a trusted publisher"
    messages = owner_mail(
        session,
        project,
        subject=f"An upload to {project.name} broke its provenance pattern",
        body=(
            f"{who} uploaded {upload.filename} ({project.name} {release.version}) to "
            f"{settings.site_name}. It is published, but it does not look like the project's "
            f"recent releases:\n\n{regression.reason}\n\nIf you did not expect it, the token "
            "it came with may be in someone else's hands: revoke it, and yank or delete the "
            f"release at\n{settings.base_url}/manage/project/{project.normalized_name}/\n"
        ),
        site_name=settings.site_name,
    )
    return UploadResult(
        "created",
        project.normalized_name,
        release.version,
        upload.filename,
        notice=f"Warning: {regression.reason}",
        messages=tuple(messages),
    )


def new_release(session: Session, project: Project, dist: DistInfo) -> Release:
    """A new release for the file ``dist``, added to the session: as on PyPI, a release's
    metadata is that of its first file."""
    release = Release(
        project_id=project.id,
        version=dist.version,
        canonical_version=release_key(dist),
        requires_python=dist.requires_python,
        summary=dist.summary,
        metadata_json=dist.metadata,
    )
    session.add(release)
    return release


def add_file(
    session: Session,
    project: Project,
    release: Release,
    dist: DistInfo,
    upload: UploadedFile,
    metadata_sha256: str | None,
    *,
    uploaded_by_id: int | None,
    publisher_id: int | None = None,
    comment: str | None = None,
    upload_time: dt.datetime | None = None,
) -> File:
    """The file's rows (its filename registry entry, the race arbiter, and the file), added to
    the session, and the project's total size; ``upload_time`` None: now."""
    session.add(FilenameRegistry(filename=upload.filename, sha256_digest=upload.sha256))
    file = File(
        release=release,
        project_id=project.id,
        filename=upload.filename,
        packagetype=dist.file.packagetype,
        python_version=dist.file.python_version,
        requires_python=dist.requires_python,
        size=upload.size,
        sha256_digest=upload.sha256,
        blake2_256_digest=upload.blake2_256,
        md5_digest=upload.md5,
        metadata_sha256=metadata_sha256,
        metadata_version=dist.metadata_version,
        uploaded_by_id=uploaded_by_id,
        publisher_id=publisher_id,
        comment_text=comment,
    )
    if upload_time is not None:
        file.upload_time = upload_time
    session.add(file)
    project.total_size += upload.size
    return file
