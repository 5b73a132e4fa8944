"""Real pip and uv install through a live `stockade serve` mirroring two real upstreams: a
second live `stockade serve` (set with STOCKADE_UPSTREAM_URL) and a static PEP 691 tree (added
with `stockade mirror add`)."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from e2e.conftest import BIN, LiveServer, client_env, run, stockade_serve
from stockade.mirror.views import VIEW_MISS_RECHECK, VIEWS_TTL
from support.advisories import affecting, write
from support.backend import backend_overrides
from support.builders import metadata_text, wheel_bytes, wheel_name
from support.mirror_upstream import StaticUpstream
from support.servers import PostgresServer, SeaweedServer

pytestmark = pytest.mark.e2e

JSON = "application/vnd.pypi.simple.v1+json"


@dataclass
class Mirror:
    server: LiveServer
    static: StaticUpstream
    upstream: LiveServer


def _wheel(folder: Path, name: str, version: str, requires: str = "") -> Path:
    path = folder / wheel_name(name, version)
    extra = "".join(f"Requires-Dist: {r}\n" for r in requires.split(",") if r)
    path.write_bytes(wheel_bytes(name, version, metadata=metadata_text(name, version, extra=extra)))
    return path


@pytest.fixture(scope="module")
def mirror(
    live: LiveServer,
    tmp_path_factory: pytest.TempPathFactory,
    postgres: PostgresServer | None,
    seaweed: SeaweedServer | None,
) -> Iterator[Mirror]:
    """``live`` is the upstream (an app and its library, and a name the mirror keeps local);
    a second `stockade serve` mirrors it, and a static tree is added as a second upstream."""
    dists = tmp_path_factory.mktemp("dists")
    live.twine_upload(
        [
            _wheel(dists, "mirapp", "1.0", "mirlib>=1"),
            _wheel(dists, "mirlib", "1.0"),
            _wheel(dists, "mirlib", "1.1"),
            _wheel(dists, "corp-internal", "9.9"),
            _wheel(dists, "mirbad", "1.0"),
            _wheel(dists, "mirbad", "2.0"),
        ]
    )
    data = tmp_path_factory.mktemp("mirror")
    overrides, db_name = backend_overrides(postgres, seaweed)
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKADE_")}
    env.update({f"STOCKADE_{k.upper()}": v for k, v in overrides.items()})
    env.update(
        STOCKADE_ACCESS_LOG="1",
        STOCKADE_SCHEDULER="0",
        STOCKADE_UPSTREAM_URL=f"{live.url}/simple/",
    )
    try:
        with (
            StaticUpstream.start(data / "static-upstream") as static,
            stockade_serve(data, env, data / "server.log", "--workers", "2") as url,
        ):
            server = LiveServer(url, data, data / "server.log", env, "")
            server.stockade(
                "user",
                "create",
                "carol",
                "--email",
                "carol@example.test",
                "--password-stdin",
                stdin="correct horse battery\n",
            )
            server.token = server.stockade("token", "create", "carol").strip()
            static.add_project(
                "plainpkg", [(wheel_name("plainpkg", "2.0"), wheel_bytes("plainpkg", "2.0"))]
            )
            server.stockade("mirror", "add", "plain", static.url, "--ttl", "1")
            yield Mirror(server, static, live)
    finally:
        if postgres is not None:
            postgres.drop_database(db_name)


def _venv(path: Path) -> Path:
    run([sys.executable, "-m", "venv", "--without-pip", str(path)])
    return path / "bin" / "python"


def _pip_install(
    mirror: Mirror, tmp_path: Path, *requirements: str, view: str = ""
) -> dict[str, str]:
    """pip installs ``requirements`` from the mirror (or one of its views), downloading every
    file from it; returns what was installed."""
    base = f"{mirror.server.url}/views/{view}" if view else mirror.server.url
    python = _venv(tmp_path / "venv")
    report = tmp_path / "report.json"
    run(
        [
            str(BIN / "python"),
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--isolated",
            "--no-cache-dir",
            "--index-url",
            f"{base}/simple/",
            "--report",
            str(report),
            *requirements,
        ]
    )
    installed = {}
    for item in json.loads(report.read_text())["install"]:
        assert item["download_info"]["url"].startswith(base + "/packages/")
        installed[item["metadata"]["name"]] = item["metadata"]["version"]
    return installed


def test_pip_installs_a_dependency_chain_from_the_upstream_stockade(
    mirror: Mirror, tmp_path: Path
) -> None:
    assert _pip_install(mirror, tmp_path, "mirapp") == {"mirapp": "1.0", "mirlib": "1.1"}
    # The mirror's own /simple/ lists what it cached.
    root = httpx.get(f"{mirror.server.url}/simple/", headers={"accept": JSON}).json()
    assert {"mirapp", "mirlib"} <= {p["name"] for p in root["projects"]}


def _uv_install(
    mirror: Mirror, tmp_path: Path, *requirements: str, view: str = ""
) -> dict[str, str]:
    """uv installs ``requirements`` from the mirror (or one of its views); returns what is
    installed."""
    base = f"{mirror.server.url}/views/{view}" if view else mirror.server.url
    uv = str(BIN / "uv")
    venv = tmp_path / "uv-venv"
    run([uv, "venv", "--python", sys.executable, str(venv)])
    python = str(venv / "bin" / "python")
    run(
        [
            uv,
            "pip",
            "install",
            "--python",
            python,
            "--no-cache",
            "--index-url",
            f"{base}/simple/",
            *requirements,
        ],
        env=client_env(),
    )
    out = run([uv, "pip", "list", "--python", python, "--format", "json"]).stdout
    return {p["name"]: p["version"] for p in json.loads(out)}


def test_uv_installs_through_the_mirror(mirror: Mirror, tmp_path: Path) -> None:
    installed = _uv_install(mirror, tmp_path, "mirapp", "plainpkg")
    assert installed["mirapp"] == "1.0" and installed["plainpkg"] == "2.0"


def test_a_name_only_the_second_upstream_has_comes_from_it(mirror: Mirror, tmp_path: Path) -> None:
    assert _pip_install(mirror, tmp_path, "plainpkg") == {"plainpkg": "2.0"}
    assert mirror.static.gets(wheel_name("plainpkg", "2.0")) >= 1


def test_dependency_confusion_local_wins_and_uploads_over_upstream_names_are_refused(
    mirror: Mirror, tmp_path: Path
) -> None:
    # Ours first: the upstream's 9.9 never shows.
    local = _wheel(tmp_path, "corp-internal", "1.0")
    mirror.server.twine_upload([local])
    assert _pip_install(mirror, tmp_path, "corp-internal") == {"corp-internal": "1.0"}
    page = httpx.get(f"{mirror.server.url}/simple/corp-internal/", headers={"accept": JSON}).json()
    assert [f["filename"] for f in page["files"]] == [local.name]
    # A name the mirror serves from upstream takes no local upload.
    proc = mirror.server.twine_upload([_wheel(tmp_path, "mirlib", "5.0")], "--verbose", check=False)
    assert proc.returncode != 0
    output = " ".join((proc.stdout + proc.stderr).split())
    assert "400" in output and "already mirrored from the upstream index" in output, output


def test_a_stale_page_is_served_when_the_upstream_answers_500(
    mirror: Mirror, tmp_path: Path
) -> None:
    url = f"{mirror.server.url}/simple/plainpkg/"
    assert httpx.get(url).status_code == 200
    mirror.static.set_page_mode("plainpkg", "error")
    try:
        time.sleep(1.5)  # past the TTL of 1 s
        deadline = time.monotonic() + 20
        while "x-stockade-stale" not in httpx.get(url).headers:
            assert time.monotonic() < deadline, "the stale page was never marked"
            time.sleep(0.2)
        assert _pip_install(mirror, tmp_path, "plainpkg") == {"plainpkg": "2.0"}
    finally:
        mirror.static.set_page_mode("plainpkg", None)


def test_mirror_list_reports_the_upstreams(mirror: Mirror) -> None:
    rows = json.loads(mirror.server.stockade("mirror", "list", "--json"))
    assert [r["name"] for r in rows] == ["upstream", "plain"]
    assert rows[0]["from_settings"] is True and rows[0]["projects"] >= 2


def test_the_cooldown_holds_a_young_release_back_until_exempted(
    mirror: Mirror, tmp_path: Path
) -> None:
    with StaticUpstream.start(tmp_path / "cool") as cool:
        cool.add_project("coolpkg", [(wheel_name("coolpkg", "1.0"), wheel_bytes("coolpkg", "1.0"))])
        young = wheel_name("coolpkg", "2.0")
        cool.add_project(
            "coolpkg",
            [
                (wheel_name("coolpkg", "1.0"), wheel_bytes("coolpkg", "1.0")),
                (young, wheel_bytes("coolpkg", "2.0")),
            ],
        )
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        cool.edit_page("coolpkg", lambda doc: doc["files"][1].update({"upload-time": now}))
        mirror.server.stockade("mirror", "add", "cool", cool.url, "--cooldown-days", "3")
        try:
            assert _pip_install(mirror, tmp_path / "a", "coolpkg") == {"coolpkg": "1.0"}
            held = json.loads(mirror.server.stockade("mirror", "held", "--json"))
            assert [h["filename"] for h in held] == [young]
            mirror.server.stockade(
                "mirror", "cooldown-exempt", "coolpkg", "--version", "2.0", "--reason", "CVE fix"
            )
            # The servers see the change through the journal within their poll interval.
            deadline = time.monotonic() + 10
            url = f"{mirror.server.url}/simple/coolpkg/"
            while young not in httpx.get(url).text:
                assert time.monotonic() < deadline
                time.sleep(0.2)
            assert _pip_install(mirror, tmp_path / "b", "coolpkg") == {"coolpkg": "2.0"}
        finally:
            mirror.server.stockade("mirror", "remove", "cool")


def test_installs_keep_working_when_the_upstream_is_down(mirror: Mirror, tmp_path: Path) -> None:
    with StaticUpstream.start(tmp_path / "fragile") as fragile:
        fragile.add_project(
            "fragile", [(wheel_name("fragile", "1.0"), wheel_bytes("fragile", "1.0"))]
        )
        mirror.server.stockade("mirror", "add", "fragile", fragile.url, "--ttl", "1")
        assert _pip_install(mirror, tmp_path / "a", "fragile") == {"fragile": "1.0"}
    # The upstream is gone; its pages' TTL has passed: the cached page and file still serve.
    time.sleep(1.5)
    try:
        assert _pip_install(mirror, tmp_path / "b", "fragile") == {"fragile": "1.0"}
    finally:
        mirror.server.stockade("mirror", "remove", "fragile")


def test_upstream_yank_and_quarantine_are_followed(mirror: Mirror, tmp_path: Path) -> None:
    assert _pip_install(mirror, tmp_path / "a", "mirbad") == {"mirbad": "2.0"}
    mirror.upstream.stockade("release", "yank", "mirbad", "2.0", "--reason", "broken")
    mirror.server.stockade("mirror", "refresh", "mirbad")
    page = httpx.get(f"{mirror.server.url}/simple/mirbad/", headers={"accept": JSON}).json()
    yanked = {f["filename"]: f.get("yanked") for f in page["files"]}
    assert yanked[wheel_name("mirbad", "2.0")] == "broken"
    assert _pip_install(mirror, tmp_path / "b", "mirbad") == {"mirbad": "1.0"}
    # Quarantined upstream (malware): gone from the mirror in the same refresh.
    mirror.upstream.stockade("admin", "quarantine", "mirbad", "--reason", "malware")
    mirror.server.stockade("mirror", "refresh", "mirbad")
    python = _venv(tmp_path / "c")
    proc = run(
        [
            str(BIN / "python"),
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--isolated",
            "--no-cache-dir",
            "--index-url",
            f"{mirror.server.url}/simple/",
            "mirbad",
        ],
        check=False,
    )
    assert proc.returncode != 0
    assert "No matching distribution found for mirbad" in proc.stdout + proc.stderr
    assert wheel_name("mirbad", "1.0") not in httpx.get(f"{mirror.server.url}/simple/").text


def test_pip_resolves_to_the_newest_version_a_policy_view_lets_through(
    mirror: Mirror, tmp_path: Path
) -> None:
    mirror.server.stockade("view", "create", "stable", "--deny", "mirlib>=1.1")
    time.sleep(VIEW_MISS_RECHECK + 0.1)  # a worker that just read the views looks again
    installed = _pip_install(mirror, tmp_path, "mirapp", view="stable")
    assert installed == {"mirapp": "1.0", "mirlib": "1.0"}


def test_a_view_without_known_vulnerabilities_resolves_below_a_vulnerable_release(
    mirror: Mirror, tmp_path: Path
) -> None:
    """vulnlib 2.0, the newest upstream, is affected by an imported OSV advisory: through the
    view pip and uv resolve vulnapp's dependency to 1.1, and the public index still has 2.0."""
    dists = tmp_path / "dists"
    dists.mkdir()
    mirror.upstream.twine_upload(
        [
            _wheel(dists, "vulnapp", "1.0", "vulnlib>=1"),
            _wheel(dists, "vulnlib", "1.0"),
            _wheel(dists, "vulnlib", "1.1"),
            _wheel(dists, "vulnlib", "2.0"),
        ]
    )
    mirror.server.stockade("view", "create", "audited", "--no-known-vulns")
    # A worker that read the views less than a second ago looks again after that second.
    time.sleep(VIEW_MISS_RECHECK + 0.1)
    page = f"{mirror.server.url}/views/audited/simple/vulnlib/"
    newest = wheel_name("vulnlib", "2.0")
    assert newest in httpx.get(page).text  # nothing is known yet
    advisory = affecting("GHSA-vvvv-wwww-xxxx", "vulnlib", "2.0")
    mirror.server.stockade("advisories", "import", str(write(tmp_path / "osv", advisory)))
    # Every worker reads the advisories' stamp again within VIEWS_TTL of its next request.
    time.sleep(VIEWS_TTL + 0.5)
    assert newest not in httpx.get(page).text
    assert _pip_install(mirror, tmp_path / "pip", "vulnapp", view="audited") == {
        "vulnapp": "1.0",
        "vulnlib": "1.1",
    }
    installed = _uv_install(mirror, tmp_path / "uv", "vulnapp", view="audited")
    assert installed["vulnapp"] == "1.0" and installed["vulnlib"] == "1.1"
    # The JSON API under the view agrees; the index itself is unfiltered.
    doc = httpx.get(f"{mirror.server.url}/views/audited/pypi/vulnlib/json").json()
    assert list(doc["releases"]) == ["1.0", "1.1"] and doc["vulnerabilities"] == []
    assert _pip_install(mirror, tmp_path / "public", "vulnlib") == {"vulnlib": "2.0"}
