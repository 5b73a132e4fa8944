"""A short coverage-guided run (atheris) of each parser target in ``atheris_targets.py``: a
crash (an exception other than the typed refusal), a hang or an RSS above the limit fails the
test with libFuzzer's report. ``bench/fuzz.sh`` runs the same targets for minutes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HARNESS = Path(__file__).with_name("atheris_targets.py")
SECONDS = int(os.environ.get("STOCKADE_ATHERIS_SECONDS", "3"))
# The memory bound: the interpreter and the instrumented modules take ~150 MB.
RSS_LIMIT_MB = 512


def fuzz(target: str, work: Path, seconds: int) -> subprocess.CompletedProcess[str]:
    """Run one target under libFuzzer for ``seconds``; its scratch files stay in ``work``."""
    # Through a shell that forks it (no exec): libFuzzer's RSS is the peak RSS, which Linux
    # carries across exec, so a child exec'd straight from a big pytest process would start
    # over the limit.
    return subprocess.run(
        [
            "sh",
            "-c",
            '"$@"; exit $?',
            "sh",
            sys.executable,
            str(HARNESS),
            target,
            f"-max_total_time={seconds}",
            f"-rss_limit_mb={RSS_LIMIT_MB}",
            "-timeout=20",
            "-max_len=65536",
            f"-artifact_prefix={work}/",
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        env={**os.environ, "STOCKADE_FUZZ_WORK": str(work)},
        cwd=work,
    )


@pytest.mark.parametrize("target", ["filename", "metadata", "wheel", "sdist", "multipart", "token"])
def test_target(target: str, tmp_path: Path) -> None:
    proc = fuzz(target, tmp_path, SECONDS)
    assert proc.returncode == 0, proc.stderr[-4000:]
    # libFuzzer's summary line: the target ran (and was not, say, refused at import).
    assert "Done " in proc.stderr and " runs in " in proc.stderr, proc.stderr[-2000:]
