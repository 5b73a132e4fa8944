"""`stockade import devpi`: a real devpi-server takes real files of the shared corpus through
twine, the real `devpi-export` writes its export, and stockade imports it: users (with the
passwords devpi kept), each stage index's files checked as uploads are (a file PyPI refuses
is refused with the upload's reason, a damaged one by its hash), devpi's upload times kept,
mirror indexes and documentation skipped with a note; a second run finds everything there;
pip installs from a live stockade. devpi-server lives in its own virtual environment
(``scripts/test-tools`` makes it)."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import io
import json
import re
import shutil
import subprocess
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from e2e.conftest import BIN, Instance, client_env, pip_install, run
from support.backend import CORPUS
from support.index import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DEVPI = Path(__file__).resolve().parents[2] / ".venv-tools" / "devpi" / "bin"
DISTS = CORPUS / "dists"
ALICE_PASSWORD = "alice's devpi password"
ALICE_FILES = ["six-1.16.0-py2.py3-none-any.whl", "entrypoints-0.2.3-py2.py3-none-any.whl"]
# bob/prod: six again (the same bytes: imported once), one that is damaged in the export after
# devpi-export wrote it, and (posted without twine, which checks it) a file PyPI refuses.
BOB_FILES = ["six-1.16.0-py2.py3-none-any.whl", "MarkupSafe-2.1.5.tar.gz"]
DAMAGED = "MarkupSafe-2.1.5.tar.gz"
INVALID = "bitarray-0.8.1.tar.gz"


def _devpi(tool: str) -> str:
    exe = DEVPI / tool
    if not exe.exists():
        pytest.fail(f"{exe} is missing: run scripts/test-tools (scripts/test does)")
    return str(exe)


@contextlib.contextmanager
def _devpi_server(serverdir: Path, log: Path) -> Iterator[str]:
    run([_devpi("devpi-init"), "--serverdir", str(serverdir), "--no-root-pypi"])
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [_devpi("devpi-server"), "--serverdir", str(serverdir), "--host", "127.0.0.1",
             "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/+api", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def _login(url: str, user: str, password: str) -> dict[str, str]:
    r = httpx.post(f"{url}/+login", json={"user": user, "password": password}, timeout=30)
    assert r.status_code == 200, r.text
    token = r.json()["result"]["password"]
    auth = base64.b64encode(f"{user}:{token}".encode()).decode()
    return {"X-Devpi-Auth": auth, "Accept": "application/json"}


def _fill_devpi(url: str, tmp_path: Path) -> None:
    """Users alice (with an email address) and bob (without), a stage index each, a mirror
    index, files uploaded by twine and a documentation zip."""
    for user, body in (
        ("alice", {"password": ALICE_PASSWORD, "email": "alice@example.test"}),
        ("bob", {"password": "bob's devpi password"}),
    ):
        r = httpx.put(f"{url}/{user}", json=body, timeout=30)
        assert r.status_code == 201, r.text
    alice = _login(url, "alice", ALICE_PASSWORD)
    bob = _login(url, "bob", "bob's devpi password")
    for index, headers, config in (
        ("alice/dev", alice, {"bases": []}),
        ("alice/cache", alice, {"type": "mirror", "mirror_url": "http://127.0.0.1:9/simple/"}),
        ("bob/prod", bob, {"bases": ["alice/dev"]}),
    ):
        r = httpx.put(f"{url}/{index}", json=config, headers=headers, timeout=30)
        assert r.status_code == 200, r.text
    for index, user, password, files in (
        ("alice/dev", "alice", ALICE_PASSWORD, ALICE_FILES),
        ("bob/prod", "bob", "bob's devpi password", BOB_FILES),
    ):
        run(
            [str(BIN / "twine"), "upload", "--non-interactive", "--disable-progress-bar",
             "--repository-url", f"{url}/{index}/", "-u", user, "-p", password,
             *(str(DISTS / f) for f in files)],
            env=client_env(),
        )  # fmt: skip
    r = httpx.post(
        f"{url}/bob/prod/",
        data={":action": "file_upload", "name": "bitarray", "version": "0.8.1"},
        files={"content": (INVALID, (DISTS / INVALID).read_bytes(), "application/gzip")},
        headers=bob,
        timeout=30,
    )
    assert r.status_code == 200, r.text
    docs = io.BytesIO()
    with zipfile.ZipFile(docs, "w") as z:
        z.writestr("index.html", "<html><body>six</body></html>")
    r = httpx.post(
        f"{url}/alice/dev/",
        data={":action": "doc_upload", "name": "six", "version": "1.16.0"},
        files={"content": ("six-1.16.0.doc.zip", docs.getvalue(), "application/zip")},
        headers=alice,
        timeout=30,
    )
    assert r.status_code == 200, r.text


def _import(instance: Instance, export: Path) -> subprocess.CompletedProcess[str]:
    return run(
        [str(BIN / "stockade"), "import", "devpi", str(export), "--data", str(instance.data)],
        env={**instance.env, "COLUMNS": "400"},
        check=False,
        timeout=600,
    )


def _logs_in(url: str, username: str, password: str) -> bool:
    with httpx.Client(base_url=url, timeout=30) as http:
        page = http.get("/account/login/")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        r = http.post(
            "/account/login/",
            data={"username": username, "password": password, "csrf_token": token[1]},
        )
        return r.status_code in (302, 303)


def test_a_devpi_export_moves_in_and_installs(make_instance, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    serverdir, export = tmp_path / "devpi-server", tmp_path / "export"
    with _devpi_server(serverdir, tmp_path / "devpi.log") as url:
        _fill_devpi(url, tmp_path)
    run([_devpi("devpi-export"), "--serverdir", str(serverdir), str(export)])
    dataindex = json.loads((export / "dataindex.json").read_text())
    six_entry = next(
        f
        for f in dataindex["indexes"]["alice/dev"]["files"]
        if f["relpath"].endswith(ALICE_FILES[0])
    )
    year, month, day, hour, minute, second = six_entry["log"][0]["when"]
    six_time = dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)
    damaged = next(export.glob(f"bob/prod/**/{DAMAGED}"))
    damaged.write_bytes(damaged.read_bytes() + b"\0")

    instance: Instance = make_instance("devpi")
    instance.stockade("db", "migrate")
    instance.stockade("user", "create", "admin", "--email", "admin@example.test", "--admin")
    first = _import(instance, export)
    out = first.stderr
    assert first.returncode == 1, out  # two files refused
    assert "users: 1 created, 0 already there, 2 not created" in out, out
    assert "user not created bob: no email address in the export" in out
    assert "index alice/cache skipped: a mirror index" in out
    assert "index alice/dev: 1 documentation zip(s) ignored" in out
    assert "index bob/prod: its bases (alice/dev) are not carried over" in out
    assert "six-1.16.0-py2.py3-none-any.whl of bob/prod is the same file as alice/dev's" in out
    assert "imported 2 file(s) into 2 project(s); 0 already there; 2 refused" in out, out
    refusals = {
        line.split(":", 1)[0].removeprefix("refused "): line
        for line in out.splitlines()
        if line.startswith("refused ")
    }
    assert "PKG-INFO" in refusals[INVALID]
    assert "changed or damaged" in refusals[DAMAGED]

    again = _import(instance, export)
    assert "users: 0 created, 1 already there, 2 not created" in again.stderr, again.stderr
    assert "imported 0 file(s) into 0 project(s); 2 already there; 2 refused" in again.stderr

    assert "six" in instance.stockade("user", "show", "alice")
    with instance.serve() as base:
        assert _logs_in(base, "alice", ALICE_PASSWORD)
        assert not _logs_in(base, "alice", "not her password")
        page = httpx.get(
            f"{base}/simple/six/",
            headers={"Accept": "application/vnd.pypi.simple.v1+json"},
            timeout=30,
        ).json()
        (wheel,) = page["files"]
        assert wheel["filename"] == ALICE_FILES[0]
        assert dt.datetime.fromisoformat(wheel["upload-time"].replace("Z", "+00:00")) == six_time
        expected = hashlib.sha256((DISTS / ALICE_FILES[0]).read_bytes()).hexdigest()
        assert wheel["hashes"]["sha256"] == expected
        target = tmp_path / "site"
        pip_install(base, target, "six==1.16.0", "entrypoints")
    assert (target / "six.py").exists()
    assert (target / "entrypoints.py").exists()
    shutil.rmtree(target)
