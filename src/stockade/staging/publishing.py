"""Publishing a staged release, and staging a legacy upload.

Publishing writes every completed file of the session through the legacy upload's own write
transaction (:func:`stockade.publish.upload.write_file`), all in one transaction that journals
the release's changes together and renders the project's pages once: the pages, the JSON API
and the downloads gain the whole release at once, or nothing.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from stockade.config import Settings
from stockade.db import Database, utcnow
from stockade.events.services import Origin, record
from stockade.index.models import Project
from stockade.index.state import journal_many, rerender
from stockade.publish.checks import check_form
from stockade.publish.errors import UploadError
from stockade.publish.form import UploadForm
from stockade.publish.upload import write_file
from stockade.staging.files import (
    MECHANISM,
    Received,
    attach_attestations,
    complete_file,
    declare_file,
    live_files,
    receive_bytes,
    staged_dist,
    staged_upload,
)
from stockade.staging.models import COMPLETED, PUBLISHED, StagedFile
from stockade.staging.services import StagingError, live_session
from stockade.storage import BlobStorage
from stockade.tokens.services import AuthenticatedToken

__all__ = ["publish_session", "stage_legacy_upload"]


def publish_session(
    db: Database,
    settings: Settings,
    token: AuthenticatedToken,
    session_token: str,
    origin: Origin,
) -> str:
    """Publish every file of the session in one transaction; returns the project's name.
    Any file not completed, or any refusal by the upload rules now, refuses the whole
    publish (409 for a filename taken meanwhile) and leaves the session as it was."""

    def unit(session: Session) -> str:
        staged, _project = live_session(session, settings, token, session_token, "published")
        files = live_files(session, staged)
        if not files:
            raise StagingError(409, "The session has no files to publish.")
        waiting = [f"{f.filename} ({f.status})" for f in files if f.status != COMPLETED]
        if waiting:
            raise StagingError(409, "Every file must be completed first: " + ", ".join(waiting))
        changes: list[tuple[str, str | None]] = []
        for row in files:
            try:
                result = write_file(
                    session,
                    settings,
                    token,
                    staged_dist(row),
                    staged_upload(row),
                    row.metadata_sha256,
                    UploadForm(),
                    origin,
                    provenance=row.provenance,
                    journal_to=changes,
                )
            except UploadError as exc:
                status = 409 if "already" in exc.message else exc.status
                raise StagingError(status, f"{row.filename}: {exc.message}") from exc
            if result.outcome == "exists":
                raise StagingError(409, f"The file {row.filename!r} has already been published.")
        staged.status = PUBLISHED
        staged.live_key = None
        staged.finished_at = utcnow()
        project = session.scalar(
            select(Project).where(Project.normalized_name == staged.normalized_name)
        )
        assert project is not None  # the first write_file created it if need be
        # The whole release in the change feed at once, and the pages rendered once.
        journal_many(session, project, changes, user_id=token.actor_id)
        rerender(session, project)
        record(
            session,
            "release:stage-publish",
            origin=origin,
            actor_id=token.actor_id,
            project_id=project.id,
            name=staged.normalized_name,
            version=staged.version,
            files=len(files),
        )
        return staged.normalized_name

    return db.run_write(unit)


def stage_legacy_upload(
    db: Database,
    storage: BlobStorage,
    settings: Settings,
    token: AuthenticatedToken,
    session_token: str,
    form: UploadForm,
) -> StagedFile:
    """A legacy (twine, ``uv publish``) upload sent with the stockade extension header
    ``X-Stockade-Publishing-Session: <session token>``: its file goes into that session as a
    completed file, through the same declaration, byte checks and completion as Upload 2.0."""
    try:
        upload = check_form(form)
    except UploadError as exc:
        raise StagingError(exc.status, exc.message) from exc
    declared = declare_file(
        db,
        settings,
        token,
        session_token,
        {
            "filename": upload.filename,
            "size": upload.size,
            "hashes": {"sha256": upload.sha256},
            "mechanism": MECHANISM,
        },
    )
    received = Received(
        upload.path,
        upload.size,
        {"sha256": upload.sha256, "blake2b_256": upload.blake2_256, "md5": upload.md5},
    )
    receive_bytes(db, storage, settings, token, session_token, declared.token, received)
    raw = form.get("attestations")
    if raw is not None:
        attach_attestations(db, settings, token, session_token, declared.token, raw)
    return complete_file(db, settings, token, session_token, declared.token)
