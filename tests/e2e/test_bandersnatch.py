"""Real bandersnatch mirrors a live stockade, and pip installs from the mirror it wrote.

Two releases: the current one (8.x, Python >= 3.12), which lists projects and their serials
from the simple root's JSON (``/simple`` first, without the slash) and fetches
``/pypi/<name>/json``, the files and their ``.metadata``; and 6.8, the last one that still
follows PyPI's XML-RPC (``list_packages_with_serial``, ``changelog_since_serial``). Both live in
their own virtual environments (``scripts/test-tools`` makes them). bandersnatch refuses a
master that is not ``https://``, so stockade serves TLS from a self-made CA, which bandersnatch
trusts through ``SSL_CERT_FILE``. A second run after a new upload checks incremental syncs.
"""

from __future__ import annotations

import contextlib
import hashlib
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from support.builders import metadata_text, sdist_bytes, sdist_name, wheel_bytes, wheel_name
from support.index import free_port, upload_fields
from support.tls import make_certificates

from .conftest import BIN, Instance, client_env, run, stockade_serve

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TOOLS = Path(__file__).resolve().parents[2] / ".venv-tools"
JSON = "application/vnd.pypi.simple.v1+json"


@dataclass
class TlsIndex:
    url: str
    ca: Path
    token: str
    verify: ssl.SSLContext
    log: Path

    def requests(self) -> list[str]:
        """``METHOD path`` of every request the server answered (from its access log)."""
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            for method in ("GET", "POST"):
                if f'"{method} ' in line:
                    path = line.split(f'"{method} ', 1)[1].split(" ", 1)[0]
                    found.append(f"{method} {path}")
        return found

    def upload(self, name: str, version: str, *, sdist: bool = False) -> None:
        meta = metadata_text(name, version, summary=f"{name} {version}")
        dists = [(wheel_name(name, version), wheel_bytes(name, version, metadata=meta))]
        if sdist:
            dists.append((sdist_name(name, version), sdist_bytes(name, version, pkg_info=meta)))
        for filename, content in dists:
            r = httpx.post(
                f"{self.url}/legacy/",
                data=upload_fields(content, filename),
                files={"content": (filename, content, "application/octet-stream")},
                auth=("__token__", self.token),
                verify=self.verify,
                timeout=60,
            )
            assert r.status_code == 200, r.text

    def root(self) -> dict[str, object]:
        r = httpx.get(f"{self.url}/simple/", headers={"Accept": JSON}, verify=self.verify)
        doc: dict[str, object] = r.json()
        return doc


@pytest.fixture
def tls_index(tmp_path: Path, make_instance: Callable[[str], Instance]) -> Iterator[TlsIndex]:
    """``stockade serve --workers 2`` over TLS (a self-made CA), with alice's token."""
    instance = make_instance("index")
    certificates = make_certificates(tmp_path / "tls")
    instance.env["STOCKADE_ACCESS_LOG"] = "1"
    token = instance.token()
    log = tmp_path / "server.log"
    verify = ssl.create_default_context(cafile=certificates.ca_file)
    tls = ("--tls-cert", str(certificates.cert_file), "--tls-key", str(certificates.key_file))
    with stockade_serve(
        instance.data, instance.env, log, "--workers", "2", *tls, scheme="https", verify=verify
    ) as url:
        yield TlsIndex(url, certificates.ca_file, token, verify, log)


def _bandersnatch(release: str) -> Path:
    exe = TOOLS / f"bandersnatch-{release}" / "bin" / "bandersnatch"
    if not exe.is_file():
        pytest.fail(f"{exe} is missing: run scripts/test-tools (scripts/test does)")
    return exe


