"""The write path: accepting one file through the legacy upload API.

Order of work (see the design notes): the caller has authenticated the token and spooled and
hashed the body. Here the form is checked, the file's own metadata is read and validated, a
read-only pre-check refuses what the database already forbids, the blob is stored under its
content address, and one transaction writes the filename registry row (the race arbiter),
release and file rows, the journal entry, the event and the re-rendered simple pages. A crash
can leave an unreferenced blob (swept later), never a row without its blob.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from packaging.utils import canonicalize_name, canonicalize_version
from packaging.version import InvalidVersion, Version
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from stockade.config import Settings
from stockade.db import Database, utcnow
from stockade.dists import ArchiveLimits, DistError, DistInfo, inspect_distribution, parse_filename
from stockade.events.services import Origin, record
from stockade.index.models import (
    ROLE_OWNER,
    File,
    FilenameRegistry,
    JournalEntry,
    Project,
    Release,
    Role,
)
from stockade.index.multipart import UploadedFile, UploadForm
from stockade.index.paths import blob_key
from stockade.index.state import rerender
from stockade.storage import BlobStorage
from stockade.tokens.models import ApiToken
from stockade.tokens.services import AuthenticatedToken

__all__ = ["UploadError", "UploadResult", "accept_upload", "journal"]


class UploadError(Exception):
    """An upload refused with an HTTP status and a one-line reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class UploadResult:
    """What happened to an accepted upload."""

    outcome: Literal["created", "exists"]
    project: str
    version: str
    filename: str


_FILETYPES = {"bdist_wheel", "sdist"}


def _check_form(form: UploadForm) -> UploadedFile:
    action = form.get(":action")
    if action in {"submit", "verify", "doc_upload", "remove_pkg", "file_upload_legacy"}:
        raise UploadError(
            410, f"The :action {action!r} is no longer supported; upload files instead."
        )
    if action != "file_upload":
        raise UploadError(400, f"Unknown :action {action!r}.")
    if form.get("protocol_version", "1") != "1":
        raise UploadError(400, "Unknown protocol version.")
    upload = form.file
    if upload is None:
        raise UploadError(400, "Upload payload does not have a file.")
    filename = upload.filename
    if not filename or any(c in filename for c in "/\\\x00") or filename.startswith("."):
        raise UploadError(400, f"Invalid filename {filename!r}.")
    digests = {
        "md5_digest": upload.md5,
        "sha256_digest": upload.sha256,
        "blake2_256_digest": upload.blake2_256,
    }
    supplied = {k: (form.get(k) or "").strip().lower() for k in digests}
    if not any(supplied.values()):
        raise UploadError(400, "Include at least one message digest.")
    for key, value in supplied.items():
        if value and value != digests[key]:
            raise UploadError(
                400,
                "The digest supplied does not match a digest calculated from the uploaded file.",
            )
    filetype = form.get("filetype")
    if filetype is not None and filetype not in _FILETYPES:
        raise UploadError(400, "Invalid value for filetype. Error: Use a known file type.")
    return upload


def _check_form_matches(form: UploadForm, dist: DistInfo) -> None:
    filetype = form.get("filetype")
    if filetype is not None and filetype != dist.file.packagetype:
        raise UploadError(
            400,
            f"Invalid value for filetype. Error: {filetype!r} does not match the file "
            f"{dist.file.filename!r}.",
        )
    form_name = form.get("name")
    if form_name and canonicalize_name(form_name) != dist.normalized_name:
        raise UploadError(
            400,
            f"Invalid value for name. Error: the form says {form_name!r} but the file's "
            f"metadata says {dist.name!r}.",
        )
    form_version = form.get("version")
    if form_version:
        try:
            same = Version(form_version) == Version(dist.version)
        except InvalidVersion:
            same = False
        if not same:
            raise UploadError(
                400,
                f"Invalid value for version. Error: the form says {form_version!r} but the "
                f"file's metadata says {dist.version!r}.",
            )


