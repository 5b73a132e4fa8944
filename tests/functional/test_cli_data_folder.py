"""The CLI run from the wrong folder: it says which data folder it looked at, and only
``serve``, ``db migrate`` and restoring a backup create one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support.index import Index, cli_env, run_cli

STOCKADE = str(Path(sys.executable).parent / "stockade")


def test_a_command_refuses_to_create_a_data_folder(index: Index, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = cli_env(index)
    proc = subprocess.run(
        [STOCKADE, "user", "show", "alice"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert f"no data folder at {elsewhere / 'stockade-data'}" in " ".join(proc.stderr.split())
    assert not (elsewhere / "stockade-data").exists()
    # `db migrate` may create one, and says so.
    made = subprocess.run(
        [STOCKADE, "db", "migrate", "--data", str(elsewhere / "new")],
        capture_output=True,
        text=True,
        env={k: v for k, v in env.items() if not k.startswith("STOCKADE_")},
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    assert (elsewhere / "new" / "stockade.sqlite3").is_file()


def test_errors_name_the_data_folder(index: Index) -> None:
    proc = run_cli(index, "user", "show", "nobody")
    assert proc.returncode == 1
    message = " ".join(proc.stderr.split())
    assert f"no user named 'nobody' (data folder: {index.settings.data_dir})" in message