def _mirror(exe: Path, index: TlsIndex, mirror: Path, *extra: str) -> None:
    config = mirror.parent / "bandersnatch.conf"
    config.write_text(
        "[mirror]\n"
        f"directory = {mirror}\n"
        f"master = {index.url}\n"
        "json = true\n"
        "release-files = true\n"
        "workers = 2\n"
        "timeout = 30\n"
        "global-timeout = 600\n"
        "stop-on-error = true\n"
        "hash-index = false\n"
        "simple-format = ALL\n"
        "compare-method = hash\n"
        "digest_name = sha256\n"
        "cleanup = false\n"
        "verifiers = 1\n"
        f"{''.join(line + chr(10) for line in extra)}"
        "\n[plugins]\nenabled =\n    allowlist_project\n"
        "\n[allowlist]\npackages =\n    moth-a\n    Moth.B\n    moth-d\n"
    )
    env = {k: v for k, v in client_env().items() if not k.startswith("SSL_")}
    env["SSL_CERT_FILE"] = str(index.ca)
    proc = subprocess.run(
        [str(exe), "-c", str(config), "mirror"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=mirror.parent,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr


@contextlib.contextmanager
def static_server(folder: Path) -> Iterator[str]:
    """The mirror's ``web`` folder served by the standard library's HTTP server on loopback."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(url + "/", timeout=2)
                break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _pip_install(mirror_url: str, target: Path, requirement: str, *, check: bool = True) -> str:
    proc = run(
        [
            str(BIN / "python"), "-m", "pip", "install", "--no-deps", "--no-compile",
            "--target", str(target), "--index-url", f"{mirror_url}/simple/", requirement,
        ],
        check=check,
    )  # fmt: skip
    return proc.stdout + proc.stderr


def _mirrored_files(web: Path) -> dict[str, str]:
    """The files under ``web/packages``: name -> sha256."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in (web / "packages").rglob("*")
        if p.is_file()
    }


def _served_sha256(index: TlsIndex, name: str) -> dict[str, str]:
    doc = httpx.get(f"{index.url}/pypi/{name}/json", verify=index.verify).json()
    return {
        f["filename"]: f["digests"]["sha256"] for files in doc["releases"].values() for f in files
    }


def _mirror_and_install(index: TlsIndex, tmp_path: Path, exe: Path, *extra: str) -> Path:
    index.upload("moth-a", "1.0", sdist=True)
    index.upload("Moth.B", "0.5")
    index.upload("moth-c", "1.0")  # not in the allowlist
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    _mirror(exe, index, mirror, *extra)
    web = mirror / "web"

    files = _mirrored_files(web)
    served = {**_served_sha256(index, "moth-a"), **_served_sha256(index, "moth-b")}
    # Every file of the allowed projects, byte for byte, and nothing of moth-c.
    assert {k: v for k, v in files.items() if not k.endswith(".metadata")} == served
    assert (web / "simple" / "moth-a" / "index.html").is_file()
    assert (web / "simple" / "moth-b" / "index.html").is_file()
    assert not (web / "simple" / "moth-c").exists()
    assert (web / "json" / "moth-a").is_file()

    with static_server(web) as url:
        target = tmp_path / "site"
        _pip_install(url, target, "moth-a")
        assert (target / "moth_a" / "__init__.py").read_text() == "__version__ = '1.0'\n"
        _pip_install(url, target, "moth-b==0.5")
        assert (target / "moth_b" / "__init__.py").is_file()
        refused = _pip_install(url, tmp_path / "none", "moth-c", check=False)
        assert "No matching distribution found for moth-c" in refused

        # A new release and a new project upstream: the next run fetches only what changed
        # (over XML-RPC, a changelog whose "create" entries have no version).
        index.upload("moth-a", "1.1")
        index.upload("moth-d", "2.0")
        _mirror(exe, index, mirror, *extra)
        files = _mirrored_files(web)
        assert wheel_name("moth-a", "1.1") in files
        assert (
            files[wheel_name("moth-d", "2.0")]
            == _served_sha256(index, "moth-d")[wheel_name("moth-d", "2.0")]
        )
        _pip_install(url, tmp_path / "newer", "moth-a")
        assert (tmp_path / "newer" / "moth_a" / "__init__.py").read_text() == (
            "__version__ = '1.1'\n"
        )
    # The mirror's serial is the index's: nothing is left to sync.
    meta = index.root()["meta"]
    assert isinstance(meta, dict)
    assert int((mirror / "status").read_text()) == meta["_last-serial"]
    return web


def test_bandersnatch_mirrors_over_the_simple_api(tls_index: TlsIndex, tmp_path: Path) -> None:
    web = _mirror_and_install(tls_index, tmp_path, _bandersnatch("8"))
    asked = tls_index.requests()
    # The root without its slash, then the JSON API; never XML-RPC.
    assert "GET /simple" in asked and "GET /simple/" in asked
    assert "GET /pypi/moth-a/json" in asked
    assert not any(r.startswith("POST /pypi") for r in asked)
    # PEP 658: the wheel's metadata came along, as the JSON API announced it.
    wheel = next((web / "packages").rglob(wheel_name("moth-a", "1.0")))
    sidecar = wheel.with_name(wheel.name + ".metadata")
    assert sidecar.read_text().startswith("Metadata-Version: 2.1\nName: moth-a\n")
    page = (web / "simple" / "moth-a" / "index.v1_json").read_text()
    assert hashlib.sha256(sidecar.read_bytes()).hexdigest() in page


def test_bandersnatch_mirrors_over_xmlrpc(tls_index: TlsIndex, tmp_path: Path) -> None:
    _mirror_and_install(tls_index, tmp_path, _bandersnatch("6"), "api-method = xmlrpc")
    asked = tls_index.requests()
    # list_packages_with_serial on the first run, changelog_since_serial on the second.
    assert asked.count("POST /pypi") == 2
    assert "GET /simple" not in asked
