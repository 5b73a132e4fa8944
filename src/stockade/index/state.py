"""Reading a project's state from the database and storing its rendered simple pages."""

from __future__ import annotations

from packaging.version import InvalidVersion, Version
from sqlalchemy import select
from sqlalchemy.orm import Session

from stockade.db.base import utcnow
from stockade.index.models import File, Project, Release, SimplePage
from stockade.index.render import (
    FileEntry,
    ProjectState,
    render_project_html,
    render_project_json,
)

__all__ = ["load_state", "rerender", "version_key"]


def version_key(version: str) -> tuple[int, Version | str]:
    """Sort key for versions: PEP 440 order, anything unparsable first."""
    try:
        return (1, Version(version))
    except InvalidVersion:
        return (0, version)


def load_state(session: Session, project: Project) -> ProjectState:
    """The project's simple-API state, straight from the database."""
    releases = session.scalars(select(Release).where(Release.project_id == project.id)).all()
    by_id = {r.id: r for r in releases}
    files = session.scalars(select(File).where(File.project_id == project.id)).all()
    entries = []
    for f in files:
        release = by_id[f.release_id]
        yanked: bool | str = (release.yanked_reason or "") if release.yanked else False
        entries.append(
            FileEntry(
                filename=f.filename,
                version=release.version,
                sha256=f.sha256_digest,
                size=f.size,
                upload_time=f.upload_time,
                requires_python=f.requires_python,
                yanked=yanked,
                metadata_sha256=f.metadata_sha256,
            )
        )
    entries.sort(key=lambda e: (version_key(e.version), e.filename))
    versions = sorted({r.version for r in releases}, key=version_key)
    return ProjectState(
        name=project.name,
        normalized_name=project.normalized_name,
        serial=project.last_serial,
        status=project.status,
        status_reason=project.status_reason,
        versions=tuple(versions),
        files=tuple(entries),
    )


def rerender(session: Session, project: Project) -> SimplePage:
    """Render the project's pages into the ``simple_pages`` row, in the caller's transaction."""
    state = load_state(session, project)
    page = session.get(SimplePage, project.id)
    if page is None:
        page = SimplePage(project_id=project.id, normalized_name=project.normalized_name)
        session.add(page)
    page.serial = project.last_serial
    page.html = render_project_html(state)
    page.json = render_project_json(state)
    page.updated_at = utcnow()
    return page
