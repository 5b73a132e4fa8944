#!/usr/bin/env python3
"""Peak RSS growth of a stockade worker while it streams one very large upstream file.

Run with the project's venv python (it starts `stockade` from the same venv):

  .venv/bin/python bench/mirror_big.py [--size-mib 1024] [--workdir DIR] [--out FILE.jsonl]

What it does, all on 127.0.0.1:
1. writes one file of --size-mib MiB of incompressible bytes (``big-1.0.tar.gz``) into a
   static PEP 691 tree (JSON page with sha256 and size) served by http.server;
2. starts `stockade serve --workers 1` on a fresh SQLite data folder (STOCKADE_SCHEDULER=0)
   and adds the tree as an upstream with `stockade mirror add`;
3. asks the mirror for /simple/big/ (JSON), then downloads the file from the link it gives,
   reading it in 1 MiB chunks, hashing it and throwing it away: the file is not cached yet,
   so the worker fetches it from the upstream and streams it while it stores it;
4. samples the RSS of the stockade process tree every --interval seconds meanwhile.

Prints one JSON line (and appends it to --out): baseline_kib (median of the second before the
download), peak_kib, growth_kib = peak - baseline, seconds, mib_per_s, ok (the client got every
byte and the sha256 matches), and whether the second download came from the cache.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from upload_big import Sampler, rss_kib  # noqa: E402  (same folder: RSS of a process tree)

CHUNK = 1024 * 1024
JSON = "application/vnd.pypi.simple.v1+json"


def write_file(path: Path, size: int) -> str:
    """``size`` pseudo-random bytes (incompressible); returns their sha256."""
    h = hashlib.sha256()
    block = os.urandom(CHUNK)
    with path.open("wb") as out:
        left = size
        while left > 0:
            # A fresh block every MiB, cheaply: hash-chained, so nothing repeats.
            block = hashlib.sha256(block).digest() + block[32:]
            piece = block[: min(CHUNK, left)]
            h.update(piece)
            out.write(piece)
            left -= len(piece)
    return h.hexdigest()


def start_upstream(root: Path) -> tuple[ThreadingHTTPServer, str]:
    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            if self.path.startswith("/simple/") and self.path.endswith("/"):
                page = root / self.path.strip("/") / "index.json"
                if not page.is_file():
                    self.send_error(404)
                    return
                body = page.read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", JSON)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            super().do_GET()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, accept: str = "*/*") -> bytes:
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    conn.request("GET", u.path, headers={"Accept": accept})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    if resp.status != 200:
        raise RuntimeError(f"GET {url}: {resp.status} {body[:200]!r}")
    return body


def download(url: str) -> tuple[int, str, float, float]:
    """(bytes, sha256, t_start, t_end), reading 1 MiB at a time."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
    t0 = time.monotonic()
    conn.request("GET", u.path)
    resp = conn.getresponse()
    h, n = hashlib.sha256(), 0
    try:
        while chunk := resp.read(CHUNK):
            h.update(chunk)
            n += len(chunk)
    except (OSError, http.client.HTTPException):
        pass  # a broken transfer: reported as not ok
    t1 = time.monotonic()
    conn.close()
    return n, h.hexdigest(), t0, t1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--interval", type=float, default=0.05)
    ap.add_argument("--workdir", default=None, help="where the files go (removed after)")
    ap.add_argument("--out", help="append the JSON line here too")
    a = ap.parse_args()
    stockade = Path(sys.executable).parent / "stockade"
    size = a.size_mib * CHUNK
    tmp = Path(tempfile.mkdtemp(prefix="mirror-big-", dir=a.workdir))
    proc: subprocess.Popen[bytes] | None = None
    upstream = None
    try:
        root = tmp / "upstream"
        (root / "files").mkdir(parents=True)
        (root / "simple" / "big").mkdir(parents=True)
        sha256 = write_file(root / "files" / "big-1.0.tar.gz", size)
        doc = {
            "meta": {"api-version": "1.1"},
            "name": "big",
            "versions": ["1.0"],
            "files": [
                {
                    "filename": "big-1.0.tar.gz",
                    "url": "../../files/big-1.0.tar.gz",
                    "hashes": {"sha256": sha256},
                    "size": size,
                    "upload-time": "2020-01-01T00:00:00.000000Z",
                }
            ],
        }
        (root / "simple" / "big" / "index.json").write_text(json.dumps(doc))
        upstream, up_url = start_upstream(root)

        data = tmp / "data"
        env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKADE_")}
        env["STOCKADE_SCHEDULER"] = "0"
        subprocess.run(
            [str(stockade), "mirror", "add", "up", f"{up_url}/simple/", "--data", str(data)],
            check=True, env=env, capture_output=True,
        )
        port = free_port()
        log = (tmp / "server.log").open("wb")
        proc = subprocess.Popen(
            [str(stockade), "serve", "--data", str(data), "--port", str(port), "--workers", "1"],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                get(f"{base}/_health/")
                break
            except (OSError, RuntimeError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit((tmp / "server.log").read_text())
                time.sleep(0.2)
        page = json.loads(get(f"{base}/simple/big/", JSON))
        link = urllib.parse.urljoin(f"{base}/simple/big/", page["files"][0]["url"])

        sampler = Sampler(proc.pid, a.interval)
        sampler.start()
        time.sleep(1.0)
        n, got, t0, t1 = download(link)
        time.sleep(0.5)
        t_end = time.monotonic()
        sampler.stop()
        after = rss_kib(proc.pid)
        # The second download must come from our storage (the upstream is gone by then).
        upstream.shutdown()
        upstream.server_close()
        upstream = None
        n2, got2, s0, s1 = download(link)
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if upstream is not None:
            upstream.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)

    before = sampler.between(t0 - 1.0, t0) or [sampler.samples[0][1]]
    during = sampler.between(t0, t_end)
    baseline = int(statistics.median(before))
    peak = max(during) if during else baseline
    res = {
        "phase": "mirror_big", "bytes": size,
        "ok": n == size and got == sha256, "received": n,
        "seconds": round(t1 - t0, 2), "mib_per_s": round(size / CHUNK / (t1 - t0), 1),
        "baseline_kib": baseline, "peak_kib": peak, "growth_kib": peak - baseline,
        "growth_mib": round((peak - baseline) / 1024, 1), "after_kib": after,
        "samples": len(during), "interval_s": a.interval,
        "cached_ok": n2 == size and got2 == sha256, "cached_seconds": round(s1 - s0, 2),
        "ts": round(time.time(), 3),
    }
    line = json.dumps(res)
    print(line, flush=True)
    if a.out:
        with open(a.out, "a") as f:
            f.write(line + "\n")
    return 0 if res["ok"] and res["cached_ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
