"""The preview of a staged release (PEP 694's ``stage`` link): the project's published files
plus the session's completed ones, as one simple-API page, for as long as the session is
open. The session token in the address is the capability; no credentials are asked for."""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import select

from stockade.db import Database, utcnow
from stockade.index.models import Project
from stockade.index.render import FileEntry, ProjectState
from stockade.index.state import load_state, version_key
from stockade.staging.files import live_files
from stockade.staging.models import COMPLETED, LIVE_STATES, PublishingSession

__all__ = ["Preview", "preview"]


@dataclass(frozen=True)
class Preview:
    """The staged project's page state and the staged blobs the preview may serve
    (filename to its sha256 and its metadata sidecar's)."""

    state: ProjectState
    staged: dict[str, tuple[str, str | None]]


def preview(db: Database, session_token: str) -> Preview | None:
    """The preview of the live, unexpired session named by ``session_token``; else None."""
    with db.read() as session:
        staged = session.scalar(
            select(PublishingSession).where(PublishingSession.token == session_token)
        )
        if staged is None or staged.status not in LIVE_STATES or staged.expires_at <= utcnow():
            return None
        project = session.scalar(
            select(Project).where(Project.normalized_name == staged.normalized_name)
        )
        if project is not None and project.deletion_id is None:
            state = load_state(session, project)
        else:
            state = ProjectState(
                name=staged.name,
                normalized_name=staged.normalized_name,
                serial=0,
                status="active",
                status_reason=None,
                versions=(),
                files=(),
            )
        rows = [row for row in live_files(session, staged) if row.status == COMPLETED]
        entries = [
            FileEntry(
                filename=row.filename,
                version=staged.version,
                sha256=row.sha256_digest or "",
                size=row.size,
                upload_time=row.created_at,
                requires_python=(row.dist or {}).get("requires_python"),
                yanked=False,
                metadata_sha256=row.metadata_sha256,
            )
            for row in rows
        ]
        files = sorted((*state.files, *entries), key=lambda e: (version_key(e.version), e.filename))
        versions = state.versions
        if entries and staged.version not in versions:
            versions = tuple(sorted((*versions, staged.version), key=version_key))
        return Preview(
            state=replace(state, files=tuple(files), versions=versions),
            staged={row.filename: (row.sha256_digest or "", row.metadata_sha256) for row in rows},
        )
