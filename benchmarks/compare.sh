#!/usr/bin/env bash
# One command for the overhead comparison (the kit in ../shared/bench, see its README and
# benchmarks/README.md): direct baseline, the pass-through yardstick on httpx-aiohttp and on raw
# aiohttp, hexgate with one worker, LiteLLM (when its venv exists), the pass-through and hexgate with
# two workers on two cores; one results TSV, then a markdown summary with the goals (benchmarks/summarize.py).
#
#   benchmarks/compare.sh [--kit DIR] [-c "1 32 128"] [-d SECS] [-r N] [-o DIR] [--profile]
#
# Options:
#   --kit DIR      the overhead kit (default $BENCH_KIT, else ../shared/bench from the repo root)
#   -c "1 32 128"  wrk connection counts (the goals are read at 32; --goal-conns to change)
#   -d SECS        seconds per wrk run (default 10; the kit caps it at 30)
#   -r N           repeats of each wrk matrix (default 1)
#   -o DIR         output folder (default bench-results/<timestamp>/, git-ignored)
#   --goal-conns N connection count the goals table is read at (default 32)
#   --profile      after the matrix: hexgate alone on one core under chat, then stream load
#                  (wrk, 32 connections), sampled with py-spy; top frames printed and saved
# Env:
#   PASSTHROUGH_VENV (/tmp/venv-proto; made with python3 -m venv + pip when missing)
#   LITELLM_VENV (/tmp/venv-litellm; LiteLLM is skipped when it has no bin/litellm)
#   ports: PASSTHROUGH_PORT=8200 PASSTHROUGH_AIOHTTP_PORT=8201 HEXGATE_PORT=8300 LITELLM_PORT=4000
#   SCALE_CPUS=0,1 (cores of the --workers 2 run), PROFILE_CPUS=1, PROFILE_SECS=10
#   the kit's own: MOCK_PORT=18080 MOCK_CPUS=0 LOAD_CPUS=0 GW_CPUS=1 WARMUP=3 ...
# Outputs in the output folder: results.tsv and results.streams.tsv (the kit's columns), summary.md
# (also printed), logs/ (each gateway's log, each run.sh's table); with --profile also
# profile-{chat,stream}.raw (py-spy) and profile-{chat,stream}.top.txt. Exit status 1 when a run failed.
#
# Everything binds 127.0.0.1; every background process started here (the mock, each run.sh, the
# profiled gateway, wrk) runs in its own session (setsid) and its process group is stopped on exit.
# A port already in use skips that run (run.sh would otherwise measure whatever answers there).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

KIT=${BENCH_KIT:-$ROOT/../shared/bench}
CONNS="1 32 128" DUR=10 REPS=1 OUT="" PROFILE=0 GOAL_CONNS=32
while [[ $# -gt 0 ]]; do
  case "$1" in
    --kit) KIT=$2; shift 2 ;;
    -c | --conns) CONNS=$2; shift 2 ;;
    -d | --duration) DUR=$2; shift 2 ;;
    -r | --repeats) REPS=$2; shift 2 ;;
    -o | --out) OUT=$2; shift 2 ;;
    --goal-conns) GOAL_CONNS=$2; shift 2 ;;
    --profile) PROFILE=1; shift ;;
    -h | --help) awk 'NR > 1 && /^#/ { print substr($0, 3); next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

PV=${PASSTHROUGH_VENV:-/tmp/venv-proto}
LV=${LITELLM_VENV:-/tmp/venv-litellm}
PT_PORT=${PASSTHROUGH_PORT:-8200}
PTA_PORT=${PASSTHROUGH_AIOHTTP_PORT:-8201}
HG_PORT=${HEXGATE_PORT:-8300}
LL_PORT=${LITELLM_PORT:-4000}
SCALE_CPUS=${SCALE_CPUS:-0,1}
PROFILE_CPUS=${PROFILE_CPUS:-1}
PROFILE_SECS=${PROFILE_SECS:-10}
MOCK_PORT=${MOCK_PORT:-18080}
MOCK_CPUS=${MOCK_CPUS:-0}
LOAD_CPUS=${LOAD_CPUS:-0}
export MOCK_PORT MOCK_CPUS LOAD_CPUS
MOCK_URL="http://127.0.0.1:${MOCK_PORT}"
HEXGATE="$ROOT/.venv/bin/hexgate"
# the packages the kit's README installs into the pass-through's venv
PT_PACKAGES=(litestar msgspec httpx httpx-aiohttp aiohttp 'uvicorn[standard]')

