"""The mirror, side by side: stockade in front of an upstream index against proxpi and devpi in
mirror mode over the same upstream, with nginx serving the upstream's files statically as the
ceiling. Writes results to a folder and a summary block into bench/RESULTS.md.

    /tmp/venv-tools/bin/python bench/mirror.py [--projects 300 --heavy 400 --rounds 3]
        [--peers "proxpi devpi"] [--results-md bench/RESULTS.md | --no-results-md]

The upstream is the shared harness's nginx tree (``../shared/bench``: its corpus, rendered
pages and peers, called from there, never copied). What is measured, alternating servers in
every round:

* **cold**: the first ``uv pip install`` / ``pip install`` of the 30-package chain through a
  mirror that has cached nothing (stockade: a fresh data folder; proxpi: an empty cache
  folder; devpi: a new mirror index), against installing straight from the upstream;
* **warm**: the shared harness's probe, wrk and install phases on every mirror once warm (its
  round 0 warms them and is discarded), with nginx-static as the ceiling;
* **heavy page**: wrk on the 400-file page from stockade's mirror and from a stockade where
  the same project was uploaded (a local project), same process settings;
* stockade's RSS at the end.

Needs ``../shared/bench/peers.sh install`` once, and an idle machine for honest numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHARED = (REPO / ".." / "shared" / "bench").resolve()
sys.path.insert(0, str(SHARED))

import measure  # noqa: E402  (the shared harness: install_once, run_wrk, clean_env)

MIRROR_BEGIN, MIRROR_END = "<!-- MIRROR:BEGIN (bench/mirror.py) -->", "<!-- MIRROR:END -->"
PORT_MIRROR, PORT_LOCAL = 8090, 8091


def sh(*cmd: str, env: dict[str, str] | None = None, check: bool = True) -> str:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr[-800:]}")
    return done.stdout


def wait_http(url: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url, timeout=2):
                return
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {url}")


def tree_rss_kib(pid: int) -> int:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        todo.extend(children.get(p, []))
    return total


class Stockade:
    """One ``stockade serve`` (2 workers) in its own data folder and process group."""

    def __init__(self, stockade: str, data: Path, port: int, env: dict[str, str]) -> None:
        self.stockade, self.data, self.port, self.env = stockade, data, port, env
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, fresh: bool) -> None:
        if fresh:
            shutil.rmtree(self.data, ignore_errors=True)
        self.data.mkdir(parents=True, exist_ok=True)
        log = open(self.data.parent / f"stockade-{self.port}.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                self.stockade,
                "serve",
                "--data",
                str(self.data),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "2",
            ],
            env=self.env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        wait_http(f"{self.base}/_health/live")

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None


class Peers:
    """The shared harness's peers: nginx (the upstream), proxpi, devpi."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.script = str(SHARED / "peers.sh")
        self.started: list[str] = []

    def start(self, name: str) -> None:
        sh("bash", self.script, "start", name, env=self.env)
        self.started.append(name)

    def stop(self, name: str) -> None:
        sh("bash", self.script, "stop", name, env=self.env, check=False)
        if name in self.started:
            self.started.remove(name)

    def pid(self, name: str) -> int:
        return int(Path(self.env["STATE"], f"{name}.pid").read_text())

    def fresh_proxpi(self) -> None:
        self.stop("proxpi")
        shutil.rmtree(Path(self.env["STATE"], "proxpi-cache"), ignore_errors=True)
        self.start("proxpi")

    def devpi_mirror_index(self, name: str, upstream: str) -> str:
        devpi = str(Path(self.env["VENVS"], "venv-devpi", "bin", "devpi"))
        client = ["--clientdir", str(Path(self.env["STATE"], "devpi-client"))]
        sh(devpi, *client, "use", "http://127.0.0.1:3141", env=self.env)
        sh(devpi, *client, "login", "bench", "--password", "bench", env=self.env)
        sh(
            devpi,
            *client,
            "index",
            "-c",
            name,
            "type=mirror",
            f"mirror_url={upstream}",
            env=self.env,
        )
        return f"http://127.0.0.1:3141/bench/{name}/+simple/"

    def stop_all(self) -> None:
        for name in reversed(list(self.started)):
            self.stop(name)


