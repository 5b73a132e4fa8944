"""Files of a publishing session (PEP 694 file upload sessions).

A file is declared first (name, size, hashes, mechanism), then its bytes arrive by
``http-post-bytes``: they are checked against the declaration and validated as the legacy
upload validates a file (:func:`stockade.publish.upload.check_dist`), and stored as a
content-addressed blob that only the session's preview serves. Completion runs the
project's upload rules. Publishing them is :mod:`stockade.staging.publishing`.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_version
from sqlalchemy import select
from sqlalchemy.orm import Session

from stockade.attestations.services import AttestationUploadError, check_attestations
from stockade.config import Settings
from stockade.db import Database, utcnow
from stockade.dists import DistError, DistInfo, parse_filename
from stockade.index.models import FilenameRegistry, Project
from stockade.index.paths import blob_key
from stockade.publish.checks import check_upload, upload_target
from stockade.publish.errors import UploadError
from stockade.publish.form import UploadedFile
from stockade.publish.upload import check_dist
from stockade.staging.models import (
    CANCELED,
    COMPLETED,
    ERROR,
    PENDING,
    PublishingSession,
    StagedFile,
)
from stockade.staging.services import StagingError, authorized_session, live_session
from stockade.storage import BlobStorage
from stockade.storage.holds import hold_blobs
from stockade.tokens.services import AuthenticatedToken

__all__ = [
    "MECHANISM",
    "Received",
    "attach_attestations",
    "complete_file",
    "declare_file",
    "delete_file",
    "find_file",
    "live_files",
    "receive_bytes",
    "session_files",
    "staged_dist",
    "staged_upload",
]

MECHANISM = "http-post-bytes"
# At least one of these (secure, always in hashlib) must be declared for a file.
_SECURE = {"sha224", "sha256", "sha384", "sha512", "sha3_224", "sha3_256", "sha3_384"}
_SECURE |= {"sha3_512", "blake2b", "blake2s"}


@dataclass(frozen=True)
class Received:
    """A file's bytes as the face spooled them: the path, size and the digests it computed
    (every declared algorithm, plus sha256, blake2b-256 and md5)."""

    path: Path
    size: int
    digests: dict[str, str]


def declared_algorithms(hashes: dict[str, str]) -> list[str]:
    """The algorithms of a declaration, in order (the face hashes the bytes with each)."""
    return sorted(hashes)


def _check_declaration(filename: str, size: object, hashes: object, settings: Settings) -> None:
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise StagingError(400, '"size" must be a positive whole number of bytes.')
    if size > settings.max_file_size:
        limit = settings.max_file_size // (1024 * 1024)
        raise StagingError(400, f"File too large. Limit for this index is {limit} MB.")
    if not isinstance(hashes, dict) or not hashes:
        raise StagingError(400, '"hashes" must map hash names to hex digests.')
    for algorithm, digest in hashes.items():
        if algorithm not in hashlib.algorithms_guaranteed or algorithm.startswith("shake_"):
            raise StagingError(400, f"Unknown or unsupported hash algorithm {algorithm!r}.")
        if not isinstance(digest, str) or len(digest) > 256:
            raise StagingError(400, f"The {algorithm} digest must be a hex string.")
    if not _SECURE & hashes.keys():
        raise StagingError(400, "Declare at least one secure hash, such as sha256.")


def declare_file(
    db: Database,
    settings: Settings,
    token: AuthenticatedToken,
    session_token: str,
    body: dict[str, Any],
) -> StagedFile:
    """Start a file upload session (the PEP's 202)."""
    filename, size, hashes = body.get("filename"), body.get("size"), body.get("hashes")
    if body.get("mechanism") != MECHANISM:
        raise StagingError(422, f"Unsupported upload mechanism; this index offers {MECHANISM}.")
    if not isinstance(filename, str):
        raise StagingError(400, '"filename" must be a string.')
    try:
        info = parse_filename(filename)
    except DistError as exc:
        raise StagingError(400, str(exc)) from exc
    _check_declaration(filename, size, hashes, settings)
    assert isinstance(size, int) and isinstance(hashes, dict)

    def unit(session: Session) -> StagedFile:
        staged, _project = live_session(session, settings, token, session_token, "changed")
        if (
            info.normalized_name != staged.normalized_name
            or canonicalize_version(str(info.version)) != staged.canonical_version
        ):
            raise StagingError(
                400,
                f"The file {filename!r} is not of {staged.normalized_name} {staged.version}.",
            )
        if session.get(FilenameRegistry, filename) is not None:
            raise StagingError(409, f"The file {filename!r} has already been published.")
        key = f"{staged.id}:{filename}"
        if session.scalar(select(StagedFile.id).where(StagedFile.live_key == key)) is not None:
            raise StagingError(
                409, f"The session already has {filename!r}: delete it first to replace it."
            )
        row = StagedFile(
            session_id=staged.id,
            token=secrets.token_urlsafe(24),
            filename=filename,
            live_key=key,
            status=PENDING,
            size=size,
            hashes={k.lower(): v.lower() for k, v in hashes.items()},
            created_at=utcnow(),
        )
        session.add(row)
        session.flush()
        session.expunge(row)
        return row

    return db.run_write(unit)


def _file(
    session: Session,
    settings: Settings,
    token: AuthenticatedToken,
    session_token: str,
    file_token: str,
    *,
    verb: str = "changed",
) -> tuple[PublishingSession, StagedFile]:
    staged, _project = live_session(session, settings, token, session_token, verb)
    return staged, _file_row(session, staged, file_token, lock=True)


def _file_row(
    session: Session, staged: PublishingSession, file_token: str, *, lock: bool
) -> StagedFile:
    query = select(StagedFile).where(
        StagedFile.token == file_token, StagedFile.session_id == staged.id
    )
    row = session.scalar(query.with_for_update() if lock else query)
    if row is None:
        raise StagingError(404, "No such file upload session.")
    return row


def find_file(
    db: Database,
    settings: Settings,
    token: AuthenticatedToken,
    session_token: str,
    file_token: str,
) -> tuple[PublishingSession, StagedFile]:
    """A file upload session and its publishing session (any state), for its status."""
    with db.read() as session:
        staged, _project = authorized_session(session, settings, token, session_token)
        row = _file_row(session, staged, file_token, lock=False)
        session.expunge_all()
        return staged, row


def _dist_json(dist: DistInfo) -> dict[str, Any]:
    return {
        "name": dist.name,
        "normalized_name": dist.normalized_name,
        "version": dist.version,
        "canonical_version": dist.canonical_version,
        "metadata_version": dist.metadata_version,
        "requires_python": dist.requires_python,
        "summary": dist.summary,
        "metadata": dist.metadata,
    }


def staged_dist(row: StagedFile) -> DistInfo:
    """The file's metadata as it was read when its bytes arrived."""
    assert row.dist is not None
    return DistInfo(file=parse_filename(row.filename), metadata_bytes=None, **row.dist)


def receive_bytes(
    db: Database,
    storage: BlobStorage,
    settings: Settings,
    token: AuthenticatedToken,
    session_token: str,
    file_token: str,
    received: Received,
) -> None:
    """The ``http-post-bytes`` mechanism: the bytes, checked against the declaration and
    validated, stored as a blob only the preview serves. A refused body leaves the file
    pending (the client may send it again)."""
    with db.read() as session:
        staged, row = _file(session, settings, token, session_token, file_token)
        if row.status != PENDING:
            raise StagingError(409, f"The file is {row.status}; its bytes cannot change.")
        filename, size, hashes = row.filename, row.size, dict(row.hashes)
        version = staged.canonical_version
    if received.size != size:
        raise StagingError(400, f"Received {received.size} bytes; {size} were declared.")
    for algorithm, digest in hashes.items():
        if received.digests.get(algorithm) != digest:
            raise StagingError(400, f"The {algorithm} digest does not match the bytes received.")
    try:
        dist = check_dist(settings, received.path, filename)
    except UploadError as exc:
        raise StagingError(exc.status, exc.message) from exc
    if canonicalize_version(dist.version) != version:
        raise StagingError(400, f"The file's metadata says version {dist.version!r}.")
    sha256 = received.digests["sha256"]
    metadata_sha256 = None
    if dist.metadata_bytes is not None:
        metadata_sha256 = hashlib.sha256(dist.metadata_bytes).hexdigest()
    hold_blobs(db, [blob_key(d) for d in (sha256, metadata_sha256) if d is not None])
    storage.put_file(blob_key(sha256), received.path)
    if dist.metadata_bytes is not None and metadata_sha256 is not None:
        storage.put_bytes(blob_key(metadata_sha256), dist.metadata_bytes)

    def unit(session: Session) -> None:
        _staged, row = _file(session, settings, token, session_token, file_token)
        if row.status != PENDING:
            raise StagingError(409, f"The file is {row.status}; its bytes cannot change.")
        row.sha256_digest = sha256
        row.blake2_256_digest = received.digests["blake2b_256"]
        row.md5_digest = received.digests["md5"]
        row.metadata_sha256 = metadata_sha256
        row.dist = _dist_json(dist)

    db.run_write(unit)


def attach_attestations(
    db: Database,
    settings: Settings,
    token: AuthenticatedToken,
    session_token: str,
    file_token: str,
    raw: str,
) -> None:
    """PEP 694's ``attestations_url``: the file's PEP 740 attestations (a JSON array), verified
    as a legacy upload's are (:func:`stockade.attestations.services.check_attestations`: a
    trusted publisher's token, signed for this file's name and sha256 by that publisher), kept
    with the pending file and published with it. Sending them again replaces them."""
    with db.read() as session:
        _staged, row = _file(session, settings, token, session_token, file_token)
        if row.status != PENDING:
            raise StagingError(
                409, f"The file is {row.status}; attestations come before completion."
            )
        filename = row.filename
        sha256 = row.sha256_digest or row.hashes.get("sha256")
    if sha256 is None:
        raise StagingError(
            409, "Send the file's bytes (or declare its sha256) before its attestations."
        )
    try:
        provenance = check_attestations(
            db,
            raw,
            publisher_id=token.publisher_id,
            filename=filename,
            sha256=sha256,
            trust_root=settings.sigstore_trust_root,
        )
    except AttestationUploadError as exc:
        raise StagingError(400, f"Invalid attestations supplied during upload: {exc}") from exc

    def unit(session: Session) -> None:
        _staged, row = _file(session, settings, token, session_token, file_token)
        if row.status != PENDING:
            raise StagingError(
                409, f"The file is {row.status}; attestations come before completion."
            )
        row.provenance = provenance

    db.run_write(unit)


def complete_file(
    db: Database,
    settings: Settings,
    token: AuthenticatedToken,
    session_token: str,
    file_token: str,
) -> StagedFile:
    """Complete a file upload session: the project's upload rules, read-only; any refusal
    moves the file to ``error`` (the PEP's synchronous completion failure)."""

    def unit(session: Session) -> tuple[StagedFile, StagingError | None]:
        staged, row = _file(session, settings, token, session_token, file_token)
        if row.status != PENDING:
            raise StagingError(409, f"The file is {row.status}; it cannot be completed.")
        failure = _precheck(session, settings, token, staged, row)
        row.status = ERROR if failure is not None else COMPLETED
        row.problem = failure.message if failure is not None else None
        session.flush()
        session.expunge(row)
        return row, failure

    row, failure = db.run_write(unit)
    if failure is not None:
        raise failure
    return row


def _precheck(
    session: Session,
    settings: Settings,
    token: AuthenticatedToken,
    staged: PublishingSession,
    row: StagedFile,
) -> StagingError | None:
    if row.sha256_digest is None or row.dist is None:
        return StagingError(400, "No bytes were received for this file.")
    project = session.scalar(
        select(Project).where(Project.normalized_name == staged.normalized_name)
    )
    try:
        target = upload_target(session, settings, token, project)
        if check_upload(session, settings, token, target, staged_dist(row), staged_upload(row)):
            return StagingError(409, f"The file {row.filename!r} has already been published.")
    except UploadError as exc:
        return StagingError(exc.status, exc.message)
    return None


def staged_upload(row: StagedFile) -> UploadedFile:
    assert row.sha256_digest and row.blake2_256_digest and row.md5_digest
    return UploadedFile(
        path=Path(),
        filename=row.filename,
        size=row.size,
        sha256=row.sha256_digest,
        blake2_256=row.blake2_256_digest,
        md5=row.md5_digest,
    )


def delete_file(
    db: Database,
    settings: Settings,
    token: AuthenticatedToken,
    session_token: str,
    file_token: str,
) -> None:
    """Cancel an upload or delete a staged file: it leaves the session."""

    def unit(session: Session) -> None:
        _staged, row = _file(session, settings, token, session_token, file_token)
        if row.status == CANCELED:
            raise StagingError(409, "The file upload session is already canceled.")
        row.status = CANCELED
        row.live_key = None

    db.run_write(unit)


def session_files(
    db: Database, settings: Settings, token: AuthenticatedToken, session_token: str
) -> tuple[PublishingSession, list[StagedFile]]:
    """The session (any state) and its files that are not canceled, for its status."""
    with db.read() as session:
        staged, _project = authorized_session(session, settings, token, session_token)
        files = live_files(session, staged)
        session.expunge_all()
        return staged, files


def live_files(session: Session, staged: PublishingSession) -> list[StagedFile]:
    """The session's files that are not canceled, by name."""
    return list(
        session.scalars(
            select(StagedFile)
            .where(StagedFile.session_id == staged.id, StagedFile.status != CANCELED)
            .order_by(StagedFile.filename)
        )
    )
