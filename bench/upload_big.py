#!/usr/bin/env python3
"""Peak RSS growth of a package index while it receives one very large wheel.

stdlib only.  Builds ONE valid wheel of --size-mib MiB (incompressible random data in a
ZIP_STORED member, plus METADATA / WHEEL / RECORD) in a temporary folder, then uploads it
through the legacy API (`:action=file_upload`, what twine speaks) with a streamed
multipart body: the client reads the file in 1 MiB chunks and never holds it in memory.

While the upload runs, a thread samples the server's process-tree RSS (VmRSS of --pid and
all its descendants, summed, as ../shared/bench/measure.py does) every --interval seconds.
Prints one JSON line (and appends it to --out):

  baseline_kib   median of the samples taken during the second before the upload
  peak_kib       largest sample from the first byte sent until the response (+0.5 s)
  growth_kib     peak - baseline
  after_kib      one sample 2 s after the response
  seconds        wall time from the first byte sent to the response
  status, body   the server's answer (2xx = accepted)
  pss_*_kib      proportional set size (shared pages split between processes), for reference

Only talks to the --url it is given (make it 127.0.0.1).

  upload_big.py --url http://127.0.0.1:8090/legacy/ --user __token__ --password TOKEN \
                --pid SERVER_PID [--size-mib 1024] [--workdir DIR] [--out FILE.jsonl]
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import json
import os
import random
import shutil
import statistics
import tempfile
import threading
import time
import urllib.parse
import uuid
import zipfile

CHUNK = 1024 * 1024


# -- RSS of a process tree ----------------------------------------------------------------------

def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            kids.setdefault(ppid, []).append(int(d))
    return kids


def tree(pid: int) -> list[int]:
    kids, out, todo = _children(), [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def _status_kib(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kib(pid: int) -> int:
    return sum(_status_kib(p, "VmRSS:") for p in tree(pid))


def pss_kib(pid: int) -> int | None:
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
        except OSError:
            return None
    return total


class Sampler(threading.Thread):
    """(monotonic time, KiB) every `interval` seconds until stopped."""

    def __init__(self, pid: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, int]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        nxt = time.monotonic()
        while not self._halt.is_set():
            self.samples.append((time.monotonic(), rss_kib(self.pid)))
            nxt += self.interval
            self._halt.wait(max(0.0, nxt - time.monotonic()))

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def between(self, t0: float, t1: float) -> list[int]:
        return [k for t, k in self.samples if t0 <= t <= t1]


# -- the wheel ------------------------------------------------------------------------------------

def _record_hash(h: "hashlib._Hash") -> str:
    return "sha256=" + base64.urlsafe_b64encode(h.digest()).rstrip(b"=").decode()


def build_wheel(directory: str, name: str, version: str, size: int, seed: int = 1) -> str:
    """A valid py3-none-any wheel of about `size` bytes; returns its path.

    The payload is pseudo-random bytes (incompressible) written in 1 MiB chunks into a
    ZIP_STORED member, so neither this process nor the file system compress anything.
    """
    stem = name.replace("-", "_")
    path = os.path.join(directory, f"{stem}-{version}-py3-none-any.whl")
    dist_info = f"{stem}-{version}.dist-info"
    rng = random.Random(seed)
    records = []
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        init = b'"""A very large, useless package (upload benchmark)."""\n'
        zf.writestr(f"{stem}/__init__.py", init)
        records.append((f"{stem}/__init__.py", _record_hash(hashlib.sha256(init)), len(init)))
        payload = f"{stem}/payload.bin"
        h, left = hashlib.sha256(), size
        with zf.open(zipfile.ZipInfo(payload, date_time=(2024, 1, 1, 0, 0, 0)), "w",
                     force_zip64=True) as out:
            while left > 0:
                chunk = rng.randbytes(min(CHUNK, left))
                h.update(chunk)
                out.write(chunk)
                left -= len(chunk)
        records.append((payload, _record_hash(h), size))
        metadata = (f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                    "Summary: one very large wheel for the upload benchmark\n"
                    "Requires-Python: >=3.8\n").encode()
        wheel = (b"Wheel-Version: 1.0\nGenerator: stockade-bench\nRoot-Is-Purelib: true\n"
                 b"Tag: py3-none-any\n")
        for fn, data in ((f"{dist_info}/METADATA", metadata), (f"{dist_info}/WHEEL", wheel)):
            zf.writestr(fn, data)
            records.append((fn, _record_hash(hashlib.sha256(data)), len(data)))
        record = "".join(f"{fn},{hh},{n}\n" for fn, hh, n in records) + f"{dist_info}/RECORD,,\n"
        zf.writestr(f"{dist_info}/RECORD", record)
    return path


# -- the streamed upload --------------------------------------------------------------------------

def upload(url: str, user: str, password: str, path: str, name: str, version: str,
           timeout: float) -> tuple[int, bytes, float, float]:
    """POST the wheel as multipart/form-data, streamed from disk.

    Returns (status, body, t_first_byte_sent, t_response) in time.monotonic() seconds.
    """
    sha256, md5 = hashlib.sha256(), hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            sha256.update(chunk)
            md5.update(chunk)
    fields = [(":action", "file_upload"), ("protocol_version", "1"), ("metadata_version", "2.1"),
              ("name", name), ("version", version), ("filetype", "bdist_wheel"),
              ("pyversion", "py3"), ("summary", "one very large wheel for the upload benchmark"),
              ("requires_python", ">=3.8"), ("sha256_digest", sha256.hexdigest()),
              ("md5_digest", md5.hexdigest())]
    boundary = uuid.uuid4().hex
    head = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
                    for k, v in fields)
    head += (f'--{boundary}\r\nContent-Disposition: form-data; name="content"; '
             f'filename="{os.path.basename(path)}"\r\n'
             f"Content-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    length = len(head) + os.path.getsize(path) + len(tail)
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=timeout)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    conn.putrequest("POST", u.path or "/")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(length))
    conn.putheader("Authorization", f"Basic {auth}")
    conn.endheaders()
    t0 = time.monotonic()
    try:
        conn.send(head)
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                conn.send(chunk)
        conn.send(tail)
    except OSError:
        pass  # the server answered early (e.g. 400 too large) and closed: read its answer
    try:
        resp = conn.getresponse()
        status, body = resp.status, resp.read()
    except (OSError, http.client.HTTPException) as e:
        status, body = 0, repr(e).encode()
    t1 = time.monotonic()
    conn.close()
    return status, body, t0, t1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True, help="legacy upload URL, e.g. http://127.0.0.1:8090/legacy/")
    ap.add_argument("--user", default="__token__")
    ap.add_argument("--password", required=True)
    ap.add_argument("--pid", type=int, required=True, help="server process (its children are summed)")
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--interval", type=float, default=0.05, help="RSS sampling period, seconds")
    ap.add_argument("--name", default=None, help="project name (default bigpkg-<random>)")
    ap.add_argument("--workdir", default=None, help="where the wheel is built (removed after)")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--out", help="append the JSON line here too")
    a = ap.parse_args()
    if not os.path.exists(f"/proc/{a.pid}"):
        raise SystemExit(f"no process {a.pid}")

    name = a.name or "bigpkg-" + uuid.uuid4().hex[:6]
    version = "1.0"
    tmp = tempfile.mkdtemp(prefix="upload-big-", dir=a.workdir)
    try:
        tb = time.monotonic()
        path = build_wheel(tmp, name, version, a.size_mib * CHUNK)
        build_s = time.monotonic() - tb
        size = os.path.getsize(path)

        sampler = Sampler(a.pid, a.interval)
        pss_before = pss_kib(a.pid)
        sampler.start()
        time.sleep(1.0)
        status, body, t0, t1 = upload(a.url, a.user, a.password, path, name, version, a.timeout)
        time.sleep(0.5)
        t_end = time.monotonic()
        time.sleep(1.5)
        after = rss_kib(a.pid)
        pss_after = pss_kib(a.pid)
        sampler.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    before = sampler.between(t0 - 1.0, t0) or [sampler.samples[0][1]]
    during = sampler.between(t0, t_end)
    baseline = int(statistics.median(before))
    peak = max(during) if during else baseline
    peak_t = next((t for t, k in sampler.samples if t0 <= t <= t_end and k == peak), t0)
    res = {
        "phase": "upload_big", "url": a.url, "pid": a.pid, "project": name,
        "file": os.path.basename(path), "bytes": size, "build_seconds": round(build_s, 2),
        "status": status, "ok": 200 <= status < 300, "body": body[:300].decode("utf-8", "replace"),
        "seconds": round(t1 - t0, 2), "mib_per_s": round(size / CHUNK / (t1 - t0), 1) if t1 > t0 else None,
        "baseline_kib": baseline, "peak_kib": peak, "growth_kib": peak - baseline,
        "peak_at_s": round(peak_t - t0, 2), "after_kib": after,
        "samples": len(during), "interval_s": a.interval,
        "pss_before_kib": pss_before, "pss_after_kib": pss_after,
        "processes": len(tree(a.pid)),
        "ts": round(time.time(), 3),
    }
    line = json.dumps(res)
    print(line, flush=True)
    if a.out:
        with open(a.out, "a") as f:
            f.write(line + "\n")
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