def median(xs: list[float]) -> float:
    return round(statistics.median(xs), 3) if xs else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--work", default=os.environ.get("WORK", "/tmp/bench-mirror"))
    ap.add_argument("--projects", type=int, default=300)
    ap.add_argument("--heavy", default="400")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--peers", default="proxpi devpi")
    ap.add_argument("--stockade", default=str(REPO / ".venv" / "bin" / "stockade"))
    ap.add_argument("--tools", default="/tmp/venv-tools/bin")
    ap.add_argument("--results-md", default=str(HERE / "RESULTS.md"))
    ap.add_argument("--no-results-md", action="store_true")
    a = ap.parse_args()

    work = Path(a.work)
    out = work / "results" / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True)
    corpus = work / "corpus"
    if not (corpus / "manifest.json").exists():
        sh(
            f"{a.tools}/python",
            str(SHARED / "gen_corpus.py"),
            "--out",
            str(corpus),
            "--projects",
            str(a.projects),
            "--heavy",
            a.heavy,
        )
    manifest = json.loads((corpus / "manifest.json").read_text())
    roles = manifest["roles"]
    chain_root, heavy = roles["chain_root"], roles["heavy"][0]
    heavy_files = next(p for p in manifest["projects"] if p["normalized"] == heavy)
    heavy_paths = [str(corpus / "files" / f) for r in heavy_files["releases"] for f in r["files"]]

    env = measure.clean_env()
    env.update(
        STATE=str(work / "state"), CORPUS=str(corpus), VENVS="/tmp", TOOLS=str(Path(a.tools).parent)
    )
    shutil.rmtree(work / "state", ignore_errors=True)
    peers_wanted = a.peers.split()
    peers = Peers(env)
    upstream = "http://127.0.0.1:8088/simple/"
    senv = dict(env, STOCKADE_SCHEDULER="false")
    mirror = Stockade(
        a.stockade, work / "mirror-data", PORT_MIRROR, dict(senv, STOCKADE_UPSTREAM_URL=upstream)
    )
    local = Stockade(a.stockade, work / "local-data", PORT_LOCAL, senv)
    records: list[dict[str, object]] = []

    def emit(rec: dict[str, object]) -> None:
        records.append(rec)
        print(json.dumps(rec), flush=True)
        with open(out / "mirror.jsonl", "a") as f:
            f.write(json.dumps(rec) + "\n")

    try:
        peers.start("nginx")
        for name in peers_wanted:
            peers.start(name)

        # A stockade with the heavy project uploaded: the "local project" page.
        local.start(fresh=True)
        sh(
            a.stockade,
            "user",
            "create",
            "bench",
            "--email",
            "bench@example.invalid",
            "--data",
            str(local.data),
            env=senv,
        )
        token = sh(
            a.stockade,
            "token",
            "create",
            "bench",
            "--label",
            "bench",
            "--data",
            str(local.data),
            env=senv,
        ).strip()
        sh(
            f"{a.tools}/python",
            str(SHARED / "upload.py"),
            "--url",
            f"{local.base}/legacy/",
            "--user",
            "__token__",
            "--password",
            token,
            "--threads",
            "2",
            *heavy_paths,
            env=env,
        )

        # -- cold: nothing cached, every round, every tool ------------------------------------
        workdir = work / "venvs"
        workdir.mkdir(exist_ok=True)
        for rnd in range(a.rounds):
            for tool in ("uv", "pip"):
                order = ["upstream", "stockade", *peers_wanted]
                if rnd % 2:
                    order.reverse()
                for server in order:
                    if server == "upstream":
                        index = upstream
                    elif server == "stockade":
                        mirror.stop()
                        mirror.start(fresh=True)
                        index = f"{mirror.base}/simple/"
                    elif server == "proxpi":
                        peers.fresh_proxpi()
                        index = "http://127.0.0.1:8082/index/"
                    else:
                        index = peers.devpi_mirror_index(f"cold-{rnd}-{tool}", upstream)
                    res = measure.install_once(
                        tool, {"name": server, "index": index}, chain_root, a.tools, str(workdir)
                    )
                    emit({"phase": "cold", "round": rnd, "tool": tool, "server": server, **res})

        # -- heavy page: the mirror's (warm) against a local project's -----------------------
        mirror.stop()
        mirror.start(fresh=True)
        for accept in ("text/html", "application/vnd.pypi.simple.v1+json"):
            for url in (f"{mirror.base}/simple/{heavy}/", f"{local.base}/simple/{heavy}/"):
                urllib.request.urlopen(
                    urllib.request.Request(url, headers={"Accept": accept}), timeout=60
                ).read()
        for rnd in range(a.rounds):
            pairs = [("mirror", mirror), ("local", local)]
            if rnd % 2:
                pairs.reverse()
            for accept in ("text/html", "application/vnd.pypi.simple.v1+json"):
                for label, server in pairs:
                    res = measure.run_wrk(
                        f"{server.base}/simple/{heavy}/", accept, a.duration, 4, 2
                    )
                    emit(
                        {
                            "phase": "heavy",
                            "round": rnd,
                            "server": label,
                            "accept": accept,
                            "rps": res.get("rps"),
                            "p99_ms": res.get("p99_ms"),
                            "non_2xx": res.get("non_2xx"),
                            "error": res.get("error"),
                        }
                    )

        # -- warm: the shared harness on every mirror ----------------------------------------
        targets = [
            f"name=nginx-static,index={upstream},pid={peers.pid('nginx')}",
            f"name=stockade-mirror,index={mirror.base}/simple/,pid={mirror.proc.pid if mirror.proc else 0}",
        ]
        if "proxpi" in peers_wanted:
            targets.append(
                f"name=proxpi,index=http://127.0.0.1:8082/index/,pid={peers.pid('proxpi')}"
            )
        if "devpi" in peers_wanted:
            index = peers.devpi_mirror_index("warm", upstream)
            targets.append(f"name=devpi-mirror,index={index},pid={peers.pid('devpi')}")
        cmd = [
            f"{a.tools}/python",
            str(SHARED / "measure.py"),
            "--corpus",
            str(corpus),
            "--out",
            str(out / "results.jsonl"),
            "--phases",
            "probe,wrk,install",
            "--rounds",
            str(a.rounds),
            "--duration",
            str(a.duration),
            "--workdir",
            str(workdir),
        ]
        for t in targets:
            cmd += ["--target", t]
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
        subprocess.run(
            [
                f"{a.tools}/python",
                str(SHARED / "report.py"),
                "--results",
                str(out / "results.jsonl"),
                "--corpus",
                str(corpus),
            ],
            env=env,
            check=True,
            stdout=open(out / "report.md", "w"),
        )  # noqa: SIM115
        if mirror.proc is not None:
            emit(
                {"phase": "rss", "server": "stockade-mirror", "kib": tree_rss_kib(mirror.proc.pid)}
            )
    finally:
        mirror.stop()
        local.stop()
        peers.stop_all()

    summary = summarize(records, out, peers_wanted, a)
    (out / "summary.md").write_text(summary)
    print(summary)
    if not a.no_results_md:
        write_block(Path(a.results_md), summary)
    return 0


