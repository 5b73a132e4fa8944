"""Real pip and uv against a live server: a yanked release (yanked with `stockade release yank`)
is skipped unless pinned, and a pinned install gets it with a warning.

``pip_install`` and ``uv_install`` install into a fresh target folder with no configuration from
this machine; other lifecycle tests (quarantine) can use them."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from e2e.conftest import BIN, LiveServer, client_env, run
from support.builders import wheel_bytes, wheel_name
from support.index import upload_fields

pytestmark = pytest.mark.e2e


def upload_wheel(live: LiveServer, name: str, version: str) -> None:
    """POST one small wheel to the live server's /legacy/ as twine would."""
    content, filename = wheel_bytes(name, version), wheel_name(name, version)
    r = httpx.post(
        f"{live.url}/legacy/",
        data=upload_fields(content, filename),
        files={"content": (filename, content, "application/octet-stream")},
        auth=("__token__", live.token),
        timeout=60,
    )
    assert r.status_code == 200, r.text


def pip_install(
    live: LiveServer, target: Path, *specs: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """``pip install --target`` from the live index only, no cache, no dependencies."""
    return run(
        [
            str(BIN / "python"),
            "-m",
            "pip",
            "install",
            "--isolated",
            "--no-cache-dir",
            "--no-deps",
            "--target",
            str(target),
            "--index-url",
            f"{live.url}/simple/",
            *specs,
        ],
        check=check,
    )


def uv_install(
    live: LiveServer, target: Path, *specs: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """``uv pip install --target`` from the live index only, no cache, no dependencies."""
    return run(
        [
            str(BIN / "uv"),
            "pip",
            "install",
            "--python",
            sys.executable,
            "--no-cache",
            "--no-deps",
            "--target",
            str(target),
            "--index-url",
            f"{live.url}/simple/",
            *specs,
        ],
        check=check,
        env=client_env(),
    )


def installed_version(target: Path, name: str) -> str:
    """The version of ``name`` in a --target folder (from its .dist-info folder name)."""
    found = [p.name for p in target.glob(f"{name}-*.dist-info")]
    assert len(found) == 1, found
    return found[0][len(name) + 1 : -len(".dist-info")]


def wait_for_workers(live: LiveServer) -> None:
    """Every worker applies journal changes within its poll interval (0.25 s)."""
    time.sleep(1.2)


def test_yanked_release_is_skipped_unless_pinned(live: LiveServer, tmp_path: Path) -> None:
    upload_wheel(live, "lcdemo", "1.0")
    upload_wheel(live, "lcdemo", "2.0")
    live.stockade("release", "yank", "lcdemo", "2.0", "--reason", "broken build")
    wait_for_workers(live)

    pip_install(live, tmp_path / "pip-latest", "lcdemo")
    assert installed_version(tmp_path / "pip-latest", "lcdemo") == "1.0"
    pinned = pip_install(live, tmp_path / "pip-pinned", "lcdemo==2.0")
    assert installed_version(tmp_path / "pip-pinned", "lcdemo") == "2.0"
    assert "yanked" in pinned.stderr and "broken build" in pinned.stderr

    uv_install(live, tmp_path / "uv-latest", "lcdemo")
    assert installed_version(tmp_path / "uv-latest", "lcdemo") == "1.0"
    pinned = uv_install(live, tmp_path / "uv-pinned", "lcdemo==2.0")
    assert installed_version(tmp_path / "uv-pinned", "lcdemo") == "2.0"
    assert "yanked" in pinned.stderr and "broken build" in pinned.stderr
