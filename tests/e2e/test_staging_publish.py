"""A staged release end to end over real HTTP, driven by a client written from PEP 694:
files declared and sent by ``http-post-bytes``, invisible to the public index until the session
is published, installable by real pip from the session's stage URL, and published all at once
while a reader polls the project's page."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from e2e.conftest import BIN, client_env, run
from support.builders import sdist_bytes, sdist_name, wheel_bytes, wheel_name
from support.index import Index

pytestmark = pytest.mark.e2e

V2 = "application/vnd.pypi.upload.v2+json"
META = {"api-version": "2.0"}


class Pep694:
    """The client side of the protocol, from the PEP: every URL is discovered from responses."""

    def __init__(self, root: str, token: str) -> None:
        self.root = root
        self.auth = ("__token__", token)

    def post(self, url: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(url, json=body, headers={"Content-Type": V2}, auth=self.auth, timeout=60)

    def open(self, name: str, version: str) -> dict[str, Any]:
        created = self.post(self.root, {"meta": META, "name": name, "version": version})
        assert created.status_code == 201, created.text
        session: dict[str, Any] = created.json()
        return session

    def declare(self, session: dict[str, Any], filename: str, data: bytes) -> httpx.Response:
        return self.post(
            session["links"]["upload"],
            {
                "meta": META,
                "filename": filename,
                "size": len(data),
                "hashes": {"sha256": hashlib.sha256(data).hexdigest()},
                "mechanism": "http-post-bytes",
            },
        )

    def send(self, upload: dict[str, Any], data: bytes) -> httpx.Response:
        assert upload["mechanism"]["identifier"] == "http-post-bytes"
        return httpx.post(
            upload["mechanism"]["file_url"],
            content=data,
            headers={"Content-Type": "application/octet-stream"},
            auth=self.auth,
            timeout=60,
        )

    def upload(self, session: dict[str, Any], filename: str, data: bytes) -> dict[str, Any]:
        declared = self.declare(session, filename, data)
        assert declared.status_code == 202, declared.text
        assert "retry-after" in declared.headers
        upload: dict[str, Any] = declared.json()
        assert upload["status"] == "pending"
        sent = self.send(upload, data)
        assert sent.status_code < 300, sent.text
        done = self.post(upload["links"]["complete"], {"meta": META})
        assert done.status_code == 201, done.text
        assert done.json()["status"] == "completed"
        return upload


def _filenames(page: str, prefix: str) -> set[str]:
    return {part.split("<")[0] for part in page.split(">") if part.startswith(prefix)}


def test_stage_preview_install_and_atomic_publish(index: Index, tmp_path: Path) -> None:
    owner = index.token("alice")
    old = wheel_bytes("demo", "1.0")
    assert index.upload(old, wheel_name("demo", "1.0"), token=owner).status_code == 200
    wheels = {
        wheel_name("demo", "2.0", tag): wheel_bytes("demo", "2.0", tag=tag)
        for tag in ("py3-none-any", "py2.py3-none-any")
    }
    sdist = {sdist_name("demo", "2.0"): sdist_bytes("demo", "2.0")}
    release = {**wheels, **sdist}

    with index.live() as base:
        client = Pep694(f"{base}/upload/", owner)
        session = client.open("demo", "2.0")
        links = session["links"]

        # Refusals a client can cause: a wrong mechanism, another release's or project's
        # file, bytes that differ from the declaration.
        name, data = next(iter(wheels.items()))
        bad = client.post(
            links["upload"],
            {
                "meta": META,
                "filename": name,
                "size": len(data),
                "hashes": {"sha256": hashlib.sha256(data).hexdigest()},
                "mechanism": "vnd-nowhere-carrier-pigeon",
            },
        )
        assert bad.status_code == 422
        # Another version's file (published, even) is not part of this release.
        assert client.declare(session, wheel_name("demo", "1.0"), old).status_code == 400
        assert client.declare(session, wheel_name("other", "2.0"), data).status_code == 400
        upload = client.declare(session, name, data).json()
        assert client.declare(session, name, data).status_code == 409  # still in progress
        assert client.send(upload, data[:-1] + b"X").status_code == 400
        assert client.send(upload, data + b"X").status_code == 400
        gone = httpx.delete(upload["links"]["file-upload-session"], auth=client.auth)
        assert gone.status_code == 204
        status = httpx.get(upload["links"]["file-upload-session"], auth=client.auth)
        assert status.json()["status"] == "canceled"

        for filename, content in release.items():
            client.upload(session, filename, content)
        files = httpx.get(links["session"], auth=client.auth).json()["files"]
        assert {f: v["status"] for f, v in files.items()} == dict.fromkeys(release, "completed")

        # Staged: nowhere in the public index, its pages, JSON API or downloads.
        page = httpx.get(f"{base}/simple/demo/").text
        assert _filenames(page, "demo") == {wheel_name("demo", "1.0")}
        assert httpx.get(f"{base}/pypi/demo/2.0/json").status_code == 404
        sha = hashlib.sha256(data).hexdigest()
        public = f"{base}/packages/{sha[:2]}/{sha[2:4]}/{sha[4:]}/{name}"
        assert httpx.get(public).status_code == 404

        # The preview is an index: real pip installs exactly the staged release from it.
        stage = links["stage"]
        preview = httpx.get(f"{stage}demo/")
        assert preview.status_code == 200
        assert _filenames(preview.text, "demo") == {wheel_name("demo", "1.0"), *release}
        target = tmp_path / "site"
        run(
            [
                str(BIN / "python"),
                "-m",
                "pip",
                "install",
                "--no-deps",
                "--only-binary",
                ":all:",
                "--target",
                str(target),
                "--index-url",
                stage,
                "demo==2.0",
            ],
            env=client_env(),
        )
        assert "__version__ = '2.0'" in (target / "demo" / "__init__.py").read_text()

        # Publish while a reader polls the public page: it sees none of 2.0 or all of it.
        seen: list[int] = []
        stop = threading.Event()

        def poll() -> None:
            with httpx.Client() as reader:
                while not stop.is_set():
                    names = _filenames(reader.get(f"{base}/simple/demo/").text, "demo")
                    seen.append(len(names & release.keys()))

        reader = threading.Thread(target=poll)
        reader.start()
        published = client.post(links["publish"], {"meta": META})
        for _ in range(20):  # a few more reads after the publish
            if len(seen) > 5 and seen[-1] == len(release):
                break
            threading.Event().wait(0.05)
        stop.set()
        reader.join(timeout=30)
        assert published.status_code == 201, published.text
        assert published.headers["location"] == links["session"]
        assert published.json()["status"] == "published"
        assert set(seen) <= {0, len(release)} and seen[-1] == len(release)

        page = httpx.get(f"{base}/simple/demo/").text
        assert _filenames(page, "demo") == {wheel_name("demo", "1.0"), *release}
        assert httpx.get(f"{base}/pypi/demo/2.0/json").status_code == 200
        assert httpx.get(public).status_code == 200
        assert httpx.get(f"{stage}demo/").status_code == 404  # the preview ends with the session
        # Published: the release is free for a new session (more wheels), but its files are not.
        later = client.open("demo", "2.0")
        assert client.declare(later, name, data).status_code == 409