log() { printf '[compare %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "$*"; exit 2; }
q() { printf '%q ' "$@"; } # one shell-quoted string: run.sh runs its command as `bash -c "exec $*"`
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---------- checks, before anything is started ----------
[[ -x "$KIT/run.sh" && -f "$KIT/report.py" ]] ||
  die "no overhead kit at $KIT (give --kit DIR or BENCH_KIT; it is ../shared/bench from the repo root)"
KIT="$(cd "$KIT" && pwd)"
[[ "$DUR" =~ ^[0-9]+$ && "$REPS" =~ ^[0-9]+$ && "$GOAL_CONNS" =~ ^[0-9]+$ ]] || die "-d, -r and --goal-conns take integers"
for c in $CONNS; do [[ "$c" =~ ^[0-9]+$ ]] || die "-c takes connection counts, e.g. \"1 32 128\""; done
[[ -x "$HEXGATE" ]] || die "no $HEXGATE: make the venv with scripts/test (or uv sync) first"
for t in nginx wrk taskset curl python3 setsid; do
  command -v "$t" >/dev/null || die "missing $t (apt-get install -y nginx libnginx-mod-http-echo wrk)"
done
port_busy "$MOCK_PORT" && die "port $MOCK_PORT (the mock) is in use: another bench running? set MOCK_PORT"

TS=$(date +%Y%m%d-%H%M%S)
OUT=${OUT:-$ROOT/bench-results/$TS}
mkdir -p "$OUT/logs"
OUT="$(cd "$OUT" && pwd)"
TSV="$OUT/results.tsv"
[[ -e "$TSV" ]] && die "$TSV exists: give a new output folder"
RT=$(mktemp -d /tmp/hexgate-compare.XXXXXX) # the kit's runtime folder (mock config, gateway logs)
chmod 755 "$RT"                             # nginx's workers (not root) read the mock's answers under it
export BENCH_RT=$RT BENCH_RESULTS=$OUT

# ---------- cleanup: every process group started here ----------
CHILD="" # the run.sh (or the profile's wrk) this script waits for, in its own session
MOCK_PID="" PROF_PID=""
stop_group() { # $1 pid of a process-group leader we started, $2 seconds before KILL
  local pid=$1 secs=${2:-10} i
  [[ -n "$pid" ]] || return 0
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < secs * 5; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  trap - EXIT INT TERM
  stop_group "$CHILD" 40 # run.sh stops its own gateway on TERM: give it the time to
  stop_group "$PROF_PID" 15
  stop_group "$MOCK_PID" 5
  cp "$RT"/gw-*.log "$OUT/logs/" 2>/dev/null || true
  rm -rf "$RT"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# ---------- the pass-through's venv ----------
if ! "$PV/bin/python" -c 'import litestar, msgspec, httpx, httpx_aiohttp, aiohttp, uvloop, httptools' 2>/dev/null; then
  log "making the pass-through venv $PV: ${PT_PACKAGES[*]}"
  [[ -x "$PV/bin/python" ]] || python3 -m venv "$PV"
  "$PV/bin/pip" install -q "${PT_PACKAGES[@]}"
fi
if ((PROFILE)) && [[ ! -x "$PV/bin/py-spy" ]]; then
  log "installing py-spy into $PV"
  "$PV/bin/pip" install -q py-spy
fi

# ---------- the mock upstream, one for every run (run.sh reuses a mock that answers) ----------
mock_up() { curl -s -m 1 "$MOCK_URL/health" 2>/dev/null | grep -q ok; }
mkdir -p "$RT/mock"
python3 "$KIT/mock/gen_mock.py" "$RT/mock" "$MOCK_PORT" >/dev/null
nginx -t -q -p "$RT/mock" -c "$RT/mock/nginx.conf"
setsid taskset -c "$MOCK_CPUS" nginx -p "$RT/mock" -c "$RT/mock/nginx.conf" </dev/null >"$RT/mock/stdout.log" 2>&1 &
MOCK_PID=$!
for _ in $(seq 1 50); do mock_up && break; sleep 0.1; done
mock_up || die "the mock did not start; see $RT/mock/logs/error.log"
curl -s -m 5 -X POST -H 'Content-Type: application/json' --data-binary @"$RT/mock/bodies/chat.json" \
  "$MOCK_URL/v1/chat/completions" | grep -q '"choices"' ||
  die "the mock does not answer chat: $(tail -n 2 "$RT/mock/logs/error.log")"
log "mock nginx pid $MOCK_PID on $MOCK_URL (cpus $MOCK_CPUS); results in $OUT"

# ---------- the matrix ----------
FAILED=()
run_kit() { # run_kit LABEL PORT RUN.SH-ARGS... : one run.sh into the shared TSV, in its own session
  local label=$1 port=$2 rc=0
  shift 2
  if [[ -n "$port" ]] && port_busy "$port"; then
    log "SKIP $label: port $port is already in use (run.sh would measure whatever listens there)"
    FAILED+=("$label: port $port in use")
    return 0
  fi
  log "== $label"
  # progress (stderr) shows; run.sh's cumulative table (stdout) goes to logs/, summary.md has the final one
  setsid "$KIT/run.sh" -o "$TSV" -d "$DUR" -r "$REPS" "$@" </dev/null >"$OUT/logs/run-$label.txt" &
  CHILD=$!
  wait "$CHILD" || rc=$?
  CHILD=""
  ((rc == 0)) || { log "$label: run.sh exited $rc"; FAILED+=("$label: run.sh exited $rc"); }
}
uvicorn_pt() { # uvicorn_pt CLIENT PORT [WORKERS] : the kit's pass-through start command
  q env "UPSTREAM_CLIENT=$1" "$PV/bin/uvicorn" --app-dir "$KIT/passthrough" app:app --host 127.0.0.1 \
    --port "$2" --workers "${3:-1}" --loop uvloop --http httptools --no-access-log --log-level warning
}
hexgate_cmd() { # hexgate_cmd PORT [ARGS...]
  local port=$1
  shift
  q "$HEXGATE" serve --config "$ROOT/benchmarks/bench.toml" --host 127.0.0.1 --port "$port" "$@"
}

run_kit direct "" -c "$CONNS" --direct-only
run_kit passthrough "$PT_PORT" -N -n passthrough -u "http://127.0.0.1:$PT_PORT" -c "$CONNS" -- \
  "$(uvicorn_pt httpx-aiohttp "$PT_PORT")"
run_kit passthrough-aiohttp "$PTA_PORT" -N -n passthrough-aiohttp -u "http://127.0.0.1:$PTA_PORT" -c "$CONNS" -- \
  "$(uvicorn_pt aiohttp "$PTA_PORT")"
run_kit hexgate "$HG_PORT" -N -n hexgate -u "http://127.0.0.1:$HG_PORT" -c "$CONNS" -- "$(hexgate_cmd "$HG_PORT")"
if [[ -x "$LV/bin/litellm" ]]; then
  run_kit litellm "$LL_PORT" -N -n litellm -u "http://127.0.0.1:$LL_PORT" -c "$CONNS" -- \
    "$(q env "LITELLM_VENV=$LV" "LITELLM_PORT=$LL_PORT" bash "$KIT/litellm/start.sh")"
else
  log "LiteLLM skipped: no $LV/bin/litellm (LITELLM_VENV)"
fi
if "$HEXGATE" serve --help 2>/dev/null | grep -q -- '--workers'; then
  scale_conns=""
  for c in $CONNS; do ((c > 1)) && scale_conns+="$c "; done
  # the yardstick: what two workers give on these cores when the gateway has no features at all
  GW_CPUS=$SCALE_CPUS run_kit passthrough-w2 "$PT_PORT" -N -P -n passthrough-w2 -u "http://127.0.0.1:$PT_PORT" \
    -s chat -c "${scale_conns:-32}" -- "$(uvicorn_pt httpx-aiohttp "$PT_PORT" 2)"
  GW_CPUS=$SCALE_CPUS run_kit hexgate-w2 "$HG_PORT" -N -P -n hexgate-w2 -u "http://127.0.0.1:$HG_PORT" -s chat \
    -c "${scale_conns:-32}" -- "$(hexgate_cmd "$HG_PORT" --workers 2)"
else
  log "scaling run skipped: this hexgate serve has no --workers"
  FAILED+=("hexgate-w2: hexgate serve has no --workers")
fi

# ---------- summary ----------
commit="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
git -C "$ROOT" diff --quiet HEAD 2>/dev/null || commit+=" (uncommitted changes)"
meta=(
  --meta "date=$(date -Iseconds)"
  --meta "hexgate=$("$HEXGATE" --version 2>/dev/null || echo '?'), commit $commit"
  --meta "machine=$(nproc) cores, $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo), $(uname -r)"
  --meta "run=conns \"$CONNS\", ${DUR} s per wrk run, $REPS repeat(s); gateway on cpus ${GW_CPUS:-1}, mock and wrk on $MOCK_CPUS/$LOAD_CPUS; workers-2 run on cpus $SCALE_CPUS"
)
for f in "${FAILED[@]}"; do meta+=(--meta "not measured=$f"); done
python3 "$ROOT/benchmarks/summarize.py" "$TSV" --kit "$KIT" --conns "$GOAL_CONNS" "${meta[@]}" >"$OUT/summary.md"

# ---------- optional profile ----------
bench_body() { echo "$RT/mock/bodies/$1.json"; }
WRK_CMD=(taskset -c "$LOAD_CPUS" wrk -t1 -c32 --timeout 10s -s "$KIT/wrk/post.lua" "http://127.0.0.1:$HG_PORT")
if ((PROFILE)); then
  if port_busy "$HG_PORT"; then
    log "profile skipped: port $HG_PORT in use"
  else
    log "== profile: hexgate alone on cpus $PROFILE_CPUS, py-spy at 200 Hz, ${PROFILE_SECS} s each of chat and stream"
    MOCK_URL=$MOCK_URL setsid taskset -c "$PROFILE_CPUS" bash -c "exec $(hexgate_cmd "$HG_PORT")" </dev/null \
      >"$RT/gw-hexgate-profile.log" 2>&1 &
    PROF_PID=$!
    ready=0
    for _ in $(seq 1 300); do
      curl -s -m 5 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
        -H 'Authorization: Bearer sk-bench-5f1c9e2a7b3d4e6f8a9b0c1d2e3f4a5b' \
        --data-binary @"$(bench_body chat)" "http://127.0.0.1:$HG_PORT/v1/chat/completions" 2>/dev/null |
        grep -q 200 && { ready=1; break; }
      kill -0 "$PROF_PID" 2>/dev/null || break
      sleep 0.3
    done
    if ((!ready)); then
      log "profile: hexgate did not become ready; see $OUT/logs/gw-hexgate-profile.log"
    else
      BENCH_BODY=$(bench_body chat) BENCH_PATH=/v1/chat/completions timeout 30 "${WRK_CMD[@]}" -d3s \
        </dev/null >/dev/null 2>&1 || true # warm-up
      for scen in chat stream; do
        raw="$OUT/profile-$scen.raw"
        # wrk in its own session (stopped with the others on exit), 2 s longer than py-spy samples
        BENCH_BODY=$(bench_body "$scen") BENCH_PATH=/v1/chat/completions setsid timeout $((PROFILE_SECS + 30)) \
          "${WRK_CMD[@]}" -d"$((PROFILE_SECS + 2))s" </dev/null >"$OUT/logs/wrk-profile-$scen.log" 2>&1 &
        CHILD=$!
        sleep 1
        timeout $((PROFILE_SECS + 30)) taskset -c "$LOAD_CPUS" "$PV/bin/py-spy" record -r 200 -f raw \
          -d "$PROFILE_SECS" -p "$PROF_PID" -o "$raw" >"$OUT/logs/py-spy-$scen.log" 2>&1 ||
          log "py-spy failed for $scen: $(tail -n 3 "$OUT/logs/py-spy-$scen.log")"
        wait "$CHILD" || true
        CHILD=""
        if [[ -s "$raw" ]]; then
          python3 "$ROOT/benchmarks/pyspy_top.py" "$raw" --title "$scen, 32 connections" >"$OUT/profile-$scen.top.txt"
          {
            printf '\n## Profile: %s (py-spy, hexgate alone on cpus %s, wrk c=32)\n\n```\n' "$scen" "$PROFILE_CPUS"
            cat "$OUT/profile-$scen.top.txt"
            printf '```\n'
          } >>"$OUT/summary.md"
        fi
      done
    fi
    stop_group "$PROF_PID" 15
    PROF_PID=""
  fi
fi

cat "$OUT/summary.md"
log "done: $OUT (summary.md, results.tsv, results.streams.tsv, logs/)"
((${#FAILED[@]} == 0)) || { log "not measured: ${FAILED[*]}"; exit 1; }
