"""The soak in short form: a minute of mixed reads, installs, uploads, yanks and logins against
`stockade serve --workers 2` on this run's backend (``bench/soak.py``; the ten-minute runs and
their figures are in ``bench/RESULTS.md``). No error may happen, and every change answered by
one worker is served by every worker within a second. Latency and memory are reported, not
asserted: the machine is shared."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from e2e.conftest import BIN, stockade_serve
from support.backend import REPO, backend_overrides
from support.servers import PostgresServer, SeaweedServer


def load_soak() -> ModuleType:
    spec = importlib.util.spec_from_file_location("soak", REPO / "bench" / "soak.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["soak"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def served(
    tmp_path: Path, postgres: PostgresServer | None, seaweed: SeaweedServer | None
) -> Iterator[tuple[str, Path, dict[str, str]]]:
    overrides, name = backend_overrides(postgres, seaweed)
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKADE_")}
    env.update({f"STOCKADE_{k.upper()}": v for k, v in overrides.items()})
    env["STOCKADE_SCHEDULER"] = "0"
    data = tmp_path / "data"
    log = tmp_path / "server.log"
    try:
        with stockade_serve(data, env, log, "--workers", "2") as url:
            yield url, data, env
    finally:
        if postgres is not None:
            postgres.drop_database(name)


def test_a_minute_of_mixed_load_has_no_error_and_fresh_pages(
    served: tuple[str, Path, dict[str, str]], tmp_path: Path
) -> None:
    soak = load_soak()
    url, data, env = served

    def cli(*args: str, stdin: str | None = None) -> str:
        return subprocess.run(
            [str(BIN / "stockade"), *args, "--data", str(data)],
            env=env, input=stdin, capture_output=True, text=True, check=True, timeout=120,
        ).stdout  # fmt: skip

    owner, token = soak.prepare(cli)
    work = tmp_path / "work"
    work.mkdir()
    report = soak.soak(url, token, owner, work, duration=60, rate=20)
    report.errors += [f"server log: {line}" for line in soak.log_errors(tmp_path / "server.log")]
    summary = report.summary(warmup=20)
    counts = summary["counts"]
    assert report.errors == [], summary
    # Every kind of traffic ran, on both workers.
    assert len(report.workers) == 2
    for kind in ("reads_html", "reads_json", "reads_api", "reads_file", "uploads", "yanks",
                 "unyanks", "logins", "installs_uv", "installs_pip", "uploads_twine"):  # fmt: skip
        assert counts.get(kind, 0) >= 1, (kind, counts)
    fresh = summary["freshness"]
    assert fresh["changes"] >= 10, fresh
    # Every request sent a second or more after a change got the new page, on every worker.
    assert fresh["violations"] == 0, fresh
    for change in report.freshness:
        assert set(change.fresh_by) == set(report.workers), change
        assert all(t < soak.FRESHNESS_LIMIT for t in change.stale_until.values()), change
