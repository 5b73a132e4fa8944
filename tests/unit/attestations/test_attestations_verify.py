"""Verifying PEP 740 attestations: real production ones offline, and a private trust root."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pypi_attestations import GitHubPublisher, GitLabPublisher, GooglePublisher

from stockade.attestations.errors import AttestationUploadError
from stockade.attestations.services import verify_upload
from stockade.attestations.verify import verify_attestations
from stockade.config import ConfigError, load_settings
from support.sigstore_testroot import TestSigstore

FIXTURES = Path(__file__).parents[2] / "fixtures" / "attestations"
REAL_DIST = FIXTURES / "pypi_attestations-0.0.19.tar.gz"
REAL_ATTESTATION = FIXTURES / "pypi_attestations-0.0.19.tar.gz.publish.attestation"
REAL_PUBLISHER = GitHubPublisher(repository="trailofbits/pypi-attestations", workflow="release.yml")
PUBLISH_V1 = "https://docs.pypi.org/attestations/publish/v1"
SLSA_V1 = "https://slsa.dev/provenance/v1"

WHEEL = "octo_pkg-1.0-py3-none-any.whl"
DIGEST = hashlib.sha256(b"octo_pkg wheel bytes").hexdigest()
PUBLISHER = GitHubPublisher(repository="octo/pkg", workflow="release.yml")


@pytest.fixture(scope="module")
def sigstore_root(tmp_path_factory: pytest.TempPathFactory) -> TestSigstore:
    return TestSigstore.create(tmp_path_factory.mktemp("sigstore"))


def _real() -> tuple[str, str]:
    return REAL_ATTESTATION.read_text(), hashlib.sha256(REAL_DIST.read_bytes()).hexdigest()


def _verify(raw: str, root: TestSigstore, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"filename": WHEEL, "sha256": DIGEST, "publisher": PUBLISHER}
    args.update(kw)
    return verify_attestations(raw, trust_root=str(root.trusted_root), **args)


def _refused(raw: str, root: TestSigstore, **kw: Any) -> str:
    with pytest.raises(AttestationUploadError) as info:
        _verify(raw, root, **kw)
    return str(info.value)


# -- real attestations, production root bundled with sigstore, offline -------------------------


def test_real_attestation_verifies_offline_against_the_production_root() -> None:
    attestation, digest = _real()
    provenance = verify_attestations(
        f"[{attestation}]",
        filename=REAL_DIST.name,
        sha256=digest,
        publisher=REAL_PUBLISHER,
        trust_root="",
    )
    assert provenance["version"] == 1
    (bundle,) = provenance["attestation_bundles"]
    assert bundle["publisher"] == {
        "kind": "GitHub",
        "repository": "trailofbits/pypi-attestations",
        "workflow": "release.yml",
        "environment": None,
    }
    # The attestation is kept as uploaded, and matches the one PyPI serves for this file.
    assert bundle["attestations"] == [json.loads(attestation)]
    served = json.loads((FIXTURES / f"{REAL_DIST.name}.provenance").read_text())
    assert served["attestation_bundles"][0]["attestations"] == bundle["attestations"]


def test_real_attestation_refused_for_another_workflow() -> None:
    attestation, digest = _real()
    with pytest.raises(AttestationUploadError) as info:
        verify_attestations(
            f"[{attestation}]",
            filename=REAL_DIST.name,
            sha256=digest,
            publisher=GitHubPublisher(
                repository="trailofbits/pypi-attestations", workflow="evil.yml"
            ),
            trust_root="",
        )
    assert str(info.value) == (
        "Could not verify the uploaded artifact using the included attestation: the attestation "
        "was signed by workflow 'release.yml', not the Trusted Publisher's workflow 'evil.yml'"
    )


def test_real_attestation_refused_for_other_bytes() -> None:
    attestation, digest = _real()
    with pytest.raises(AttestationUploadError, match=r"sha256 digest .* does not match") as info:
        verify_attestations(
            f"[{attestation}]",
            filename=REAL_DIST.name,
            sha256="0" * 64,
            publisher=REAL_PUBLISHER,
            trust_root="",
        )
    assert digest in str(info.value)


def test_real_attestation_refused_for_another_publisher_kind() -> None:
    attestation, digest = _real()
    for publisher in (
        GitLabPublisher(repository="trailofbits/pypi-attestations", workflow_filepath="ci.yml"),
        GooglePublisher(email="someone@example.iam.gserviceaccount.com"),
    ):
        with pytest.raises(AttestationUploadError, match=r"^Could not verify"):
            verify_attestations(
                f"[{attestation}]",
                filename=REAL_DIST.name,
                sha256=digest,
                publisher=publisher,
                trust_root="",
            )


def test_real_attestation_refused_against_a_private_root(sigstore_root: TestSigstore) -> None:
    attestation, digest = _real()
    message = _refused(
        f"[{attestation}]",
        sigstore_root,
        filename=REAL_DIST.name,
        sha256=digest,
        publisher=REAL_PUBLISHER,
    )
    assert message.startswith("Could not verify the uploaded artifact")
    assert "certificate chain" in message


# -- the private test root -----------------------------------------------------------------------


def test_private_root_attestation_verifies(sigstore_root: TestSigstore) -> None:
    att = sigstore_root.attest(WHEEL, DIGEST, repository="octo/pkg", workflow="release.yml")
    provenance = _verify(json.dumps([att]), sigstore_root)
    assert provenance["attestation_bundles"][0]["attestations"] == [att]
    assert provenance["attestation_bundles"][0]["publisher"]["repository"] == "octo/pkg"


def test_private_root_attestation_not_valid_on_the_production_root(
    sigstore_root: TestSigstore,
) -> None:
    att = sigstore_root.attest(WHEEL, DIGEST, repository="octo/pkg", workflow="release.yml")
    with pytest.raises(AttestationUploadError, match="certificate chain"):
        verify_attestations(
            json.dumps([att]), filename=WHEEL, sha256=DIGEST, publisher=PUBLISHER, trust_root=""
        )


@pytest.mark.parametrize(
    ("repository", "workflow", "expected"),
    [
        (
            "evil/pkg",
            "release.yml",
            "the attestation was signed in repository 'evil/pkg', not the Trusted Publisher's "
            "repository 'octo/pkg'",
        ),
        (
            "octo/pkg",
            "other.yml",
            "the attestation was signed by workflow 'other.yml', not the Trusted Publisher's "
            "workflow 'release.yml'",
        ),
    ],
)
def test_identity_mismatch_named(
    sigstore_root: TestSigstore, repository: str, workflow: str, expected: str
) -> None:
    att = sigstore_root.attest(WHEEL, DIGEST, repository=repository, workflow=workflow)
    message = _refused(json.dumps([att]), sigstore_root)
    assert (
        message
        == f"Could not verify the uploaded artifact using the included attestation: {expected}"
    )


def test_subject_mismatches(sigstore_root: TestSigstore) -> None:
    att = sigstore_root.attest(WHEEL, DIGEST, repository="octo/pkg", workflow="release.yml")
    raw = json.dumps([att])
    assert "does not match the uploaded file's" in _refused(raw, sigstore_root, sha256="1" * 64)
    other = "octo_pkg-2.0-py3-none-any.whl"
    assert f"the attestation is for {WHEEL!r}, not for {other!r}" in _refused(
        raw, sigstore_root, filename=other
    )


def test_tampered_statement_refused(sigstore_root: TestSigstore) -> None:
    att = sigstore_root.attest(WHEEL, DIGEST, repository="octo/pkg", workflow="release.yml")
    statement = json.loads(base64.b64decode(att["envelope"]["statement"]))
    statement["subject"][0]["digest"]["sha256"] = "2" * 64
    att["envelope"]["statement"] = base64.b64encode(json.dumps(statement).encode()).decode()
    message = _refused(json.dumps([att]), sigstore_root, sha256="2" * 64)
    assert message.startswith("Could not verify the uploaded artifact")


def test_predicate_types(sigstore_root: TestSigstore) -> None:
    publish = sigstore_root.attest(WHEEL, DIGEST, repository="octo/pkg", workflow="release.yml")
    slsa = sigstore_root.attest(
        WHEEL, DIGEST, repository="octo/pkg", workflow="release.yml", predicate_type=SLSA_V1
    )
    both = _verify(json.dumps([publish, slsa]), sigstore_root)
    assert len(both["attestation_bundles"][0]["attestations"]) == 2
    assert _refused(json.dumps([publish, publish]), sigstore_root) == (
        "Multiple attestations for the same file with the same predicate type "
        f"({PUBLISH_V1}) are not supported"
    )
    odd = sigstore_root.attest(
        WHEEL,
        DIGEST,
        repository="octo/pkg",
        workflow="release.yml",
        predicate_type="https://example.com/custom/v1",
    )
    assert _refused(json.dumps([odd]), sigstore_root) == (
        "Attestation with unsupported predicate type: https://example.com/custom/v1"
    )
    assert _refused(json.dumps([publish, slsa, publish]), sigstore_root) == (
        "A maximum of 2 attestations per file are supported"
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("not json", "Malformed attestations: attestations: Invalid JSON"),
        ("[]", "Malformed attestations: an empty attestation set is not permitted"),
        ('{"version": 1}', "Malformed attestations: attestations: Input should be a valid array"),
        ('[{"version": 2}]', "Malformed attestations: 0.version: Input should be 1"),
        (
            '[{"version": 1, "verification_material": {"certificate": "bm90IGEgY2VydA==", '
            '"transparency_entries": [{}]}, '
            '"envelope": {"statement": "e30=", "signature": "AA=="}}]',
            "Malformed attestations: invalid X.509 certificate",
        ),
    ],
)
def test_malformed(sigstore_root: TestSigstore, raw: str, expected: str) -> None:
    assert _refused(raw, sigstore_root).startswith(expected)


def test_only_trusted_publishers_may_attest(sigstore_root: TestSigstore) -> None:
    att = sigstore_root.attest(WHEEL, DIGEST, repository="octo/pkg", workflow="release.yml")
    common: dict[str, Any] = {
        "filename": WHEEL,
        "sha256": DIGEST,
        "trust_root": str(sigstore_root.trusted_root),
    }
    with pytest.raises(AttestationUploadError) as info:
        verify_upload(json.dumps([att]), publisher=None, publisher_name="", **common)
    assert str(info.value) == "Attestations are only supported when using Trusted Publishing"
    with pytest.raises(AttestationUploadError) as info:
        verify_upload(json.dumps([att]), publisher=None, publisher_name="OIDC", **common)
    assert str(info.value) == "Attestations are not currently supported with OIDC publishers"
    result = verify_upload(
        json.dumps([att]), publisher=PUBLISHER, publisher_name="GitHub", **common
    )
    assert result["attestation_bundles"][0]["publisher"]["kind"] == "GitHub"


def test_trust_root_setting(tmp_path: Path, sigstore_root: TestSigstore) -> None:
    root = str(sigstore_root.trusted_root)
    settings = load_settings(tmp_path / "a", environ={"STOCKADE_SIGSTORE_TRUST_ROOT": root})
    assert settings.sigstore_trust_root == root
    assert load_settings(tmp_path / "b", environ={}).sigstore_trust_root == ""
    with pytest.raises(ConfigError, match="sigstore_trust_root: no such file"):
        load_settings(tmp_path / "c", environ={"STOCKADE_SIGSTORE_TRUST_ROOT": root + ".gone"})


def test_web_app_does_not_load_sigstore() -> None:
    """sigstore costs a second and tens of MB: only an upload with attestations loads it."""
    code = (
        "import sys, stockade.web.app, stockade.publish.upload\n"
        "print(sorted(m for m in ('sigstore', 'pypi_attestations') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"
