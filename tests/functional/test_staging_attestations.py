"""PEP 740 attestations in Upload 2.0 file upload sessions (PEP 694's ``attestations_url``):
verified as a legacy upload's are, kept with the staged file, published with it, and served
at /integrity/… once the release is published."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import httpx
import pytest

from stockade.config import Settings
from stockade.oidc.publishers import GitHubPublisherSpec
from support.attestations import attested_index, publisher_token
from support.builders import wheel_bytes, wheel_name
from support.index import Index
from support.sigstore_testroot import TestSigstore
from support.staging import open_session, post, publish

NAME = "quillpod"
REPOSITORY = "octo/quillpod"
SPEC = GitHubPublisherSpec(
    owner="octo", owner_id="4242", repository="quillpod", workflow="release.yml"
)
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"


@pytest.fixture(scope="module")
def sigstore_root(tmp_path_factory: pytest.TempPathFactory) -> TestSigstore:
    return TestSigstore.create(tmp_path_factory.mktemp("sigstore"))


@pytest.fixture
def attest_index(settings: Settings, sigstore_root: TestSigstore) -> Iterator[Index]:
    with attested_index(settings, sigstore_root) as idx:
        yield idx


def _attest(
    index: Index, url: str, token: str, body: object, media: str = "application/json"
) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return index.client.post(
        url, content=content, headers={"Content-Type": media}, auth=("__token__", token)
    )


def test_staged_attestations_are_verified_and_published_with_the_file(
    attest_index: Index, sigstore_root: TestSigstore
) -> None:
    index = attest_index
    token = publisher_token(index, SPEC, NAME)
    content, filename = wheel_bytes(NAME, "0.2"), wheel_name(NAME, "0.2")
    digest = hashlib.sha256(content).hexdigest()
    att = sigstore_root.attest(filename, digest, repository=REPOSITORY, workflow="release.yml")
    other = sigstore_root.attest(
        wheel_name(NAME, "0.3"), digest, repository=REPOSITORY, workflow="release.yml"
    )

    session = open_session(index, token, NAME, "0.2").json()
    declared = post(
        index,
        session["links"]["upload"],
        token,
        {
            "filename": filename,
            "size": len(content),
            "hashes": {"sha256": digest},
            "mechanism": "http-post-bytes",
        },
    )
    assert declared.status_code == 202, declared.text
    upload = declared.json()
    url = upload["mechanism"]["attestations_url"]

    # Refusals: not JSON, not an array, the wrong type, another file's attestation, and the
    # attestation of a token that is no trusted publisher's.
    assert _attest(index, url, token, b"[not json").status_code == 400
    assert _attest(index, url, token, {"version": 1}).status_code == 400
    assert _attest(index, url, token, [att], media="text/plain").status_code == 415
    wrong = _attest(index, url, token, [other])
    assert wrong.status_code == 400
    assert wrong.json()["errors"][0]["message"].startswith(
        "Invalid attestations supplied during upload:"
    )
    # Accepted before the bytes: the declared sha256 is what they attest.
    assert _attest(index, url, token, [att]).status_code == 204

    sent = index.client.post(
        upload["mechanism"]["file_url"],
        content=content,
        headers={"Content-Type": "application/octet-stream"},
        auth=("__token__", token),
    )
    assert sent.status_code == 204, sent.text
    assert post(index, upload["links"]["complete"], token, {}).status_code == 201
    # Completed: no more attestations for it.
    assert _attest(index, url, token, [att]).status_code == 409

    integrity = f"/integrity/{NAME}/0.2/{filename}/provenance"
    assert index.client.get(integrity).status_code == 404  # staged, not published
    assert publish(index, token, session).status_code == 201
    served = index.client.get(integrity)
    assert served.status_code == 200
    bundle = served.json()["attestation_bundles"][0]
    assert bundle["attestations"] == [att]
    assert bundle["publisher"]["repository"] == REPOSITORY
    page = index.client.get(f"/simple/{NAME}/", headers={"Accept": SIMPLE_JSON}).json()
    linked = {f["filename"]: f["provenance"] for f in page["files"]}
    assert linked[filename] is not None and linked[filename].endswith(integrity)


def test_staged_attestations_need_a_trusted_publisher(
    attest_index: Index, sigstore_root: TestSigstore
) -> None:
    index = attest_index
    owner = index.token("alice")
    content, filename = wheel_bytes(NAME, "0.1"), wheel_name(NAME, "0.1")
    digest = hashlib.sha256(content).hexdigest()
    att = sigstore_root.attest(filename, digest, repository=REPOSITORY, workflow="release.yml")
    session = open_session(index, owner, NAME, "0.1").json()
    upload = post(
        index,
        session["links"]["upload"],
        owner,
        {
            "filename": filename,
            "size": len(content),
            "hashes": {"sha256": digest},
            "mechanism": "http-post-bytes",
        },
    ).json()
    refused = _attest(index, upload["mechanism"]["attestations_url"], owner, [att])
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["message"] == (
        "Invalid attestations supplied during upload: "
        "Attestations are only supported when using Trusted Publishing"
    )
