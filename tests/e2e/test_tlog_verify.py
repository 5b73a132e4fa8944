"""`stockade verify` against a live server (two workers) after real twine uploads: files and a
requirements file verify, a changed file does not. (A deleted file, a wrong key and a rewritten
log are refused in tests/functional/test_tlog.py, without a server.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from e2e.conftest import BIN, LiveServer, run
from support.builders import wheel_bytes, wheel_name

pytestmark = pytest.mark.e2e


def _verify(live: LiveServer, state: Path, *args: str) -> tuple[int, str]:
    proc = run(
        [str(BIN / "stockade"), "verify", "--index", live.url, "--state", str(state), *args],
        check=False,
        timeout=120,
    )
    return proc.returncode, proc.stdout + proc.stderr


def test_verify_real_uploads(live: LiveServer, tmp_path: Path) -> None:
    files = []
    for version in ("1.0", "1.1"):
        path = tmp_path / wheel_name("logged", version)
        path.write_bytes(wheel_bytes("logged", version))
        files.append(path)
    live.twine_upload(files)
    key = live.stockade("log", "key").strip()
    state = tmp_path / "state"

    code, out = _verify(live, state, "--log-key", key, *map(str, files))
    assert code == 0, out
    assert out.count("ok ") == 2

    requirements = tmp_path / "requirements.txt"
    requirements.write_text("logged==1.1\n")
    code, out = _verify(live, state, "-r", str(requirements))
    assert code == 0, out
    assert wheel_name("logged", "1.1") in out

    changed = tmp_path / "changed" / files[0].name
    changed.parent.mkdir()
    changed.write_bytes(files[0].read_bytes() + b"\0")
    code, out = _verify(live, state, str(changed))
    assert code == 1 and "sha256" in out, out
