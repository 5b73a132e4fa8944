#!/usr/bin/env python3
"""What the transparency log costs an upload: N uploads with the log on vs off (issue 18:
target ≤ 1.3x).

Each round makes a fresh data folder (SQLite and local files unless STOCKADE_DATABASE_URL /
STOCKADE_STORAGE_URL say otherwise), a user and a token, turns the log off for the "off"
rounds (`stockade log disable`), starts `stockade serve` on a free 127.0.0.1 port and times
--uploads legacy uploads of small distinct wheels (--threads at a time, each its own
project every --per-project files). Rounds alternate on/off so drift in the machine's speed
hits both. Prints one JSON line per round and a summary line with the medians and the ratio.

  bench/tlog_uploads.py [--uploads 1000] [--rounds 2] [--threads 4] [--workers 1]

Run it with the venv's python (it imports nothing from stockade: it drives the CLI).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent


def wheel(name: str, version: str) -> tuple[str, bytes]:
    dist = f"{name}-{version}.dist-info"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{name}/__init__.py", f"__version__ = {version!r}\n")
        zf.writestr(
            f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        )
        zf.writestr(
            f"{dist}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        zf.writestr(f"{dist}/RECORD", "")
    return f"{name}-{version}-py3-none-any.whl", buf.getvalue()


def stockade(data: Path, env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    return subprocess.run(
        [str(BIN / "stockade"), *args, "--data", str(data)],
        env=env, input=stdin, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def one_round(log_on: bool, args: argparse.Namespace, files: list[tuple[str, bytes]]) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKADE_")}
    env["STOCKADE_SCHEDULER"] = "0"
    for key in ("STOCKADE_DATABASE_URL", "STOCKADE_STORAGE_URL"):
        if key in os.environ:
            env[key] = os.environ[key]
    with tempfile.TemporaryDirectory(prefix="tlog-bench-") as tmp:
        data = Path(tmp) / "data"
        stockade(data, env, "db", "migrate")
        stockade(data, env, "user", "create", "bench", "--email", "bench@example.test",
                 "--password-stdin", stdin="correct horse battery\n")  # fmt: skip
        token = stockade(data, env, "token", "create", "bench").strip()
        if not log_on:
            stockade(data, env, "log", "disable")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [str(BIN / "stockade"), "serve", "--data", str(data), "--port", str(port),
             "--workers", str(args.workers)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/_health/", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("stockade serve did not start")
                time.sleep(0.05)
            with httpx.Client(auth=("__token__", token), timeout=60) as client:

                def upload(item: tuple[str, bytes]) -> None:
                    filename, content = item
                    name, version = filename.split("-")[:2]
                    answer = client.post(
                        f"{url}/legacy/",
                        data={
                            ":action": "file_upload", "protocol_version": "1",
                            "name": name, "version": version, "filetype": "bdist_wheel",
                            "pyversion": "py3", "metadata_version": "2.1",
                            "sha256_digest": hashlib.sha256(content).hexdigest(),
                        },
                        files={"content": (filename, content, "application/octet-stream")},
                    )  # fmt: skip
                    if answer.status_code != 200:
                        raise RuntimeError(f"{filename}: {answer.status_code} {answer.text}")

                start = time.perf_counter()
                with ThreadPoolExecutor(args.threads) as pool:
                    list(pool.map(upload, files))
                seconds = time.perf_counter() - start
                size = int(client.get(f"{url}/log/checkpoint").text.split("\n")[1])
            expected = len(files) if log_on else 0
            if size != expected:
                raise RuntimeError(f"the log has {size} entries, expected {expected}")
            return seconds
        finally:
            server.terminate()
            server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--per-project", type=int, default=10)
    args = parser.parse_args()
    files = [
        wheel(f"bench{i // args.per_project}", f"1.{i % args.per_project}")
        for i in range(args.uploads)
    ]
    times: dict[str, list[float]] = {"on": [], "off": []}
    for r in range(args.rounds):
        for mode in ("off", "on") if r % 2 == 0 else ("on", "off"):
            seconds = one_round(mode == "on", args, files)
            times[mode].append(seconds)
            rate = round(len(files) / seconds, 1)
            line = {"round": r, "log": mode, "seconds": round(seconds, 2), "per_second": rate}
            print(json.dumps(line), flush=True)
    on, off = statistics.median(times["on"]), statistics.median(times["off"])
    print(json.dumps({"median_on": round(on, 2), "median_off": round(off, 2),
                      "ratio": round(on / off, 3), "target": 1.3}))  # fmt: skip


if __name__ == "__main__":
    main()
