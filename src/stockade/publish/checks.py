"""The rules an upload must pass before it is written: the form, the file's digests and
metadata, the token's authorization and the 2FA requirement, the same file or filename before,
the lifecycle (archived projects, deleted and closed releases, reserved names), the abuse rules
(quarantine, names), the size limits, and, where the index refuses them, known
vulnerabilities.

The upload flow (:mod:`stockade.publish.upload`) checks the form once and the project and file
(:func:`check_upload`) twice: read-only before the blob is stored, and again under the
project's row lock in the write transaction. Each check raises :class:`UploadError` with PyPI's
status and words; the lifecycle's own refusals become upload refusals in one place,
:func:`lifecycle_refusals`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from packaging.utils import canonicalize_name, canonicalize_version
from packaging.version import InvalidVersion, Version
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from stockade.abuse.naming import name_refusal
from stockade.advisories.queries import matches_for
from stockade.config import Settings
from stockade.dists import DistInfo
from stockade.index import reservations
from stockade.index.models import File, FilenameRegistry, Project, Release
from stockade.index.policy import two_factor_refusal
from stockade.index.projects import frozen_refusal
from stockade.index.rules import effective_role
from stockade.lifecycle import rules as lifecycle_rules
from stockade.lifecycle.errors import LifecycleError
from stockade.mirror.rules import local_upload_refusal
from stockade.orgs.namespaces import upload_refusal as namespace_upload_refusal
from stockade.publish.errors import UploadError
from stockade.publish.form import UploadedFile, UploadForm
from stockade.tokens.services import AuthenticatedToken

__all__ = [
    "authorize",
    "check_file",
    "check_form",
    "check_form_matches",
    "check_upload",
    "check_uploader",
    "lifecycle_refusals",
    "release_key",
    "upload_target",
]

_FILETYPES = {"bdist_wheel", "sdist"}


def check_form(form: UploadForm) -> UploadedFile:
    """The form's action, protocol, file name, digests and file type; returns the file."""
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


def check_form_matches(form: UploadForm, dist: DistInfo) -> None:
    """The form's file type, name and version, where given, say what the file's metadata says."""
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


@contextmanager
def lifecycle_refusals() -> Iterator[None]:
    """The lifecycle's refusals (reserved names, archived projects, deleted or closed releases)
    reach the uploader as upload refusals, with the same status and words."""
    try:
        yield
    except LifecycleError as exc:
        raise UploadError(exc.status_code, exc.message) from exc


def upload_target(
    session: Session, settings: Settings, token: AuthenticatedToken, project: Project | None
) -> Project | None:
    """The project as the role check sees it (None: the upload creates it, perhaps re-creating
    a deleted one); refused when a deleted project's name is reserved for others."""
    with lifecycle_refusals():
        return lifecycle_rules.upload_target(session, settings, project, token.user_id)


def check_upload(
    session: Session,
    settings: Settings,
    token: AuthenticatedToken,
    project: Project | None,
    dist: DistInfo,
    upload: UploadedFile,
) -> bool:
    """Every rule on the project and the file, in order: authorization (and 2FA), the same file
    or filename before, the lifecycle, the abuse rules, the limits, known vulnerabilities.
    True when this very file is already there, so the upload has nothing to do; raises
    UploadError for the first rule an upload breaks."""
    check_uploader(session, settings, token, project, dist.name)
    return check_file(session, settings, token, project, dist, upload)


def check_uploader(
    session: Session,
    settings: Settings,
    token: AuthenticatedToken,
    project: Project | None,
    name: str,
) -> None:
    """The first rules of :func:`check_upload`, which depend on the project and the uploader
    only (the origin rules, authorization and 2FA): a caller writing many files of one
    project checks them once, then :func:`check_file` for each file."""
    _check_origin(session, name)
    authorize(session, settings, token, project, name)


def check_file(
    session: Session,
    settings: Settings,
    token: AuthenticatedToken,
    project: Project | None,
    dist: DistInfo,
    upload: UploadedFile,
    *,
    unseen: bool = False,
) -> bool:
    """The rest of :func:`check_upload`, once :func:`check_uploader` passed: the same file or
    filename before, the lifecycle, the abuse rules, the limits, known vulnerabilities.
    ``unseen``: the caller read in this transaction that neither the filename nor the bytes
    were ever used (a batch of files reads that once for all), so the first rule holds."""
    if not unseen and _already_uploaded(session, upload):
        return True
    _check_open(session, settings, project, dist)
    _check_abuse(session, settings, token, project, dist.name)
    _check_limits(session, settings, project, dist, upload.size)
    _check_vulnerabilities(session, settings, dist)
    return False