def release_key(dist: DistInfo) -> str:
    """The release a file belongs to: PyPI treats 1.0 and 1.0.0 as one release."""
    return canonicalize_version(dist.version)


def journal(
    session: Session, project: Project, action: str, *, version: str | None, user_id: int | None
) -> int:
    """Append to the change feed and bump the project's serial; returns the new serial."""
    entry = JournalEntry(
        name=project.normalized_name, version=version, action=action, submitted_by_id=user_id
    )
    session.add(entry)
    session.flush()
    project.last_serial = entry.id
    return entry.id


def accept_upload(
    db: Database,
    storage: BlobStorage,
    settings: Settings,
    token: AuthenticatedToken,
    form: UploadForm,
    origin: Origin,
) -> UploadResult:
    """Validate and store one uploaded file. Raises UploadError with PyPI's status and words."""
    upload = _check_form(form)
    try:
        parse_filename(upload.filename)
        dist = inspect_distribution(upload.path, upload.filename, limits=ArchiveLimits())
    except DistError as exc:
        raise UploadError(400, str(exc)) from exc
    _check_form_matches(form, dist)

    with db.read() as session:
        done = _precheck(session, settings, token, dist, upload)
    if done is not None:
        return done

    # Content-addressed and idempotent: storing before the transaction keeps the database's
    # write lock short; only a lost race can leave this blob unreferenced.
    storage.put_file(blob_key(upload.sha256), upload.path)
    metadata_sha256 = None
    if dist.metadata_bytes is not None:
        metadata_sha256 = hashlib.sha256(dist.metadata_bytes).hexdigest()
        storage.put_bytes(blob_key(metadata_sha256), dist.metadata_bytes)

    for _attempt in range(3):
        try:
            with db.write() as session:
                return _write(session, settings, token, dist, upload, metadata_sha256, form, origin)
        except IntegrityError:
            # Another upload won a race: a new project of this name, or this filename.
            with db.read() as session:
                done = _precheck(session, settings, token, dist, upload)
            if done is not None:
                return done
    raise UploadError(409, "The upload conflicted with concurrent changes; try again.")


def _existing(session: Session, upload: UploadedFile, dist: DistInfo) -> UploadResult | None:
    registered = session.get(FilenameRegistry, upload.filename)
    if registered is not None:
        live = session.scalar(select(File.id).where(File.filename == upload.filename))
        if registered.sha256_digest == upload.sha256 and live is not None:
            return UploadResult("exists", dist.normalized_name, dist.version, upload.filename)
        if live is None:
            raise UploadError(
                400,
                "This filename has already been used, use a different version. "
                "Filenames of deleted files can never be reused.",
            )
        raise UploadError(
            400,
            f"File already exists ({upload.filename!r}, with blake2_256 hash "
            f"{upload.blake2_256!r}).",
        )
    same_bytes = session.scalar(select(File.filename).where(File.sha256_digest == upload.sha256))
    if same_bytes is not None:
        raise UploadError(
            400,
            f"File already exists ({upload.filename!r}, with blake2_256 hash "
            f"{upload.blake2_256!r}): the same bytes were uploaded as {same_bytes!r}.",
        )
    return None


def _authorize(
    session: Session, token: AuthenticatedToken, project: Project | None, name: str
) -> None:
    if not token.allows(canonicalize_name(name)):
        raise UploadError(
            403, f"Invalid API Token: project-scoped token is not valid for project: {name!r}"
        )
    if project is None:
        return
    role = session.scalar(
        select(Role.role_name).where(Role.project_id == project.id, Role.user_id == token.user_id)
    )
    if role is None:
        raise UploadError(
            403,
            f"The user {token.username!r} isn't allowed to upload to project {project.name!r}.",
        )


