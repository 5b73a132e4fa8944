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
from typing import Any, Literal

from packaging.utils import canonicalize_name, canonicalize_version
from packaging.version import InvalidVersion, Version
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from stockade.abuse.naming import name_refusal
from stockade.attestations.services import AttestationUploadError, check_attestations
from stockade.config import Settings
from stockade.db import Database, utcnow
from stockade.dists import ArchiveLimits, DistError, DistInfo, inspect_distribution, parse_filename
from stockade.errors import ServiceError
from stockade.events.services import Origin, record
from stockade.index.models import (
    File,
    FilenameRegistry,
    Project,
    Release,
    Role,
)
from stockade.index.paths import blob_key
from stockade.index.policy import two_factor_refusal
from stockade.index.projects import create_project, frozen_refusal
from stockade.index.provenance import store_provenance
from stockade.index.state import journal, rerender
from stockade.lifecycle import rules as lifecycle_rules
from stockade.lifecycle.errors import LifecycleError
from stockade.oidc.services import drop_publishers
from stockade.publish.form import UploadedFile, UploadForm
from stockade.storage import BlobStorage
from stockade.tokens.models import ApiToken
from stockade.tokens.services import AuthenticatedToken

__all__ = ["UploadError", "UploadResult", "accept_upload"]


class UploadError(ServiceError):
    """An upload refused with an HTTP status (``status``) and a one-line reason."""


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
    # PEP 740: verified before the transaction (CPU work), stored in it.
    provenance = _attestations(db, settings, token, form, upload)

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
                return _write(
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
        except IntegrityError:
            # Another upload won a race: a new project of this name, or this filename.
            with db.read() as session:
                done = _precheck(session, settings, token, dist, upload)
            if done is not None:
                return done
    raise UploadError(409, "The upload conflicted with concurrent changes; try again.")


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


def _existing(session: Session, upload: UploadedFile, dist: DistInfo) -> UploadResult | None:
    registered = session.get(FilenameRegistry, upload.filename)
    if registered is not None:
        live = session.scalar(
            select(File.id).where(File.filename == upload.filename, File.deletion_id.is_(None))
        )
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
    same = session.execute(
        select(File.filename, File.deletion_id).where(File.sha256_digest == upload.sha256)
    ).one_or_none()
    if same is not None:
        deleted = " (since deleted: its bytes can never be uploaded again)" if same[1] else ""
        raise UploadError(
            400,
            f"File already exists ({upload.filename!r}, with blake2_256 hash "
            f"{upload.blake2_256!r}): the same bytes were uploaded as {same[0]!r}{deleted}.",
        )
    return None


def _authorize(
    session: Session,
    settings: Settings,
    token: AuthenticatedToken,
    project: Project | None,
    name: str,
) -> None:
    if not token.allows(canonicalize_name(name)):
        raise UploadError(
            403, f"Invalid API Token: project-scoped token is not valid for project: {name!r}"
        )
    if token.publisher_id is not None:
        # A trusted publisher's registration is the authorization, and its short-lived token
        # stands in for 2FA (PyPI's rule); it never creates or re-creates a project.
        if project is None or project.deletion_id is not None:
            raise UploadError(
                403, f"Invalid API Token: the trusted publisher's project {name!r} does not exist."
            )
        return
    if project is None:
        _require_two_factor(session, settings, token, None, name)
        return
    role = session.scalar(
        select(Role.role_name).where(Role.project_id == project.id, Role.user_id == token.user_id)
    )
    if role is None:
        raise UploadError(
            403,
            f"The user {token.username!r} isn't allowed to upload to project {project.name!r}.",
        )
    _require_two_factor(session, settings, token, project, project.name)


def _require_two_factor(
    session: Session,
    settings: Settings,
    token: AuthenticatedToken,
    project: Project | None,
    name: str,
) -> None:
    # The 2FA requirement (stockade.index.policy): a token does not stand in for 2FA.
    refusal = two_factor_refusal(
        session,
        settings,
        user_id=token.user_id,
        username=token.username,
        project=project,
        project_name=name,
        action="upload",
    )
    if refusal is not None:
        raise UploadError(403, refusal)


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
                File.release_id == release_id,
                File.packagetype == "sdist",
                File.deletion_id.is_(None),
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
    project = _target(session, settings, token, project)
    _authorize(session, settings, token, project, dist.name)
    done = _existing(session, upload, dist)
    if done is not None:
        return done
    _check_open(session, settings, project, dist)
    _check_abuse(session, settings, token, project, dist.name)
    _check_limits(session, settings, project, dist, upload.size)
    return None


def _target(
    session: Session, settings: Settings, token: AuthenticatedToken, project: Project | None
) -> Project | None:
    """The project as the role check sees it (None: the upload creates it, perhaps re-creating
    a deleted one); refused when a deleted project's name is reserved for others."""
    try:
        return lifecycle_rules.upload_target(session, settings, project, token.user_id)
    except LifecycleError as exc:
        raise UploadError(exc.status_code, exc.message) from exc


def _reopen(
    session: Session,
    settings: Settings,
    token: AuthenticatedToken,
    project: Project,
    origin: Origin,
) -> None:
    try:
        changed_hands = lifecycle_rules.reopen(
            session,
            settings,
            project,
            user_id=token.user_id,
            username=token.username,
            origin=origin,
        )
    except LifecycleError as exc:
        raise UploadError(exc.status_code, exc.message) from exc
    if changed_hands:
        # The old owners' CI jobs must not upload into the new owner's project.
        drop_publishers(session, project, origin=origin, actor_id=token.user_id)


def _check_open(
    session: Session, settings: Settings, project: Project | None, dist: DistInfo
) -> None:
    """Archived projects, deleted and closed releases take no new files."""
    if project is None:
        return
    try:
        lifecycle_rules.check_release_open(session, settings, project, dist.version)
    except LifecycleError as exc:
        raise UploadError(exc.status_code, exc.message) from exc


def _check_abuse(
    session: Session,
    settings: Settings,
    token: AuthenticatedToken,
    project: Project | None,
    name: str,
) -> None:
    """A quarantined project takes no uploads; a new project's name must pass the name rules
    (stockade.abuse.naming: prohibited, standard library, look-alikes, typosquats)."""
    if project is not None:
        frozen = frozen_refusal(project)
        if frozen is not None:
            raise UploadError(403, frozen)
        if project.deletion_id is None:
            return
    # A new project, or a deleted one coming back (whose name may have been prohibited since).
    refusal = name_refusal(session, name, user_id=token.user_id, top_n=settings.typosquat_top_n)
    if refusal is not None:
        raise UploadError(400, refusal)


def _write(
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
) -> UploadResult:
    query = select(Project).where(Project.normalized_name == dist.normalized_name)
    project = session.scalar(query.with_for_update())
    if project is not None and project.deletion_id is not None and token.publisher_id is None:
        _reopen(session, settings, token, project, origin)
    _authorize(session, settings, token, project, dist.name)
    done = _existing(session, upload, dist)
    if done is not None:
        return done
    _check_open(session, settings, project, dist)
    _check_abuse(session, settings, token, project, dist.name)
    _check_limits(session, settings, project, dist, upload.size)

    if project is None:
        project = create_project(
            session, dist.name, user_id=token.user_id, username=token.username, origin=origin
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
        journal(session, project, "new release", version=dist.version, user_id=token.actor_id)

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
            uploaded_by_id=token.actor_id,
            publisher_id=token.publisher_id,
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
        actor_id=token.actor_id,
        user_id=token.actor_id,
        project_id=project.id,
        token_id=token.token_id,
        filename=upload.filename,
        publisher_id=token.publisher_id,
    )
    journal(
        session,
        project,
        f"add {dist.file.python_version} file {upload.filename}",
        version=release.version,
        user_id=token.actor_id,
    )
    record(
        session,
        "file:upload",
        origin=origin,
        actor_id=token.actor_id,
        project_id=project.id,
        filename=upload.filename,
        version=release.version,
        sha256=upload.sha256,
        token_id=token.token_id,
        publisher_id=token.publisher_id,
        attested=provenance is not None,
    )
    session.flush()
    if provenance is not None:
        file_id = session.scalar(select(File.id).where(File.filename == upload.filename))
        assert file_id is not None  # added just above
        store_provenance(session, file_id, provenance)
        session.flush()
    rerender(session, project)
    return UploadResult("created", project.normalized_name, release.version, upload.filename)
