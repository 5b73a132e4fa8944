"""The ``stockade`` command run in this process, against a test's index."""

from __future__ import annotations

import subprocess

from typer.testing import CliRunner

from stockade.cli.main import app as stockade_app
from support.index import Index


def cli(index: Index, *args: str) -> subprocess.CompletedProcess[str]:
    """``stockade ARGS --data <the index's folder>`` in this process, on the index's backend."""
    env = {
        "STOCKADE_DATABASE_URL": index.settings.database_url,
        "STOCKADE_STORAGE_URL": index.settings.storage_url,
        "COLUMNS": "200",
    }
    argv = [*args, "--data", str(index.settings.data_dir)]
    result = CliRunner().invoke(stockade_app, argv, env=env)
    return subprocess.CompletedProcess(argv, result.exit_code, result.stdout, result.stderr)
