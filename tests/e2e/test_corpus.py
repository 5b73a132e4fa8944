"""Every real file in the shared corpus, sent by real twine (or `uv publish` where twine itself
refuses a valid old file before sending it), then read back through the JSON and simple APIs."""

from __future__ import annotations

import csv
import hashlib
import shutil
from pathlib import Path

import httpx
import pytest

from e2e.conftest import BIN, LiveServer, run
from support.backend import CORPUS

pytestmark = pytest.mark.e2e

DISTS = CORPUS / "dists"
MANIFEST = {
    row["filename"]: row
    for row in csv.DictReader((CORPUS / "MANIFEST.tsv").open(encoding="utf-8"), delimiter="\t")
}

# PyPI refuses these today: .zip/.tar.bz2 sdists, non-PEP 440 versions, no PKG-INFO.
LEGACY = {
    "simplegeneric-0.8.1.zip": "Invalid file extension",
    "pyreadline-2.1.zip": "Invalid file extension",
    "pytz-2013d.zip": "Invalid file extension",
    "pytz-2013d.tar.bz2": "Invalid file extension",
    "bitarray-0.8.1.tar.gz": "PKG-INFO",
}
MODERN = sorted(set(MANIFEST) - set(LEGACY))


def _twine_refuses_locally(filename: str) -> bool:
    row = MANIFEST[filename]
    # twine 7 refuses Metadata-Version 2.0 wheels and classifiers in 1.0 PKG-INFO itself.
    return row["metadata_version"] in ("1.0", "2.0")


@pytest.fixture(scope="module")
def published(live: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> LiveServer:
    by_twine = [f for f in MODERN if not _twine_refuses_locally(f)]
    by_uv = [f for f in MODERN if _twine_refuses_locally(f)]
    live.twine_upload([DISTS / f for f in by_twine])
    staging = tmp_path_factory.mktemp("uv-publish")
    for f in by_uv:
        shutil.copy(DISTS / f, staging / f)
    run(
        [
            str(BIN / "uv"),
            "publish",
            "--publish-url",
            f"{live.url}/legacy/",
            "--token",
            live.token,
            *[str(staging / f) for f in by_uv],
        ],
        timeout=600,
    )
    return live


@pytest.mark.parametrize("filename", MODERN)
def test_modern_file_is_accepted_with_its_metadata(published: LiveServer, filename: str) -> None:
    row = MANIFEST[filename]
    r = httpx.get(f"{published.url}/pypi/{row['normalized_name']}/{row['version']}/json")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["info"]["name"] == row["project"]
    assert doc["info"]["version"] == row["version"]
    (entry,) = [u for u in doc["urls"] if u["filename"] == filename]
    assert entry["digests"]["sha256"] == row["sha256"]
    assert entry["size"] == int(row["size"])
    assert entry["packagetype"] == ("bdist_wheel" if row["kind"] == "wheel" else "sdist")
    body = httpx.get(entry["url"]).content
    assert hashlib.sha256(body).hexdigest() == row["sha256"]
    page = httpx.get(
        f"{published.url}/simple/{row['normalized_name']}/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
    ).json()
    (simple,) = [f for f in page["files"] if f["filename"] == filename]
    if row["kind"] == "wheel":
        meta_url = httpx.URL(f"{published.url}/simple/{row['normalized_name']}/").join(
            simple["url"] + ".metadata"
        )
        meta = httpx.get(meta_url).content
        assert hashlib.sha256(meta).hexdigest() == simple["core-metadata"]["sha256"]
        assert f"Metadata-Version: {row['metadata_version']}".encode() in meta


def test_metadata_versions_are_all_covered(published: LiveServer) -> None:
    versions = {MANIFEST[f]["metadata_version"] for f in MODERN}
    assert {"1.0", "1.1", "1.2", "2.0", "2.1", "2.2", "2.3", "2.4"} <= versions


@pytest.mark.parametrize("filename", sorted(LEGACY))
def test_legacy_file_is_refused_with_a_clear_400(
    published: LiveServer, filename: str, tmp_path: Path
) -> None:
    proc = published.twine_upload([DISTS / filename], "--verbose", check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    if "400" not in output:
        # twine refused the file itself before sending it: send it as twine would have.
        data = (DISTS / filename).read_bytes()
        r = httpx.post(
            f"{published.url}/legacy/",
            auth=("__token__", published.token),
            data={
                ":action": "file_upload",
                "protocol_version": "1",
                "sha256_digest": hashlib.sha256(data).hexdigest(),
            },
            files={"content": (filename, data)},
            timeout=60,
        )
        assert r.status_code == 400, r.text
        output = r.text
    assert LEGACY[filename] in output, output
    name = MANIFEST[filename]["normalized_name"]
    versions = httpx.get(f"{published.url}/pypi/{name}/json").json()
    assert MANIFEST[filename]["version"] not in versions.get("releases", {})


def test_twine_skip_existing_and_reupload(published: LiveServer) -> None:
    wheel = DISTS / "six-1.16.0-py2.py3-none-any.whl"
    again = published.twine_upload([wheel])
    assert again.returncode == 0


def test_uv_publish_check_url_skips_existing(published: LiveServer) -> None:
    proc = run(
        [
            str(BIN / "uv"),
            "publish",
            "--publish-url",
            f"{published.url}/legacy/",
            "--check-url",
            f"{published.url}/simple/",
            "--token",
            published.token,
            str(DISTS / "six-1.16.0-py2.py3-none-any.whl"),
        ]
    )
    assert "already exists" in proc.stderr + proc.stdout
