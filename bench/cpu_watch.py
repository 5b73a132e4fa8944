#!/usr/bin/env python3
"""Watch for CPU use by processes that are not part of the benchmark (stdlib only).

Every --interval seconds, reads utime+stime of every process in /proc and writes one JSON
line to --out with the CPU used in that interval by processes that are NOT descendants of
--root (the benchmark's own shell: our server, wrk, clients are below it) nor of a pid in
--pidfiles (the peers, which peers.sh detaches), in percent of
one core, the 1-minute load average and the busiest outsiders. Kernel threads are ignored.
Stops when --root exits or on SIGTERM. bench/results_md.py summarises the file, so a
run polluted by something else on the machine (another CI run, a test suite) says so.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def snapshot() -> dict[int, tuple[int, int, str]]:
    """pid -> (ppid, cpu ticks, command)."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                raw = f.read()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1: raw.rindex(")")]
        rest = raw.rsplit(")", 1)[1].split()
        ppid, flags = int(rest[1]), int(rest[6])
        if flags & 0x00200000 or ppid == 2 or int(d) == 2:  # PF_KTHREAD: kernel threads
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()[:120] or comm
        except OSError:
            cmd = comm
        out[int(d)] = (ppid, int(rest[11]) + int(rest[12]), cmd)
    return out


def descendants(snap: dict[int, tuple[int, int, str]], root: int) -> set[int]:
    kids: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in snap.items():
        kids.setdefault(ppid, []).append(pid)
    seen, todo = set(), [root]
    while todo:
        p = todo.pop()
        if p not in seen:
            seen.add(p)
            todo += kids.get(p, [])
    return seen


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--root", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--interval", type=float, default=5.0)
    ap.add_argument("--pidfiles", help="folder of *.pid files of servers started for the run (the peers "
                    "detach from --root); they and their descendants count as ours too")
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    me = os.getpid()
    prev, t_prev = snapshot(), time.monotonic()
    with open(a.out, "a") as out:
        while os.path.exists(f"/proc/{a.root}"):
            time.sleep(a.interval)
            cur, t = snapshot(), time.monotonic()
            ours = descendants(cur, a.root) | {me}
            if a.pidfiles and os.path.isdir(a.pidfiles):
                for fn in os.listdir(a.pidfiles):
                    if fn.endswith(".pid"):
                        try:
                            ours |= descendants(cur, int(open(os.path.join(a.pidfiles, fn)).read().strip()))
                        except (OSError, ValueError):
                            pass
            used = {}
            for pid, (_, ticks, cmd) in cur.items():
                if pid in ours:
                    continue
                before = prev.get(pid)
                # a pid not seen before (or that exec'd something else) started in this interval
                delta = ticks - before[1] if before and before[2] == cmd else ticks
                if delta > 0:
                    used[pid] = (delta / TICK, cmd)
            dt = t - t_prev
            total = sum(v for v, _ in used.values())
            top = sorted(used.values(), reverse=True)[:3]
            out.write(json.dumps({
                "ts": round(time.time(), 1), "load1": float(open("/proc/loadavg").read().split()[0]),
                "foreign_cpu_pct": round(100 * total / dt, 1),
                "top": [[round(100 * v / dt, 1), c] for v, c in top],
            }) + "\n")
            out.flush()
            prev, t_prev = cur, t
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
