#!/usr/bin/env python3
"""Uploads with TUF on vs off: the cost of signing metadata on the write path.

For each mode, a fresh data folder and a `stockade serve` on 127.0.0.1 (a random port), a
user and a token; with TUF on, `stockade tuf init` first. Then --count small wheels (one
project per --per-project files) are uploaded through the legacy API by --clients threads,
and the clock stops when the last upload is answered and, with TUF on, when the metadata list
every uploaded file (a fresh python-tuf Updater finds the last one). Prints one JSON line per
mode and the ratio on/off (target: at most 1.3).

  .venv/bin/python bench/tuf_uploads.py [--count 1000] [--clients 4] [--workers 2]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from tuf.ngclient import Updater, UpdaterConfig

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.builders import wheel_bytes, wheel_name  # noqa: E402
from support.index import free_port, upload_fields  # noqa: E402

BIN = Path(sys.executable).parent


def stockade(data: Path, env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    return subprocess.run(
        [str(BIN / "stockade"), *args, "--data", str(data)],
        input=stdin, capture_output=True, text=True, env=env, check=True,
    ).stdout  # fmt: skip


def run_mode(tuf: bool, args: argparse.Namespace, root: Path) -> dict[str, object]:
    data = root / ("on" if tuf else "off")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKADE_")}
    env["STOCKADE_SCHEDULER"] = "0"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (root / f"{data.name}.log").open("w")
    server = subprocess.Popen(
        [str(BIN / "stockade"), "serve", "--data", str(data), "--port", str(port),
         "--workers", str(args.workers)],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    try:
        while True:
            try:
                if httpx.get(f"{url}/_health/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        stockade(data, env, "user", "create", "bench", "--email", "bench@example.test",
                 "--password-stdin", stdin="correct horse battery\n")  # fmt: skip
        token = stockade(data, env, "token", "create", "bench").strip()
        if tuf:
            stockade(data, env, "tuf", "init", "--keys", str(root / "keys"), "--root-keys", "1",
                     "--threshold", "1")  # fmt: skip
        wheels = []
        for i in range(args.count):
            name, version = f"bench{i // args.per_project}", f"1.{i % args.per_project}"
            wheels.append((wheel_name(name, version), wheel_bytes(name, version)))

        def upload(item: tuple[str, bytes]) -> None:
            filename, content = item
            r = httpx.post(
                f"{url}/legacy/", data=upload_fields(content, filename),
                files={"content": (filename, content, "application/octet-stream")},
                auth=("__token__", token), timeout=120,
            )  # fmt: skip
            r.raise_for_status()

        started = time.monotonic()
        with ThreadPoolExecutor(args.clients) as pool:
            list(pool.map(upload, wheels))
        uploaded = time.monotonic() - started
        if tuf:
            filename, content = wheels[-1]
            digest = hashlib.sha256(content).hexdigest()
            path = f"packages/{digest[:2]}/{digest[2:4]}/{digest[4:]}/{filename}"
            bootstrap = httpx.get(f"{url}/tuf/1.root.json").content
            while True:
                with tempfile.TemporaryDirectory() as mdir:
                    updater = Updater(
                        mdir, metadata_base_url=f"{url}/tuf/", target_base_url=f"{url}/",
                        config=UpdaterConfig(prefix_targets_with_hash=False), bootstrap=bootstrap,
                    )  # fmt: skip
                    if updater.get_targetinfo(path) is not None:
                        break
                time.sleep(0.05)
        total = time.monotonic() - started
        return {"tuf": tuf, "count": args.count, "uploads_s": round(uploaded, 2),
                "until_signed_s": round(total, 2)}  # fmt: skip
    finally:
        server.terminate()
        server.wait(30)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--per-project", type=int, default=10)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        off = run_mode(False, args, Path(tmp))
        print(json.dumps(off), flush=True)
        on = run_mode(True, args, Path(tmp))
        print(json.dumps(on), flush=True)
    ratio = float(on["until_signed_s"]) / float(off["until_signed_s"])  # type: ignore[arg-type]
    print(json.dumps({"ratio_on_off": round(ratio, 3), "target": 1.3}))


if __name__ == "__main__":
    main()