def _check_origin(session: Session, name: str) -> None:
    """Dependency confusion: a name the mirror serves from an upstream takes no local upload
    unless an administrator's origin rule allows it (stockade.mirror.rules)."""
    refusal = local_upload_refusal(session, canonicalize_name(name))
    if refusal is not None:
        raise UploadError(400, refusal)


def authorize(
    session: Session,
    settings: Settings,
    token: AuthenticatedToken,
    project: Project | None,
    name: str,
) -> None:
    """The token may upload to this project: its scope, the uploader's role (or the trusted
    publisher's registration; for a new project, nobody else's name reservation), and the 2FA
    requirement."""
    if not token.allows(canonicalize_name(name)):
        raise UploadError(
            403, f"Invalid API Token: project-scoped token is not valid for project: {name!r}"
        )
    _check_namespace(session, token, project, name)
    if token.publisher_id is not None:
        # A trusted publisher's registration is the authorization, and its short-lived token
        # stands in for 2FA (PyPI's rule); it never creates or re-creates a project.
        if project is None or project.deletion_id is not None:
            raise UploadError(
                403, f"Invalid API Token: the trusted publisher's project {name!r} does not exist."
            )
        return
    if project is None:
        reserved_for = reservations.holder(session, canonicalize_name(name))
        if reserved_for is not None and reserved_for != token.user_id:
            # A first release of this name is being staged by someone else (PEP 694).
            raise UploadError(
                403, f"The user {token.username!r} isn't allowed to upload to project {name!r}."
            )
        _require_two_factor(session, settings, token, None, name)
        return
    # In person or through the organization that owns the project (stockade.orgs).
    if effective_role(session, token.user_id, project.id) is None:
        raise UploadError(
            403,
            f"The user {token.username!r} isn't allowed to upload to project {project.name!r}.",
        )
    _require_two_factor(session, settings, token, project, project.name)


def _check_namespace(
    session: Session, token: AuthenticatedToken, project: Project | None, name: str
) -> None:
    """PEP 752: a name under an organization's namespace takes uploads only for the org's own
    projects (and projects older than the grant); anything else is the PEP's 409."""
    live = project is not None and project.deletion_id is None
    refusal = namespace_upload_refusal(
        session,
        canonicalize_name(name),
        project_id=project.id if live and project is not None else None,
        project_created_at=project.created_at if live and project is not None else None,
        user_id=token.user_id,
    )
    if refusal is not None:
        raise UploadError(409, refusal)


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


def _already_uploaded(session: Session, upload: UploadedFile) -> bool:
    """True when this very file is live already (the upload has nothing to do); refused when
    its filename or its bytes were used before by another or a deleted file."""
    registered = session.get(FilenameRegistry, upload.filename)
    if registered is not None:
        live = session.scalar(
            select(File.id).where(File.filename == upload.filename, File.deletion_id.is_(None))
        )
        if registered.sha256_digest == upload.sha256 and live is not None:
            return True
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
    return False


def _check_open(
    session: Session, settings: Settings, project: Project | None, dist: DistInfo
) -> None:
    """Archived projects, deleted and closed releases take no new files."""
    if project is None:
        return
    with lifecycle_refusals():
        lifecycle_rules.check_release_open(session, settings, project, dist.version)


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


def _check_limits(
    session: Session, settings: Settings, project: Project | None, dist: DistInfo, size: int
) -> None:
    """The file and project size limits, and one sdist per release."""
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


def _check_vulnerabilities(session: Session, settings: Settings, dist: DistInfo) -> None:
    """With ``refuse_vulnerable_uploads``, a version a known advisory affects is refused."""
    if not settings.refuse_vulnerable_uploads:
        return
    matches = matches_for(session, dist.normalized_name, dist.version)
    if not matches:
        return
    ids = ", ".join(m.advisory.osv_id for m in matches)
    fixed = sorted({f for m in matches for f in m.fixed_in})
    hint = f" Fixed in: {', '.join(fixed)}." if fixed else ""
    raise UploadError(
        400,
        f"Version {dist.version!r} of {dist.name!r} has known vulnerabilities ({ids}); this "
        f"index does not accept uploads of versions with known vulnerabilities.{hint}",
    )
