"""``stockade publish`` as a PEP 694 client, end to end against a live index: stage (and
resume staging), show, publish; and cancel."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from e2e.conftest import BIN, client_env
from support.builders import sdist_bytes, sdist_name, wheel_bytes, wheel_name
from support.index import Index

pytestmark = pytest.mark.e2e


def _publish(token: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "stockade"), "publish", *args],
        capture_output=True,
        text=True,
        env=client_env(STOCKADE_UPLOAD_TOKEN=token, COLUMNS="200"),
        timeout=120,
    )


def test_stage_resume_status_publish_and_cancel(index: Index, tmp_path: Path) -> None:
    token = index.token("alice")
    wheel = tmp_path / wheel_name("cli-demo", "1.0")
    wheel.write_bytes(wheel_bytes("cli-demo", "1.0"))
    sdist = tmp_path / sdist_name("cli-demo", "1.0")
    sdist.write_bytes(sdist_bytes("cli-demo", "1.0"))

    with index.live() as base:
        staged = _publish(token, "--stage", f"{base}/upload/", str(wheel))
        assert staged.returncode == 0, staged.stderr
        session_url, stage_url = staged.stdout.strip().splitlines()[-2:]
        assert stage_url.endswith("/simple/") and session_url.startswith(base)
        # Again with one more file: the open session is joined, the wheel not sent again.
        again = _publish(token, "--stage", f"{base}/upload/", str(wheel), str(sdist))
        assert again.returncode == 0, again.stderr
        assert "already staged" in again.stderr
        assert again.stdout.strip().splitlines()[-1] == stage_url

        shown = _publish(token, "--status", session_url)
        assert shown.stdout.startswith("open until ")
        assert f"{wheel.name}: completed" in shown.stdout
        assert f"{sdist.name}: completed" in shown.stdout
        # Not public before it is published.
        assert httpx.get(f"{base}/simple/cli-demo/").status_code == 404

        done = _publish(token, "--publish", session_url)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "published"
        page = httpx.get(f"{base}/simple/cli-demo/").text
        assert wheel.name in page and sdist.name in page

        # A second release, staged then canceled: nothing of it appears.
        wheel2 = tmp_path / wheel_name("cli-demo", "2.0")
        wheel2.write_bytes(wheel_bytes("cli-demo", "2.0"))
        staged2 = _publish(token, "--stage", f"{base}/upload/", str(wheel2))
        session2 = staged2.stdout.strip().splitlines()[-2]
        assert _publish(token, "--cancel", session2).stdout.strip() == "canceled"
        assert wheel2.name not in httpx.get(f"{base}/simple/cli-demo/").text
        refused = _publish("not-a-token", "--status", session2)
        assert refused.returncode == 1 and "403" in refused.stderr
