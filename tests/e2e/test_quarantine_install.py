"""Real pip and uv against the live two-worker server: a project installs, an administrator
quarantines it from the command line, both workers hide it within a second, and then neither
installer can install it at all, not even pinned."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import httpx
import pytest

from e2e.conftest import BIN, LiveServer, run
from support.builders import wheel_bytes, wheel_name
from support.index import upload_fields

pytestmark = pytest.mark.e2e

NAME = "quarantest"
JSON = "application/vnd.pypi.simple.v1+json"


def _pip_dry_run(live: LiveServer, requirement: str) -> tuple[int, str]:
    proc = run(
        [
            str(BIN / "python"),
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--ignore-installed",
            "--no-cache-dir",
            "--index-url",
            f"{live.url}/simple/",
            requirement,
        ],
        check=False,
        timeout=120,
    )
    return proc.returncode, proc.stdout + proc.stderr


def _all_workers_hide(live: LiveServer, file_url: str) -> bool:
    # Several requests, so that both workers answer at least once (no sticky connections).
    for _ in range(6):
        with httpx.Client(timeout=5) as client:
            page = client.get(f"{live.url}/simple/{NAME}/", headers={"Accept": JSON}).json()
            root = client.get(f"{live.url}/simple/").text
            file_status = client.get(file_url).status_code
            detail = client.get(f"{live.url}/project/{NAME}/").status_code
        if page["files"] or f">{NAME}<" in root or file_status != 404 or detail != 404:
            return False
    return True


def test_a_quarantined_project_cannot_be_installed(live: LiveServer, tmp_path: Path) -> None:
    content = wheel_bytes(NAME, "1.0")
    filename = wheel_name(NAME, "1.0")
    r = httpx.post(
        f"{live.url}/legacy/",
        data=upload_fields(content, filename),
        files={"content": (filename, content, "application/octet-stream")},
        auth=("__token__", live.token),
        timeout=30,
    )
    assert r.status_code == 200, r.text
    code, out = _pip_dry_run(live, NAME)
    assert code == 0, out
    assert f"Would install {NAME}-1.0" in out
    page = httpx.get(f"{live.url}/simple/{NAME}/", headers={"Accept": JSON}).json()
    file_url = httpx.URL(f"{live.url}/simple/{NAME}/").join(page["files"][0]["url"])
    assert httpx.get(file_url).status_code == 200
    # The project page in every worker before the clock starts: a worker imports the pages'
    # modules on its first page request, which is not what this test times.
    for _ in range(6):
        with httpx.Client(timeout=5) as client:
            assert client.get(f"{live.url}/project/{NAME}/").status_code == 200

    live.stockade("admin", "quarantine", NAME, "--reason", "credential stealer")
    start = time.monotonic()
    while not _all_workers_hide(live, str(file_url)):
        assert time.monotonic() - start < 3, "still visible 3 s after the quarantine"
        time.sleep(0.05)
    elapsed = time.monotonic() - start
    assert elapsed < 1.0, f"hidden only after {elapsed:.2f}s"

    code, out = _pip_dry_run(live, f"{NAME}==1.0")
    assert code != 0
    assert f"No matching distribution found for {NAME}==1.0" in out

    uv = str(BIN / "uv")
    venv = tmp_path / "venv"
    run([uv, "venv", "--python", sys.executable, str(venv)])
    proc = run(
        [
            uv,
            "pip",
            "install",
            "--python",
            str(venv / "bin" / "python"),
            "--no-cache",
            "--index-url",
            f"{live.url}/simple/",
            NAME,
        ],
        check=False,
        timeout=120,
    )
    assert proc.returncode != 0
    assert f"Because there are no versions of {NAME}" in proc.stderr, proc.stderr
    assert not list((venv / "lib").glob(f"python*/site-packages/{NAME}*"))
