"""Time the advisory import and the OSV batch query on SQLite.

Generates N OSV JSON files shaped like OSV's PyPI export (default 5,000): PYSEC ids over the
top 1,500 project names of ``../shared/corpus/top-projects.tsv``, each with a ``versions`` list
of 10-120 versions and an ECOSYSTEM range (introduced/fixed, or last_affected, or limit), aliases
to a CVE and a GHSA id, and one GHSA record in five that names a PYSEC record's CVE (so it merges
into it). Then, against a fresh data folder:

1. ``stockade advisories import DIR`` (the real command, SQLite): the first import, then the same
   again (nothing changes). Target: <= 30 s for the first.
2. ``stockade serve``, and ``POST /v1/querybatch`` with 1,000 queries (names with advisories and
   versions inside, at the edge of and outside the ranges), timed over several runs (median and
   worst). Target: <= 1 s.

Usage (from the repository root):

    .venv/bin/python bench/advisories.py [--count 5000] [--runs 7]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.index import free_port  # noqa: E402

BIN = Path(sys.executable).parent
TOP = ROOT.parent / "shared" / "corpus" / "top-projects.tsv"


def names(limit: int) -> list[str]:
    with TOP.open(encoding="utf-8") as fh:
        return [row["name"] for row in csv.DictReader(fh, delimiter="\t")][:limit]


def generate(folder: Path, count: int, rng: random.Random) -> list[tuple[str, str]]:
    """Write ``count`` advisories; returns (name, version) pairs worth querying."""
    projects = names(1500)
    probes: list[tuple[str, str]] = []
    pysec: list[tuple[str, str, str]] = []
    for i in range(count):
        name = rng.choice(projects)
        major = rng.randint(0, 9)
        versions = [f"{major}.{minor}.{patch}" for minor in range(12) for patch in range(10)]
        versions = versions[: rng.randint(10, 120)]
        fixed = f"{major}.{len(versions) // 10}.{rng.randint(0, 9)}"
        kind = rng.choice(("fixed", "fixed", "last_affected", "limit"))
        events: list[dict[str, str]] = [{"introduced": "0" if rng.random() < 0.5 else f"{major}.0"}]
        events.append({kind: fixed})
        cve = f"CVE-{2000 + i % 25}-{10000 + i}"
        ghsa = f"GHSA-{i:04x}-bench-{rng.randint(1000, 9999)}"
        if i % 5 == 4 and pysec:
            # A GHSA record naming an earlier PYSEC record's CVE: merged into it.
            name, cve, _ = rng.choice(pysec)
            osv_id, aliases = ghsa, [cve]
        else:
            osv_id, aliases = f"PYSEC-{2000 + i % 25}-{i}", [cve, ghsa]
            pysec.append((name, cve, osv_id))
        doc = {
            "id": osv_id,
            "modified": f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}T00:00:00Z",
            "published": "2023-01-01T00:00:00Z",
            "aliases": aliases,
            "summary": f"Generated advisory {i} for {name}",
            "details": "x" * rng.randint(100, 1500),
            "affected": [
                {
                    "package": {"name": name, "ecosystem": "PyPI", "purl": f"pkg:pypi/{name}"},
                    "ranges": [{"type": "ECOSYSTEM", "events": events}],
                    "versions": versions,
                }
            ],
            "references": [{"type": "WEB", "url": f"https://example.test/{i}"}],
            "schema_version": "1.6.0",
        }
        (folder / f"{osv_id}.json").write_text(json.dumps(doc))
        probes += [(name, versions[0]), (name, fixed), (name, f"{major + 1}.0")]
    return probes


def timed(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, env=env, check=True)
    return time.perf_counter() - start, proc.stderr.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=7)
    opts = parser.parse_args()
    rng = random.Random(13)  # noqa: S311  (reproducible test data, not secrets)
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKADE_")}
    env.update(STOCKADE_SCHEDULER="0", COLUMNS="200")
    with tempfile.TemporaryDirectory(prefix="bench-advisories-") as tmp:
        folder, data = Path(tmp) / "osv", Path(tmp) / "data"
        folder.mkdir()
        probes = generate(folder, opts.count, rng)
        size = sum(p.stat().st_size for p in folder.iterdir())
        print(f"{opts.count} OSV files, {size / 1024**2:.1f} MiB")
        cmd = [str(BIN / "stockade"), "advisories", "import", str(folder), "--data", str(data)]
        subprocess.run(
            [str(BIN / "stockade"), "db", "migrate", "--data", str(data)],
            env=env,
            check=True,
            capture_output=True,
        )
        first, summary = timed(cmd, env)
        print(f"first import: {first:.2f} s ({summary})")
        again, summary = timed(cmd, env)
        print(f"same input again: {again:.2f} s ({summary})")

        port = free_port()
        with (Path(tmp) / "serve.log").open("w") as log:
            server = subprocess.Popen(
                [str(BIN / "stockade"), "serve", "--data", str(data), "--port", str(port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/_health/", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("stockade serve did not start")
                time.sleep(0.1)
            picked = rng.sample(probes, 1000)
            body = {
                "queries": [
                    {"package": {"name": n, "ecosystem": "PyPI"}, "version": v} for n, v in picked
                ]
            }
            timings, hits = [], 0
            with httpx.Client(timeout=30) as client:
                client.post(f"{url}/v1/querybatch", json=body)  # warm the worker
                for _ in range(opts.runs):
                    start = time.perf_counter()
                    r = client.post(f"{url}/v1/querybatch", json=body)
                    timings.append(time.perf_counter() - start)
                    r.raise_for_status()
                    hits = sum(1 for res in r.json()["results"] if res)
            print(
                f"querybatch of 1,000 ({hits} with advisories): median "
                f"{statistics.median(timings):.3f} s, worst {max(timings):.3f} s "
                f"over {opts.runs} runs"
            )
        finally:
            server.terminate()
            server.wait(timeout=20)


if __name__ == "__main__":
    main()
