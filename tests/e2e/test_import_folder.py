"""`stockade import folder`: the real files of the shared corpus, laid out as a pypiserver
folder, imported as uploads are checked (the files PyPI refuses today are refused with the
upload's reasons), their modification times kept as upload times; a second run finds them
all there; pip installs them from a live server."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from e2e.conftest import BIN, Instance, pip_install, run
from support.backend import CORPUS

pytestmark = pytest.mark.e2e

DISTS = CORPUS / "dists"
MANIFEST = list(csv.DictReader((CORPUS / "MANIFEST.tsv").open(encoding="utf-8"), delimiter="\t"))
REFUSED = {
    "simplegeneric-0.8.1.zip": "Invalid file extension",
    "pyreadline-2.1.zip": "Invalid file extension",
    "pytz-2013d.zip": "Invalid file extension",
    "pytz-2013d.tar.bz2": "Invalid file extension",
    "bitarray-0.8.1.tar.gz": "PKG-INFO",
}
MTIME = dt.datetime(2019, 5, 17, 8, 30, 12, tzinfo=dt.UTC)


def _import(instance: Instance, folder: Path) -> subprocess.CompletedProcess[str]:
    return run(
        [str(BIN / "stockade"), "import", "folder", str(folder), "--data", str(instance.data)],
        env={**instance.env, "COLUMNS": "400"},
        check=False,
        timeout=600,
    )


def test_a_pypiserver_folder_moves_in_and_installs(make_instance, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    instance: Instance = make_instance("folder")
    instance.stockade("db", "migrate")
    instance.stockade("user", "create", "alice", "--email", "a@example.test", "--admin")
    folder = tmp_path / "packages"
    for row in MANIFEST:
        target = folder / row["normalized_name"] / row["filename"]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(DISTS / row["filename"], target)
        os.utime(target, (MTIME.timestamp(), MTIME.timestamp()))
    (folder / "six" / "six-1.16.0-py2.py3-none-any.whl.asc").write_text("not a distribution")

    first = _import(instance, folder)
    assert first.returncode == 1, first.stderr  # some files are refused
    accepted = len(MANIFEST) - len(REFUSED)
    assert f"imported {accepted} file(s)" in first.stderr, first.stderr
    assert f"{len(REFUSED)} refused" in first.stderr
    assert "1 other file(s) left" in first.stderr
    for filename, reason in REFUSED.items():
        line = next(x for x in first.stderr.splitlines() if x.startswith(f"refused {filename}:"))
        assert reason in line

    again = _import(instance, folder)
    assert f"imported 0 file(s) into 0 project(s); {accepted} already there" in again.stderr

    with instance.serve() as url:
        page = httpx.get(
            f"{url}/simple/six/",
            headers={"Accept": "application/vnd.pypi.simple.v1+json"},
            timeout=30,
        ).json()
        six = {f["filename"]: f for f in page["files"]}
        wheel = six["six-1.16.0-py2.py3-none-any.whl"]
        assert dt.datetime.fromisoformat(wheel["upload-time"].replace("Z", "+00:00")) == MTIME
        expected = hashlib.sha256((DISTS / wheel["filename"]).read_bytes()).hexdigest()
        assert wheel["hashes"]["sha256"] == expected
        info = httpx.get(f"{url}/pypi/six/json", timeout=30).json()
        assert info["info"]["name"] == "six"
        target = tmp_path / "site"
        pip_install(url, target, "six==1.16.0", "entrypoints")
    assert (target / "six.py").exists()
    assert (target / "entrypoints.py").exists()
    roles = instance.stockade("user", "show", "alice")
    assert "six" in roles
