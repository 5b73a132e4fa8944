"""Attestation services: verify at upload (delegating to the heavy verifier), store and read
provenance. Importing this module does not load sigstore."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from stockade.attestations.errors import AttestationUploadError
from stockade.db import Database
from stockade.index.provenance import FileProvenance

if TYPE_CHECKING:
    from pypi_attestations import Publisher

__all__ = [
    "MEDIA_TYPE",
    "AttestationUploadError",
    "Identity",
    "attestation_identity",
    "check_attestations",
    "identities",
    "verify_upload",
]

MEDIA_TYPE = "application/vnd.pypi.integrity.v1+json"


@dataclass(frozen=True)
class Identity:
    """Who signed a file's attestations, as the project page shows it."""

    kind: str
    # GitHub/GitLab: the repository and workflow file; Google: the service account email.
    repository: str | None
    workflow: str | None
    environment: str | None
    email: str | None
    predicate_types: tuple[str, ...]
    verified_at: dt.datetime


def verify_upload(
    raw: str,
    *,
    filename: str,
    sha256: str,
    publisher: Publisher | None,
    publisher_name: str,
    trust_root: str,
) -> dict[str, Any]:
    """Verify an upload's ``attestations`` field against the file and the uploading Trusted
    Publisher's identity; returns the provenance object to store with the file.

    ``publisher`` is the identity of the token's trusted publisher (None: the token is not a
    trusted publisher's, or its kind of publisher has no attestation identity).
    Raises AttestationUploadError (PyPI's wording)."""
    if not publisher_name:
        raise AttestationUploadError(
            "Attestations are only supported when using Trusted Publishing"
        )
    if publisher is None:
        raise AttestationUploadError(
            f"Attestations are not currently supported with {publisher_name} publishers"
        )
    from stockade.attestations.verify import verify_attestations  # heavy: loaded on first use

    return verify_attestations(
        raw, filename=filename, sha256=sha256, publisher=publisher, trust_root=trust_root
    )


_PROVIDER_NAMES = {"github": "GitHub", "gitlab": "GitLab", "google": "Google", "oidc": "OIDC"}


def attestation_identity(session: Session, publisher_id: int) -> tuple[Publisher | None, str]:
    """The identity a trusted publisher's attestations must carry (None when its kind has no
    attestation identity, e.g. a generic OIDC issuer), and the kind's display name."""
    from stockade.oidc.models import Publisher as PublisherRow
    from stockade.oidc.services import attestation_publisher  # loads pypi-attestations

    row = session.get(PublisherRow, publisher_id)
    if row is None:
        return None, "unknown"
    kind = _PROVIDER_NAMES.get(row.provider, row.provider)
    return attestation_publisher(session, publisher_id), kind


def check_attestations(
    db: Database,
    raw: str,
    *,
    publisher_id: int | None,
    filename: str,
    sha256: str,
    trust_root: str,
) -> dict[str, Any]:
    """The upload path's entry point: verify the ``attestations`` field of an upload made with
    a token of trusted publisher ``publisher_id`` (None: not a publisher's token). Runs before
    the upload's transaction; returns the provenance to store in it."""
    identity: Publisher | None = None
    kind = ""
    if publisher_id is not None:
        with db.read() as session:
            identity, kind = attestation_identity(session, publisher_id)
    return verify_upload(
        raw,
        filename=filename,
        sha256=sha256,
        publisher=identity,
        publisher_name=kind,
        trust_root=trust_root,
    )


def identities(session: Session, file_ids: Iterable[int]) -> dict[int, Identity]:
    """The attestation identity of each attested file among ``file_ids``."""
    ids = list(file_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(FileProvenance.file_id, FileProvenance.provenance, FileProvenance.verified_at).where(
            FileProvenance.file_id.in_(ids)
        )
    ).all()
    out: dict[int, Identity] = {}
    for file_id, provenance, verified_at in rows:
        bundles = provenance.get("attestation_bundles") or [{}]
        publisher: dict[str, Any] = bundles[0].get("publisher") or {}
        types: list[str] = []
        for bundle in bundles:
            for attestation in bundle.get("attestations", []):
                types.extend(_predicate_type(attestation))
        out[file_id] = Identity(
            kind=str(publisher.get("kind", "")),
            repository=publisher.get("repository"),
            workflow=publisher.get("workflow") or publisher.get("workflow_filepath"),
            environment=publisher.get("environment"),
            email=publisher.get("email"),
            predicate_types=tuple(types),
            verified_at=verified_at,
        )
    return out


def _predicate_type(attestation: dict[str, Any]) -> list[str]:
    try:
        statement = json.loads(base64.b64decode(attestation["envelope"]["statement"]))
        return [str(statement["predicateType"])]
    except (KeyError, TypeError, ValueError):
        return []
