"""Real clients upload PEP 740 attestations: ``twine upload --attestations`` and ``uv publish``
(which picks up ``<dist>.publish.attestation`` next to the dist) with a trusted publisher's
token; the server verifies them against the private Sigstore test root and serves them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import pytest

from e2e.conftest import BIN, run
from stockade.config import Settings
from stockade.oidc.publishers import GitHubPublisherSpec
from support.attestations import attested_index, publisher_token
from support.builders import sdist_bytes, sdist_name, wheel_bytes, wheel_name
from support.sigstore_testroot import TestSigstore

NAME = "quillpod"
REPOSITORY = "octo/quillpod"
SPEC = GitHubPublisherSpec(
    owner="octo", owner_id="4242", repository="quillpod", workflow="release.yml"
)


def _dist(root: TestSigstore, folder: Path, filename: str, content: bytes) -> Path:
    """Write a dist and its ``.publish.attestation`` as a CI job would have them."""
    folder.mkdir(exist_ok=True)
    path = folder / filename
    path.write_bytes(content)
    digest = hashlib.sha256(content).hexdigest()
    attestation = root.attest(filename, digest, repository=REPOSITORY, workflow="release.yml")
    (folder / f"{filename}.publish.attestation").write_text(json.dumps(attestation))
    return path


def test_twine_and_uv_upload_attestations(settings: Settings, tmp_path: Path) -> None:
    root = TestSigstore.create(tmp_path / "sigstore")
    with attested_index(settings, root) as index:
        token = publisher_token(index, SPEC, NAME)
        wheel = _dist(root, tmp_path / "twine", wheel_name(NAME, "0.2"), wheel_bytes(NAME, "0.2"))
        sdist = _dist(root, tmp_path / "uv", sdist_name(NAME, "0.2"), sdist_bytes(NAME, "0.2"))
        with index.live() as url:
            run(
                [
                    str(BIN / "twine"),
                    "upload",
                    "--non-interactive",
                    "--disable-progress-bar",
                    "--attestations",
                    "--repository-url",
                    f"{url}/legacy/",
                    "-u",
                    "__token__",
                    "-p",
                    token,
                    str(wheel),
                    f"{wheel}.publish.attestation",
                ],
                timeout=300,
            )
            run(
                [
                    str(BIN / "uv"),
                    "publish",
                    "--publish-url",
                    f"{url}/legacy/",
                    "--token",
                    token,
                    *map(str, sorted((tmp_path / "uv").iterdir())),
                ],
                timeout=300,
            )
            page = httpx.get(
                f"{url}/simple/{NAME}/",
                headers={"Accept": "application/vnd.pypi.simple.v1+json"},
            ).json()
            links = {f["filename"]: f["provenance"] for f in page["files"]}
            for dist in (wheel, sdist):
                link = links[dist.name]
                # The live server has no base_url configured: the link stays relative to the
                # page (fully qualified links need base_url; see index.render.with_base_url).
                assert not index.settings.base_url
                path = f"/integrity/{NAME}/0.2/{dist.name}/provenance"
                assert link == f"../..{path}", dist.name
                served = httpx.get(httpx.URL(f"{url}/simple/{NAME}/").join(link))
                assert served.status_code == 200
                expected = json.loads(Path(f"{dist}.publish.attestation").read_text())
                assert served.json()["attestation_bundles"][0]["attestations"] == [expected]
            assert links[wheel_name(NAME, "0.1")] is None


@pytest.mark.parametrize("client", ["twine", "uv"])
def test_clients_show_the_refusal(settings: Settings, tmp_path: Path, client: str) -> None:
    """An attestation from another workflow: the client fails and shows why."""
    root = TestSigstore.create(tmp_path / "sigstore")
    with attested_index(settings, root) as index:
        token = publisher_token(index, SPEC, NAME)
        content, filename = wheel_bytes(NAME, "0.2"), wheel_name(NAME, "0.2")
        folder = tmp_path / "dist"
        folder.mkdir()
        (folder / filename).write_bytes(content)
        bad = root.attest(
            filename,
            hashlib.sha256(content).hexdigest(),
            repository=REPOSITORY,
            workflow="nightly.yml",
        )
        (folder / f"{filename}.publish.attestation").write_text(json.dumps(bad))
        files = [str(p) for p in sorted(folder.iterdir())]
        with index.live() as url:
            if client == "twine":
                args = [
                    str(BIN / "twine"),
                    "upload",
                    "--non-interactive",
                    "--disable-progress-bar",
                    "--attestations",
                    "--verbose",  # twine prints the reply's body (the reason) only then
                    "--repository-url",
                    f"{url}/legacy/",
                    "-u",
                    "__token__",
                    "-p",
                    token,
                ]
            else:
                args = [
                    str(BIN / "uv"),
                    "publish",
                    "--publish-url",
                    f"{url}/legacy/",
                    "--token",
                    token,
                ]
            proc = run([*args, *files], check=False, timeout=300)
        assert proc.returncode != 0
        output = proc.stdout + proc.stderr
        assert "Invalid attestations supplied during upload" in output, output
        assert "nightly.yml" in output, output
