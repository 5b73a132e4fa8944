#!/usr/bin/env python3
"""Throughput of ``stockade import folder``: files per second from a local folder.

Generates the shared synthetic corpus (``../shared/bench/gen_corpus.py``: small valid wheels
and sdists, a few heavy projects) unless one is given, makes a fresh data folder with one
administrator, and times the real command (a subprocess, progress bar included) twice: the
first import, then a second run over the same folder (a resumed import: every file is there
already). Prints one JSON object; run it on an idle machine (``/tmp/house/bench-excl``).

    bench/import_folder.py [--projects 2000] [--heavy 400,800] [--corpus DIR] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
GEN = HERE.parent.parent / "shared" / "bench" / "gen_corpus.py"
STOCKADE = Path(sys.executable).with_name("stockade")


def _timed(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, env=env, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=2000)
    parser.add_argument("--heavy", default="400,800")
    parser.add_argument("--corpus", type=Path, help="an existing folder of files to import")
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-import"))
    opts = parser.parse_args()
    if opts.work.exists():
        shutil.rmtree(opts.work)
    opts.work.mkdir(parents=True)
    folder = opts.corpus
    if folder is None:
        out = opts.work / "corpus"
        subprocess.run(
            [
                sys.executable,
                str(GEN),
                "--out",
                str(out),
                "--projects",
                str(opts.projects),
                "--heavy",
                opts.heavy,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        folder = out / "files"
    files = [p for p in folder.rglob("*") if p.is_file()]
    data = opts.work / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKADE_")}
    env["STOCKADE_DATA_DIR"] = str(data)
    subprocess.run([str(STOCKADE), "db", "migrate"], env=env, check=True, capture_output=True)
    subprocess.run(
        [str(STOCKADE), "user", "create", "bench", "--email", "bench@example.com", "--admin"],
        env=env,
        check=True,
        capture_output=True,
    )
    command = [str(STOCKADE), "import", "folder", str(folder)]
    first = _timed(command, env)
    again = _timed(command, env)
    result = {
        "files": len(files),
        "bytes": sum(p.stat().st_size for p in files),
        "first_import_s": round(first, 2),
        "first_import_files_per_s": round(len(files) / first, 1),
        "rerun_s": round(again, 2),
        "rerun_files_per_s": round(len(files) / again, 1),
        "backend": "sqlite + local files",
    }
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
