"""PEP 740 through the legacy upload API: verified at upload, stored atomically, served at
/integrity/… and linked from the simple API."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
from sqlalchemy import func, select, update

from stockade.attestations.services import MEDIA_TYPE
from stockade.config import Settings
from stockade.events.models import Event
from stockade.events.services import CLI
from stockade.index.models import File, FilenameRegistry, Project
from stockade.index.provenance import FileProvenance
from stockade.lifecycle import services as lifecycle
from stockade.oidc.publishers import GitHubPublisherSpec
from support.attestations import attested_index, publisher_token
from support.builders import wheel_bytes, wheel_name
from support.index import Index
from support.sigstore_testroot import TestSigstore

NAME = "quillpod"
SPEC = GitHubPublisherSpec(
    owner="octo", owner_id="4242", repository="quillpod", workflow="release.yml"
)
REPOSITORY = "octo/quillpod"
FIXTURES = Path(__file__).parents[1] / "fixtures" / "attestations"
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"


@pytest.fixture(scope="module")
def sigstore_root(tmp_path_factory: pytest.TempPathFactory) -> TestSigstore:
    return TestSigstore.create(tmp_path_factory.mktemp("sigstore"))


@pytest.fixture
def attest_index(settings: Settings, sigstore_root: TestSigstore) -> Iterator[Index]:
    """An index whose Sigstore trust root is the private test root."""
    with attested_index(settings, sigstore_root) as idx:
        yield idx


def _publisher_token(index: Index, spec: GitHubPublisherSpec = SPEC, name: str = NAME) -> str:
    return publisher_token(index, spec, name)


def _upload(index: Index, token: str, content: bytes, filename: str, attestations: Any) -> Any:
    raw = attestations if isinstance(attestations, str) else json.dumps(attestations)
    return index.upload(content, filename, token=token, fields={"attestations": raw})


def _nothing_stored(index: Index, filename: str) -> None:
    with index.db.read() as session:
        assert session.scalar(select(File.id).where(File.filename == filename)) is None
        assert session.get(FilenameRegistry, filename) is None
        assert session.scalar(select(func.count()).select_from(FileProvenance)) == 0


def test_attested_upload_is_served_and_linked(
    attest_index: Index, sigstore_root: TestSigstore
) -> None:
    index = attest_index
    token = _publisher_token(index)
    content, filename = wheel_bytes(NAME, "0.2"), wheel_name(NAME, "0.2")
    digest = hashlib.sha256(content).hexdigest()
    att = sigstore_root.attest(filename, digest, repository=REPOSITORY, workflow="release.yml")

    response = _upload(index, token, content, filename, [att])
    assert response.status_code == 200, response.text

    url = f"/integrity/{NAME}/0.2/{filename}/provenance"
    served = index.client.get(url)
    assert served.status_code == 200
    assert served.headers["content-type"] == MEDIA_TYPE
    assert served.json() == {
        "version": 1,
        "attestation_bundles": [
            {
                "publisher": {
                    "kind": "GitHub",
                    "repository": REPOSITORY,
                    "workflow": "release.yml",
                    "environment": None,
                },
                "attestations": [att],
            }
        ],
    }
    # Content negotiation: the integrity type (or anything admitting it) is served; 406 else.
    assert index.client.get(url, headers={"Accept": MEDIA_TYPE}).status_code == 200
    assert index.client.get(url, headers={"Accept": "text/html, */*;q=0.1"}).status_code == 200
    refused = index.client.get(url, headers={"Accept": "text/html"})
    assert refused.status_code == 406
    assert index.client.get(url, headers={"Accept": f"{MEDIA_TYPE};q=0"}).status_code == 406
    # An explicit refusal wins over a wildcard; plain JSON is not the integrity type (PyPI).
    for accept in (f"{MEDIA_TYPE};q=0, */*", f"*/*, {MEDIA_TYPE};q=0", "application/json"):
        assert index.client.get(url, headers={"Accept": accept}).status_code == 406, accept
    assert index.client.get(url, headers={"Accept": "application/*"}).status_code == 200
    # None for the unattested file, an unknown file, or the wrong version.
    unattested = f"/integrity/{NAME}/0.1/{wheel_name(NAME, '0.1')}/provenance"
    assert index.client.get(unattested).status_code == 404
    assert index.client.get(unattested).json() == {
        "message": f"No provenance available for {wheel_name(NAME, '0.1')}"
    }
    assert index.client.get(f"/integrity/{NAME}/0.1/{filename}/provenance").status_code == 404
    assert index.client.get(f"/integrity/other/0.2/{filename}/provenance").status_code == 404

    # The simple API links it (PEP 740): JSON "provenance", HTML data-provenance.
    page = index.client.get(f"/simple/{NAME}/", headers={"Accept": SIMPLE_JSON})
    files = {f["filename"]: f for f in page.json()["files"]}
    assert files[wheel_name(NAME, "0.1")]["provenance"] is None
    link = files[filename]["provenance"]
    # PEP 740: a fully qualified URL, under the configured base_url.
    assert index.app.context.settings.base_url == "http://testserver"
    assert link == f"http://testserver{url}"
    assert index.client.get(urljoin(f"/simple/{NAME}/", link)).json() == served.json()
    html = index.client.get(f"/simple/{NAME}/", headers={"Accept": "text/html"}).text
    assert f'data-provenance="{link}"' in html
    assert html.count("data-provenance=") == 1

    # The project page shows who signed it.
    shown = index.client.get(f"/project/{NAME}/0.2/").text
    assert "Attested" in shown and "verified at upload" in shown
    assert f"GitHub <code>{REPOSITORY}</code>, workflow <code>release.yml</code>" in shown
    assert f'href="{url}"' in shown
    assert "Attested" not in index.client.get(f"/project/{NAME}/0.1/").text

    with index.db.read() as session:
        event = session.scalar(
            select(Event).where(Event.tag == "file:upload").order_by(Event.id.desc())
        )
        assert event is not None and event.details["attested"] is True

    # A quarantined project serves no provenance (PEP 792: no files either).
    with index.db.write() as session:
        session.execute(update(Project).values(status="quarantined"))
    assert index.client.get(url).status_code == 404
    with index.db.write() as session:
        session.execute(update(Project).values(status="active"))
    assert index.client.get(url).status_code == 200

    # A deleted file has no provenance to serve.
    with index.db.write() as session:
        project = session.scalar(select(Project).where(Project.normalized_name == NAME))
        assert project is not None
        lifecycle.delete_file(session, project, filename, origin=CLI, actor_id=None, admin=True)
    assert index.client.get(url).status_code == 404


@pytest.mark.parametrize(
    ("problem", "expected"),
    [
        ("digest", "the attestation's sha256 digest"),
        ("repository", "signed in repository 'evil/quillpod', not the Trusted Publisher's"),
        ("workflow", "signed by workflow 'other.yml', not the Trusted Publisher's workflow"),
        ("filename", "the attestation is for 'quillpod-0.9-py3-none-any.whl'"),
        ("json", "Malformed attestations: attestations: Invalid JSON"),
    ],
)
def test_mismatches_are_refused_and_nothing_is_stored(
    attest_index: Index, sigstore_root: TestSigstore, problem: str, expected: str
) -> None:
    index = attest_index
    token = _publisher_token(index)
    content, filename = wheel_bytes(NAME, "0.2"), wheel_name(NAME, "0.2")
    digest = hashlib.sha256(content).hexdigest()
    subject, repository, workflow = filename, REPOSITORY, "release.yml"
    if problem == "digest":
        digest = hashlib.sha256(b"other bytes").hexdigest()
    elif problem == "repository":
        repository = "evil/quillpod"
    elif problem == "workflow":
        workflow = "other.yml"
    elif problem == "filename":
        subject = wheel_name(NAME, "0.9")
    attestations: Any = [
        sigstore_root.attest(subject, digest, repository=repository, workflow=workflow)
    ]
    if problem == "json":
        attestations = "[{not json"

    response = _upload(index, token, content, filename, attestations)
    assert response.status_code == 400
    assert response.text.startswith("Invalid attestations supplied during upload: ")
    assert expected in response.text
    _nothing_stored(index, filename)
    # The same file, correctly attested, is then accepted: the refusal left nothing behind.
    good = sigstore_root.attest(
        filename, hashlib.sha256(content).hexdigest(), repository=REPOSITORY, workflow="release.yml"
    )
    assert _upload(index, token, content, filename, [good]).status_code == 200


def test_attestations_need_a_trusted_publisher(
    attest_index: Index, sigstore_root: TestSigstore
) -> None:
    index = attest_index
    content, filename = wheel_bytes(NAME, "0.1"), wheel_name(NAME, "0.1")
    att = sigstore_root.attest(
        filename, hashlib.sha256(content).hexdigest(), repository=REPOSITORY, workflow="release.yml"
    )
    response = _upload(index, index.token(), content, filename, [att])
    assert response.status_code == 400
    assert response.text.strip() == (
        "Invalid attestations supplied during upload: "
        "Attestations are only supported when using Trusted Publishing"
    )
    _nothing_stored(index, filename)
    # Without the field, the same upload by the same token is unaffected.
    assert index.upload(content, filename).status_code == 200


def test_real_attestation_verifies_offline_at_upload(index: Index) -> None:
    """The real pypi-attestations 0.0.19 sdist and its production attestation, verified
    against the production root bundled with sigstore (the default: no trust root set)."""
    assert index.settings.sigstore_trust_root == ""
    spec = GitHubPublisherSpec(
        owner="trailofbits",
        owner_id="2314423",
        repository="pypi-attestations",
        workflow="release.yml",
    )
    token = _publisher_token(index, spec, "pypi-attestations")
    dist = FIXTURES / "pypi_attestations-0.0.19.tar.gz"
    attestation = json.loads((FIXTURES / f"{dist.name}.publish.attestation").read_text())

    response = _upload(index, token, dist.read_bytes(), dist.name, [attestation])
    assert response.status_code == 200, response.text
    served = index.client.get(f"/integrity/pypi-attestations/0.0.19/{dist.name}/provenance")
    assert served.status_code == 200
    assert served.json()["attestation_bundles"][0]["attestations"] == [attestation]