def _check_limits(
    session: Session, settings: Settings, project: Project | None, dist: DistInfo, size: int
) -> None:
    if size > settings.max_file_size:
        limit = settings.max_file_size // (1024 * 1024)
        raise UploadError(400, f"File too large. Limit for project {dist.name!r} is {limit} MB.")
    if project is not None and project.total_size + size > settings.max_project_size:
        raise UploadError(
            400,
            f"Project size too large. Limit for project {project.name!r} total size is "
            f"{settings.max_project_size / 1024**3:g} GB.",
        )
    if project is None or dist.file.packagetype != "sdist":
        return
    release_id = session.scalar(
        select(Release.id).where(
            Release.project_id == project.id, Release.canonical_version == release_key(dist)
        )
    )
    if release_id is not None:
        sdists = session.scalar(
            select(func.count(File.id)).where(
                File.release_id == release_id, File.packagetype == "sdist"
            )
        )
        if sdists:
            raise UploadError(400, "Only one sdist may be uploaded per release.")


def _precheck(
    session: Session,
    settings: Settings,
    token: AuthenticatedToken,
    dist: DistInfo,
    upload: UploadedFile,
) -> UploadResult | None:
    project = session.scalar(select(Project).where(Project.normalized_name == dist.normalized_name))
    _authorize(session, token, project, dist.name)
    done = _existing(session, upload, dist)
    if done is not None:
        return done
    _check_limits(session, settings, project, dist, upload.size)
    return None


def _write(
    session: Session,
    settings: Settings,
    token: AuthenticatedToken,
    dist: DistInfo,
    upload: UploadedFile,
    metadata_sha256: str | None,
    form: UploadForm,
    origin: Origin,
) -> UploadResult:
    query = select(Project).where(Project.normalized_name == dist.normalized_name)
    project = session.scalar(query.with_for_update())
    _authorize(session, token, project, dist.name)
    done = _existing(session, upload, dist)
    if done is not None:
        return done
    _check_limits(session, settings, project, dist, upload.size)

    if project is None:
        project = Project(name=dist.name, normalized_name=dist.normalized_name)
        session.add(project)
        session.flush()
        session.add(Role(user_id=token.user_id, project_id=project.id, role_name=ROLE_OWNER))
        journal(session, project, "create", version=None, user_id=token.user_id)
        record(
            session,
            "project:create",
            origin=origin,
            actor_id=token.user_id,
            project_id=project.id,
            name=project.name,
        )
        record(
            session,
            "project:role:add",
            origin=origin,
            actor_id=token.user_id,
            user_id=token.user_id,
            project_id=project.id,
            role=ROLE_OWNER,
            username=token.username,
        )

    release = session.scalar(
        select(Release).where(
            Release.project_id == project.id, Release.canonical_version == release_key(dist)
        )
    )
    if release is None:
        # As on PyPI, a release's metadata is that of its first file.
        release = Release(
            project_id=project.id,
            version=dist.version,
            canonical_version=release_key(dist),
            requires_python=dist.requires_python,
            summary=dist.summary,
            metadata_json=dist.metadata,
        )
        session.add(release)
        session.flush()
        journal(session, project, "new release", version=dist.version, user_id=token.user_id)

    session.add(FilenameRegistry(filename=upload.filename, sha256_digest=upload.sha256))
    session.add(
        File(
            release_id=release.id,
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
            uploaded_by_id=token.user_id,
            comment_text=form.get("comment"),
        )
    )
    project.total_size += upload.size
    session.execute(
        update(ApiToken).where(ApiToken.id == token.token_id).values(last_used_at=utcnow())
    )
    record(
        session,
        "token:use",
        origin=origin,
        actor_id=token.user_id,
        user_id=token.user_id,
        project_id=project.id,
        token_id=token.token_id,
        filename=upload.filename,
    )
    journal(
        session,
        project,
        f"add {dist.file.python_version} file {upload.filename}",
        version=release.version,
        user_id=token.user_id,
    )
    record(
        session,
        "file:upload",
        origin=origin,
        actor_id=token.user_id,
        project_id=project.id,
        filename=upload.filename,
        version=release.version,
        sha256=upload.sha256,
        token_id=token.token_id,
    )
    session.flush()
    rerender(session, project)
    return UploadResult("created", project.normalized_name, release.version, upload.filename)