def summarize(records: list[dict], out: Path, peers: list[str], a: argparse.Namespace) -> str:
    def cold(tool: str, server: str) -> float:
        return median(
            [
                float(r["seconds"])
                for r in records
                if r["phase"] == "cold"
                and r["tool"] == tool
                and r["server"] == server
                and r["rc"] == 0
            ]
        )

    warm_runs: dict[tuple[str, str], list[float]] = {}
    for line in (out / "results.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec.get("phase") == "install" and not rec.get("warmup") and rec.get("rc") == 0:
            warm_runs.setdefault((rec["tool"], rec["target"]), []).append(float(rec["seconds"]))

    def warm(tool: str, target: str) -> float:
        return median(warm_runs.get((tool, target), []))

    def heavy(label: str, accept: str) -> float:
        return median(
            [
                float(r["rps"])
                for r in records
                if r["phase"] == "heavy"
                and r["server"] == label
                and r["accept"] == accept
                and r["rps"]
            ]
        )

    tools = ("uv", "pip")
    failed = sum(1 for r in records if r["phase"] == "cold" and r.get("rc") != 0)
    rss = next((int(r["kib"]) // 1024 for r in records if r["phase"] == "rss"), None)
    lines = [
        MIRROR_BEGIN,
        "## The mirror (bench/mirror.py)",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {a.rounds} rounds, a corpus "
        f"of {a.projects} projects plus a {a.heavy}-file project, the upstream being nginx "
        "serving that corpus statically. Every install is `--no-cache`; figures are medians. "
        f"Full tables: `{out}/report.md`. Load average at the end: "
        f"{Path('/proc/loadavg').read_text().split()[0]} on 2 cores.",
        "",
        "| install of the 30-package chain | uv | pip |",
        "|---|---|---|",
    ]
    lines.append(
        "| straight from the upstream | "
        + " | ".join(f"{cold(t, 'upstream')} s" for t in tools)
        + " |"
    )
    for server in ("stockade", *peers):
        lines.append(
            f"| cold, {server} | "
            + " | ".join(
                f"{cold(t, server)} s ({cold(t, server) / cold(t, 'upstream'):.2f}×)" for t in tools
            )
            + " |"
        )
    for target, label in (
        ("nginx-static", "nginx-static"),
        ("stockade-mirror", "stockade"),
        ("proxpi", "proxpi"),
        ("devpi-mirror", "devpi"),
    ):
        if label in ("nginx-static", "stockade") or label in peers:
            lines.append(
                f"| warm, {label} | "
                + " | ".join(
                    f"{warm(t, target)} s ({warm(t, target) / warm(t, 'nginx-static'):.2f}×)"
                    for t in tools
                )
                + " |"
            )
    lines += [
        "",
        "Targets: cold stockade ≤ 1.3× the upstream; warm stockade ≤ 1.1× nginx-static and "
        "ahead of devpi and proxpi.",
        "",
        f"| heavy page ({a.heavy} files), req/s | HTML | JSON |",
        "|---|---|---|",
    ]
    for label, name in (("mirror", "mirrored"), ("local", "uploaded here")):
        lines.append(
            f"| stockade, the project {name} | {heavy(label, 'text/html')} | "
            f"{heavy(label, 'application/vnd.pypi.simple.v1+json')} |"
        )
    lines += [
        "",
        f"stockade's RSS at the end (2 workers and the supervisor): {rss} MiB. "
        f"Failed cold installs: {failed}.",
        MIRROR_END,
        "",
    ]
    return "\n".join(lines)


def write_block(md: Path, block: str) -> None:
    text = md.read_text() if md.exists() else ""
    if MIRROR_BEGIN in text and MIRROR_END in text:
        start = text.index(MIRROR_BEGIN)
        end = text.index(MIRROR_END) + len(MIRROR_END)
        text = text[:start] + block.rstrip("\n") + text[end:]
    else:
        text = text.rstrip("\n") + "\n\n" + block
    md.write_text(text)


if __name__ == "__main__":
    raise SystemExit(main())
