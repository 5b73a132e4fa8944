"""Verifying PEP 740 attestations with sigstore and pypi-attestations (the heavy part).

Imported only when an upload carries attestations: sigstore and its dependencies take about a
second and tens of megabytes to import, which a web worker that never sees one should not pay.

``pypi_attestations.Attestation.verify`` always builds Sigstore's *production* verifier, so it
cannot check against a private trust root. This module does the same steps with a verifier
built from the configured trust root: the Sigstore bundle (certificate chain, SCT, transparency
log inclusion, signature) and the Trusted Publisher policy through ``Verifier.verify_dsse``,
then the in-toto statement's subject (file name and sha256) and predicate type.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import sigstore.errors
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)
from pydantic import TypeAdapter, ValidationError
from pypi_attestations import (
    Attestation,
    AttestationBundle,
    AttestationType,
    ConversionError,
    GitHubPublisher,
    GitLabPublisher,
    Provenance,
    Publisher,
)
from sigstore.dsse import _Statement  # the in-toto statement model pypi-attestations uses
from sigstore.models import TrustedRoot
from sigstore.verify import Verifier

from stockade.attestations.errors import AttestationUploadError

__all__ = ["SUPPORTED_TYPES", "verifier", "verify_attestations", "verify_provenance"]

_DSSE_PAYLOAD_TYPE = "application/vnd.in-toto+json"
SUPPORTED_TYPES = frozenset(t.value for t in AttestationType)
_ATTESTATIONS = TypeAdapter(list[Attestation])

# Fulcio certificate extensions (https://github.com/sigstore/fulcio/blob/main/docs/oid-info.md).
_SOURCE_REPOSITORY_URI = "1.3.6.1.4.1.57264.1.12"
_BUILD_CONFIG_URI = "1.3.6.1.4.1.57264.1.18"


@functools.lru_cache(maxsize=4)
def verifier(trust_root: str) -> Verifier:
    """The Sigstore verifier for a trusted_root.json path ("" = the production root bundled
    with sigstore, used offline: no network at upload time). Cached per process."""
    if trust_root:
        return Verifier(trusted_root=TrustedRoot.from_file(trust_root))
    return Verifier.production(offline=True)


def _dist_name(filename: str) -> tuple[object, ...]:
    if filename.endswith(".whl"):
        return tuple(parse_wheel_filename(filename))
    if filename.endswith((".tar.gz", ".zip")):
        return tuple(parse_sdist_filename(filename))
    raise ValueError(f"unknown distribution format: {filename}")


def _parse(raw: str) -> list[Attestation]:
    try:
        attestations = _ATTESTATIONS.validate_json(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'attestations'}: {err['msg']}"
            for err in exc.errors()[:3]
        )
        raise AttestationUploadError(f"Malformed attestations: {problems}") from exc
    if not attestations:
        raise AttestationUploadError(
            "Malformed attestations: an empty attestation set is not permitted"
        )
    if len(attestations) > len(SUPPORTED_TYPES):
        raise AttestationUploadError(
            f"A maximum of {len(SUPPORTED_TYPES)} attestations per file are supported"
        )
    return attestations


def _claim(attestation: Attestation, oid: str) -> str | None:
    try:
        return attestation.certificate_claims.get(oid)
    except ValueError:
        return None


def _identity_mismatch(attestation: Attestation, publisher: Publisher) -> str | None:
    """Name the identity difference behind a policy failure in words (sigstore's message
    quotes raw certificate extensions). The certificate is not trusted here: this only
    explains a refusal that the verifier already made."""
    if isinstance(publisher, GitHubPublisher):
        host, marker, expected = "https://github.com/", "/.github/workflows/", publisher.workflow
    elif isinstance(publisher, GitLabPublisher):
        host, marker, expected = "https://gitlab.com/", "//", publisher.workflow_filepath
    else:
        return None
    repository = _claim(attestation, _SOURCE_REPOSITORY_URI)
    if repository is not None and repository != host + publisher.repository:
        return (
            f"the attestation was signed in repository {repository.removeprefix(host)!r}, "
            f"not the Trusted Publisher's repository {publisher.repository!r}"
        )
    build_config = _claim(attestation, _BUILD_CONFIG_URI) or ""
    workflow = build_config.partition(marker)[2].rpartition("@")[0]
    if workflow and workflow != expected:
        return (
            f"the attestation was signed by workflow {workflow!r}, not the Trusted "
            f"Publisher's workflow {expected!r}"
        )
    return None


def _verify_one(
    attestation: Attestation,
    publisher: Publisher,
    filename: str,
    sha256: str,
    sigstore_verifier: Verifier,
) -> str:
    """Verify one attestation; returns its predicate type."""
    prefix = "Could not verify the uploaded artifact using the included attestation: "
    try:
        bundle = attestation.to_bundle()
    except (ConversionError, ValueError) as exc:
        raise AttestationUploadError(f"Malformed attestations: {exc}") from exc
    try:
        # _as_policy is how pypi-attestations itself turns a publisher into a policy.
        policy = publisher._as_policy()
        payload_type, payload = sigstore_verifier.verify_dsse(bundle, policy)
    except sigstore.errors.VerificationError as exc:
        reason = _identity_mismatch(attestation, publisher) or str(exc)
        raise AttestationUploadError(prefix + reason) from exc
    except (sigstore.errors.Error, ValueError) as exc:
        raise AttestationUploadError(prefix + str(exc)) from exc
    if payload_type != _DSSE_PAYLOAD_TYPE:
        raise AttestationUploadError(prefix + f"expected an in-toto payload, got {payload_type}")
    try:
        statement = _Statement.model_validate_json(payload)
    except ValidationError as exc:
        raise AttestationUploadError(prefix + "the attestation's statement is invalid") from exc
    if len(statement.subjects) != 1:
        raise AttestationUploadError(prefix + "the statement must have exactly one subject")
    subject = statement.subjects[0]
    try:
        same_name = subject.name is not None and _dist_name(subject.name) == _dist_name(filename)
    except (InvalidSdistFilename, InvalidWheelFilename, ValueError):
        same_name = False
    if not same_name:
        raise AttestationUploadError(
            prefix + f"the attestation is for {subject.name!r}, not for {filename!r}"
        )
    digest = subject.digest.root.get("sha256")
    if digest != sha256:
        raise AttestationUploadError(
            prefix + f"the attestation's sha256 digest {digest!r} does not match the uploaded "
            f"file's {sha256!r}"
        )
    predicate_type = statement.predicate_type
    if predicate_type not in SUPPORTED_TYPES:
        raise AttestationUploadError(
            f"Attestation with unsupported predicate type: {predicate_type}"
        )
    return predicate_type


def verify_attestations(
    raw: str,
    *,
    filename: str,
    sha256: str,
    publisher: Publisher,
    trust_root: str,
) -> dict[str, Any]:
    """Parse the upload's ``attestations`` field and verify every attestation against the file
    and the Trusted Publisher's identity. Returns the PEP 740 provenance object to store.

    Raises AttestationUploadError with PyPI's wording, naming the problem."""
    attestations = _parse(raw)
    sigstore_verifier = verifier(trust_root)
    seen: set[str] = set()
    for attestation in attestations:
        predicate_type = _verify_one(attestation, publisher, filename, sha256, sigstore_verifier)
        if predicate_type in seen:
            raise AttestationUploadError(
                "Multiple attestations for the same file with the same predicate type "
                f"({predicate_type}) are not supported"
            )
        seen.add(predicate_type)
    provenance = Provenance(
        attestation_bundles=[AttestationBundle(publisher=publisher, attestations=attestations)]
    )
    document: dict[str, Any] = json.loads(provenance.model_dump_json())
    return document


def verify_provenance(raw: bytes, *, filename: str, sha256: str, trust_root: str) -> dict[str, Any]:
    """Verify a PEP 740 provenance object another index serves for a file (a mirror's
    upstream): every attestation of every bundle against the file and the bundle's own
    Trusted Publisher identity. Returns the provenance object to store.

    Raises AttestationUploadError naming the problem."""
    try:
        provenance = Provenance.model_validate_json(raw)
    except ValidationError as exc:
        raise AttestationUploadError(f"Malformed provenance: {exc.error_count()} error(s)") from exc
    if not provenance.attestation_bundles:
        raise AttestationUploadError("Malformed provenance: no attestation bundle")
    sigstore_verifier = verifier(trust_root)
    for bundle in provenance.attestation_bundles:
        for attestation in bundle.attestations:
            _verify_one(attestation, bundle.publisher, filename, sha256, sigstore_verifier)
    document: dict[str, Any] = json.loads(provenance.model_dump_json())
    return document
