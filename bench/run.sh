#!/usr/bin/env bash
# Benchmark stockade side by side with nginx-static, devpi, pypiserver and proxpi, using
# the shared harness in ../shared/bench (called from there, never copied), then measure
# one 1 GiB upload, and write bench/RESULTS.md.
#
#   bench/run.sh [--workers 2] [--port 8090] [--no-big] [--big-mib 1024]
#                [--results-md FILE | --no-results-md] [--wait-idle]
#                [any option of ../shared/bench/run.sh: --projects --releases --heavy
#                 --rounds --duration --phases --peers --corpus --out --measure-args]
#
# --workers N      `stockade serve --workers N` (default 2: the machine has 2 cores)
# --port P         stockade's port on 127.0.0.1 (default 8090; the peers keep theirs:
#                  8088 3141 8081 8082)
# --no-big         skip the 1 GiB upload (bench/upload_big.py) after the benchmark
# --big-mib M      size of that wheel (default 1024)
# --results-md F   where the summary goes (default bench/RESULTS.md); --no-results-md: nowhere
# --wait-idle      first wait (up to 20 min) until the 1-minute load average is < 1.0
# --projects --releases --heavy --rounds --duration --phases --peers --corpus --measure-args
#                  go to ../shared/bench/run.sh as they are (see its --help).
#
# Environment: WORK (scratch, default /tmp/bench-stockade: corpus, peers' state, stockade's
# data dir, results), STOCKADE (the CLI, default <repo>/.venv/bin/stockade), plus the shared
# harness's VENVS TOOLS PORT_* variables.
#
# Quick:  bench/run.sh --projects 300 --heavy 400 --rounds 3     (~25 min)
# Full:   bench/run.sh                                            (~45 min; devpi's load is slow)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
SHARED="$(cd "$REPO/../shared/bench" && pwd)"
export WORK="${WORK:-/tmp/bench-stockade}"
export VENVS="${VENVS:-/tmp}"
export TOOLS="${TOOLS:-$VENVS/venv-tools}"
STOCKADE="${STOCKADE:-$REPO/.venv/bin/stockade}"
SPY="$(dirname "$STOCKADE")/python"

WORKERS=2 PORT=8090 BIG=1 BIG_MIB=1024 RESULTS_MD="$HERE/RESULTS.md" WAIT_IDLE=0 OUT=""
CORPUS="$WORK/corpus"
PASS=()
COMMAND="bench/run.sh$(printf ' %q' "$@")"
while [ $# -gt 0 ]; do
  case "$1" in
    --workers) WORKERS="$2"; shift 2;;
    --port) PORT="$2"; shift 2;;
    --no-big) BIG=0; shift;;
    --big-mib) BIG_MIB="$2"; shift 2;;
    --results-md) RESULTS_MD="$2"; shift 2;;
    --no-results-md) RESULTS_MD=""; shift;;
    --wait-idle) WAIT_IDLE=1; shift;;
    --out) OUT="$2"; shift 2;;
    --name|--index-url|--upload-url|--user|--password|--pid|--load)
      echo "$1 is set by bench/run.sh itself" >&2; exit 2;;
    -h|--help) sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0;;
    --projects|--releases|--heavy|--rounds|--duration|--phases|--peers|--corpus|--measure-args)
      [ $# -ge 2 ] || { echo "$1 needs a value" >&2; exit 2; }
      [ "$1" != --corpus ] || CORPUS="$2"
      PASS+=("$1" "$2"); shift 2;;
    *) echo "unknown argument $1" >&2; exit 2;;
  esac
done
[ -x "$STOCKADE" ] || { echo "no stockade CLI at $STOCKADE (set STOCKADE=…)" >&2; exit 2; }
[ -n "$OUT" ] || { OUT="$WORK/results/$(date +%Y%m%d-%H%M%S)"; [ ! -e "$OUT" ] || OUT="$OUT-$$"; }
mkdir -p "$OUT"
DATA="$WORK/stockade-data"       # not under $WORK/state: the shared run.sh wipes that
LOG="$OUT/stockade.log"
BASE="http://127.0.0.1:$PORT"

