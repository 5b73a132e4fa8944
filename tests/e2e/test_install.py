"""Real pip and real uv install `requests` and `flask` from the index, and nothing else."""

from __future__ import annotations

import csv
import json
import shutil
import sys
from pathlib import Path
from typing import Any, cast

import pytest

from e2e.conftest import BIN, LiveServer, run
from support.backend import CORPUS

pytestmark = pytest.mark.e2e

ROWS = list(csv.DictReader((CORPUS / "MANIFEST.tsv").open(encoding="utf-8"), delimiter="\t"))
DEPSET = [r for r in ROWS if r["notes"].startswith("depset py311-linux")]
EXPECTED = {r["normalized_name"]: r["version"] for r in DEPSET}


@pytest.fixture(scope="module")
def loaded(live: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> LiveServer:
    # The dependency set plus the yanked requests 2.32.0 (yanked below: it must not be chosen).
    files = [CORPUS / "dists" / r["filename"] for r in DEPSET]
    files.append(CORPUS / "dists" / "requests-2.32.0-py3-none-any.whl")
    live.twine_upload(files)
    return live


def _venv(path: Path) -> Path:
    run([sys.executable, "-m", "venv", "--without-pip", str(path)])
    return path / "bin" / "python"


def pip(python: Path) -> list[str]:
    """This run's (current) pip, installing into the venv of ``python``."""
    return [str(BIN / "python"), "-m", "pip", "--python", str(python)]


def _installed(python: Path) -> dict[str, str]:
    out = run([*pip(python), "list", "--format", "json"]).stdout
    from packaging.utils import canonicalize_name

    return {canonicalize_name(p["name"]): p["version"] for p in json.loads(out)}


def _hashed_requirements(folder: Path) -> Path:
    req = folder / "requirements.txt"
    req.write_text(
        "".join(
            f"{r['normalized_name']}=={r['version']} --hash=sha256:{r['sha256']}\n" for r in DEPSET
        )
    )
    return req


def _assert_expected(installed: dict[str, str]) -> None:
    for name, version in EXPECTED.items():
        assert installed.get(name) == version, (name, installed)


def _assert_only_from_index(live: LiveServer, report: dict[str, object] | None) -> None:
    fetched = [p for p in live.requested_paths() if p.startswith("/packages/")]
    for name in EXPECTED:
        row = next(r for r in DEPSET if r["normalized_name"] == name)
        assert any(p.endswith("/" + row["filename"]) for p in fetched), (
            f"{row['filename']} was not downloaded from the index under test"
        )
    if report is not None:
        for item in cast(list[dict[str, Any]], report["install"]):
            url = item["download_info"]["url"]
            assert url.startswith(live.url + "/packages/"), url


@pytest.mark.parametrize("require_hashes", [False, True], ids=["plain", "require-hashes"])
def test_pip_installs_requests_and_flask(
    loaded: LiveServer, tmp_path: Path, require_hashes: bool
) -> None:
    python = _venv(tmp_path / "venv")
    args = [
        *pip(python),
        "install",
        "--isolated",
        "--no-cache-dir",
        "--index-url",
        f"{loaded.url}/simple/",
        "--report",
        str(tmp_path / "report.json"),
    ]
    if require_hashes:
        args += ["--require-hashes", "-r", str(_hashed_requirements(tmp_path))]
    else:
        args += ["requests", "flask"]
    run(args)
    installed = _installed(python)
    _assert_expected(installed)
    report = json.loads((tmp_path / "report.json").read_text())
    _assert_only_from_index(loaded, report)


@pytest.mark.parametrize("require_hashes", [False, True], ids=["plain", "require-hashes"])
def test_uv_installs_requests_and_flask(
    loaded: LiveServer, tmp_path: Path, require_hashes: bool
) -> None:
    uv = str(BIN / "uv")
    venv = tmp_path / "venv"
    run([uv, "venv", "--python", sys.executable, str(venv)])
    args = [
        uv,
        "pip",
        "install",
        "--python",
        str(venv / "bin" / "python"),
        "--no-cache",
        "--index-url",
        f"{loaded.url}/simple/",
    ]
    if require_hashes:
        args += ["--require-hashes", "-r", str(_hashed_requirements(tmp_path))]
    else:
        args += ["requests", "flask"]
    run(args)
    out = run(
        [uv, "pip", "list", "--python", str(venv / "bin" / "python"), "--format", "json"]
    ).stdout
    installed = {p["name"].lower().replace("_", "-"): p["version"] for p in json.loads(out)}
    _assert_expected(installed)
    _assert_only_from_index(loaded, None)


def test_pip_reads_metadata_without_downloading_wheels(loaded: LiveServer, tmp_path: Path) -> None:
    """PEP 658: resolution uses the .metadata sidecars only."""
    python = _venv(tmp_path / "venv")
    before = len(loaded.requested_paths())
    run(
        [
            *pip(python),
            "install",
            "--isolated",
            "--dry-run",
            "--ignore-installed",
            "--quiet",
            "--report",
            str(tmp_path / "r.json"),
            "--index-url",
            f"{loaded.url}/simple/",
            "flask",
        ]
    )
    new = loaded.requested_paths()[before:]
    packages = [p for p in new if p.startswith("/packages/")]
    assert packages and all(p.endswith(".metadata") for p in packages), packages


def test_yanked_release_is_skipped_unless_pinned(loaded: LiveServer, tmp_path: Path) -> None:
    shutil.rmtree(tmp_path / "x", ignore_errors=True)
    loaded_db_yank(loaded, "requests", "2.32.3")
    try:
        python = _venv(tmp_path / "venv")
        run(
            [
                *pip(python),
                "install",
                "--isolated",
                "--no-cache-dir",
                "--no-deps",
                "--index-url",
                f"{loaded.url}/simple/",
                "requests",
            ]
        )
        assert _installed(python)["requests"] == "2.32.0"
    finally:
        loaded_db_yank(loaded, "requests", "2.32.3", yank=False)
    loaded_db_yank(loaded, "requests", "2.32.0")
    python2 = _venv(tmp_path / "venv2")
    run(
        [
            *pip(python2),
            "install",
            "--isolated",
            "--no-cache-dir",
            "--no-deps",
            "--index-url",
            f"{loaded.url}/simple/",
            "requests==2.32.0",
        ]
    )
    assert _installed(python2)["requests"] == "2.32.0"


def loaded_db_yank(live: LiveServer, project: str, version: str, *, yank: bool = True) -> None:
    """Yank through the service layer (the yank UI and API arrive with the lifecycle work)."""
    import time

    from sqlalchemy import select

    from stockade.config import load_settings
    from stockade.db import Database
    from stockade.index.models import Project, Release
    from stockade.index.state import journal, rerender

    env = {k: v for k, v in live.env.items() if k.startswith("STOCKADE_")}
    settings = load_settings(live.data, environ=env)
    db = Database(settings.database_url)
    with db.write() as s:
        p = s.scalar(select(Project).where(Project.normalized_name == project))
        assert p is not None
        r = s.scalar(select(Release).where(Release.project_id == p.id, Release.version == version))
        assert r is not None
        r.yanked, r.yanked_reason = yank, "test" if yank else None
        journal(s, p, "yank release" if yank else "unyank release", version=version, user_id=None)
        rerender(s, p)
    db.dispose()
    time.sleep(1.2)  # every worker notices within its poll interval