if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
  echo "port $PORT is in use already; pick another with --port" >&2; exit 1
fi

if [ "$WAIT_IDLE" = 1 ]; then
  for _ in $(seq 1 240); do
    awk '{exit !($1 < 1.0)}' /proc/loadavg && break
    echo "waiting for the machine to be idle (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2; sleep 5
  done
fi

# -- stockade -----------------------------------------------------------------------------------
SPID=""
tree_pids() {  # PID and all its descendants
  local todo=("$1") out=() p
  while [ ${#todo[@]} -gt 0 ]; do
    p="${todo[0]}"; todo=("${todo[@]:1}"); out+=("$p")
    for c in $(ps -o pid= --ppid "$p" 2>/dev/null); do todo+=("$c"); done
  done
  echo "${out[@]}"
}
stop_stockade() {
  [ -n "$SPID" ] || return 0
  local pids; pids="$(tree_pids "$SPID")"
  if kill -0 "$SPID" 2>/dev/null; then
    kill -TERM "$SPID" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
  fi
  for p in $pids; do kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null || true; done
  echo "stopped stockade ($SPID)" >&2
  SPID=""
}
WATCH_PID=""
cleanup() {
  stop_stockade
  if [ -n "$WATCH_PID" ]; then kill -TERM "$WATCH_PID" 2>/dev/null || true; wait "$WATCH_PID" 2>/dev/null || true; WATCH_PID=""; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -rf "$DATA"
mkdir -p "$DATA"
# CPU used by anything outside this run (another CI run, a test suite), for RESULTS.md
"$SPY" "$HERE/cpu_watch.py" --root $$ --pidfiles "${STATE:-$WORK/state}" --out "$OUT/foreign-cpu.jsonl" &
WATCH_PID=$!
# The 1 GiB wheel needs a file-size limit above it (default 100 MiB); nothing else changes.
export STOCKADE_MAX_FILE_SIZE=$(( (BIG_MIB + 64) * 1024 * 1024 ))
export STOCKADE_MAX_PROJECT_SIZE=$(( 20 * 1024 * 1024 * 1024 ))
# No background jobs: the critical-projects job would designate the corpus's real names that
# stockade depends on (six, cryptography, boto3 …) as critical mid-load, and their uploads would
# then need 2FA. Jobs never touch the read path being measured.
export STOCKADE_SCHEDULER=false
"$STOCKADE" serve --data "$DATA" --host 127.0.0.1 --port "$PORT" --workers "$WORKERS" > "$LOG" 2>&1 &
SPID=$!
for _ in $(seq 1 150); do
  curl -fsS -o /dev/null --max-time 2 "$BASE/_health/" 2>/dev/null && break
  kill -0 "$SPID" 2>/dev/null || { echo "stockade exited; log:" >&2; cat "$LOG" >&2; exit 1; }
  sleep 0.2
done
curl -fsS -o /dev/null "$BASE/_health/" || { echo "stockade did not come up; log:" >&2; cat "$LOG" >&2; exit 1; }
echo "stockade serving $BASE (pid $SPID, $WORKERS workers, data $DATA)" >&2
"$STOCKADE" user create bench --email bench@example.invalid --data "$DATA" 2>>"$LOG"
TOKEN="$("$STOCKADE" token create bench --label bench --data "$DATA" 2>>"$LOG")"
[ -n "$TOKEN" ] || { echo "no token" >&2; exit 1; }

# -- facts about this run (RESULTS.md) ------------------------------------------------------------
"$SPY" - "$OUT/run-info.json" "$REPO" "$WORKERS" "$PORT" "$COMMAND" "$CORPUS" <<'EOF'
import json, os, platform, subprocess, sys, time, importlib.metadata as m
out, repo, workers, port, command, corpus = sys.argv[1:]
def sh(*c):
    try:
        return subprocess.run(c, capture_output=True, text=True, cwd=repo).stdout.strip()
    except OSError:
        return ""
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem = int(next(l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal"))) / 2**20
def ver(d):
    try:
        return f"{d}=={m.version(d)}"
    except m.PackageNotFoundError:
        return ""
stack = " ".join(filter(None, map(ver, ("uvicorn", "uvloop", "httptools", "starlette", "fastapi",
                                          "python-multipart", "sqlalchemy"))))
json.dump({
    "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    "machine": f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, {platform.platform()}, "
               f"Python {platform.python_version()}",
    "loadavg_start": open("/proc/loadavg").read().split()[:3],
    "stockade_version": m.version("stockade"),
    "commit": sh("git", "rev-parse", "--short", "HEAD"),
    "dirty": bool(sh("git", "status", "--porcelain", "--untracked-files=no")),
    "stockade_stack": stack,
    "workers": int(workers), "port": int(port), "command": command, "corpus": corpus,
    "settings": "defaults except STOCKADE_MAX_FILE_SIZE / STOCKADE_MAX_PROJECT_SIZE raised for the "
                "1 GiB wheel and the scheduler off (access log off, page cache 64 MiB per worker, "
                "poll 0.5 s)",
}, open(out, "w"), indent=1)
EOF

# -- the shared side-by-side benchmark -----------------------------------------------------------
SHARED_RC=0
"$SHARED/run.sh" --name stockade --index-url "$BASE/simple/" --upload-url "$BASE/legacy/" \
  --user __token__ --password "$TOKEN" --pid "$SPID" --load --out "$OUT" "${PASS[@]}" || SHARED_RC=$?
if [ "$SHARED_RC" != 0 ]; then
  echo "../shared/bench/run.sh failed (exit $SHARED_RC)" >&2
  [ -s "$OUT/results.jsonl" ] || exit "$SHARED_RC"
fi

# -- one 1 GiB wheel ------------------------------------------------------------------------------
if [ "$BIG" = 1 ]; then
  "$SPY" "$HERE/upload_big.py" --url "$BASE/legacy/" --user __token__ --password "$TOKEN" \
    --pid "$SPID" --size-mib "$BIG_MIB" --workdir "$WORK" --out "$OUT/upload_big.jsonl" || true
fi

# -- RSS at the very end, stockade's log, summary ---------------------------------------------------
"$SPY" - "$OUT/run-info.json" "$SPID" "$LOG" "$SHARED_RC" <<'EOF'
import json, os, re, sys, time
path, pid, log, shared_rc = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
kids = {}
for d in os.listdir("/proc"):
    if d.isdigit():
        try:
            kids.setdefault(int(open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()[1]), []).append(int(d))
        except (OSError, ValueError, IndexError):
            pass
total, todo, procs = 0, [pid], []
while todo:
    p = todo.pop()
    try:
        kib = next((int(l.split()[1]) for l in open(f"/proc/{p}/status") if l.startswith("VmRSS:")), 0)
        cmd = open(f"/proc/{p}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        continue
    total += kib
    role = ("resource tracker" if "resource_tracker" in cmd else "worker" if "spawn_main" in cmd
            else "stockade serve (main)" if p == pid else cmd[:60])
    procs.append({"pid": p, "role": role, "rss_kib": kib})
    todo += kids.get(p, [])
info = json.load(open(path))
info["rss_after_big_kib"] = total
info["rss_processes"] = procs
lines = [l.rstrip() for l in open(log, errors="replace")]
bad = [l for l in lines if re.search(r"\b(ERROR|Traceback|Exception)\b", l)]
info["log_errors"] = len(bad)
info["log_first_error"] = bad[0][:200] if bad else ""
info["shared_rc"] = shared_rc
info["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
json.dump(info, open(path, "w"), indent=1)
EOF
cleanup
if [ -n "$RESULTS_MD" ]; then
  "$SPY" "$HERE/results_md.py" --out-dir "$OUT" --md "$RESULTS_MD"
fi
[ "$SHARED_RC" = 0 ] || echo "note: the shared harness exited $SHARED_RC (see above); the summary is partial" >&2
echo "results: $OUT ($( [ -n "$RESULTS_MD" ] && echo "summary: $RESULTS_MD" ))" >&2
