#!/usr/bin/env bash
# CPU profile of tollgate under load: `node --cpu-prof`, then the top of the self-time table.
#
#   bash bench/cpu-profile.sh [SECONDS=10] [h1|h2|mtls] [TOP=25]
#   BENCH_PROFILE=full bash bench/cpu-profile.sh 10 h1    # the full pipeline (lib/cpu-setup.sh)
#   TOLLGATE_ROOT=/path/to/other/checkout bash bench/cpu-profile.sh   # profile that checkout's build
#
# tollgate alone on CPU 0 (origin and load generator on CPU 1, as in cpu-pair.sh), a 3 s warm-up, then
# SECONDS of load; SIGTERM writes the profile (bench/out/cpu-profile/<time>-<pid>/*.cpuprofile, one directory per run; open it in Chrome
# DevTools) and bench/lib/profile-top.mjs prints µs of self time per request (warm-up requests
# left out: the samples before the measured load are skipped) and each entry's share of the non-idle time.
# Loopback only; ports 28445 (tollgate), 28080 (origin), 28904 (admin), each + BENCH_PORT_OFFSET.
set -euo pipefail
SECS=${1:-10}
PROTO=${2:-h1}
TOP=${3:-25}
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
# shellcheck source=lib/cpu-setup.sh
. "$BENCH_DIR/lib/cpu-setup.sh"
cpu_setup cpu-profile 28445 28904
PORT=$((28445 + ${BENCH_PORT_OFFSET:-0}))
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
taskset -c 1 node "$OUT/origin.mjs" & PIDS+=($!)
PROF_DIR="$OUT/$(date -u +%Y%m%dT%H%M%S)-$$"
mkdir -p "$PROF_DIR"
TG_ROOT=${TOLLGATE_ROOT:-$ROOT}
[ "$TG_ROOT" = "$ROOT" ] || (cd "$TG_ROOT" && npm run --silent build >/dev/null)
T_START=$(date +%s%N)
taskset -c 0 node --cpu-prof --cpu-prof-dir="$PROF_DIR" "$TG_ROOT/bin/tollgate.js" start --config "$OUT/gateway.yaml" > "$OUT/tollgate.log" 2>&1 & TG=$!; PIDS+=("$TG")
for _ in $(seq 1 150); do curl -sk --http1.1 "https://127.0.0.1:$PORT/bench" -o /dev/null 2>/dev/null && break; sleep 0.2; done
curl -sfk --http1.1 "https://127.0.0.1:$PORT/bench" -o /dev/null || { echo "cpu-profile: tollgate did not answer" >&2; exit 1; }
BODY="ok$(printf 'x%.0s' $(seq 62))"
# load SECONDS OUTFILE; prints the number of successful requests
load() {
  case "$PROTO" in
    h2) timeout $(($1 + 30)) taskset -c 1 h2load -t1 -c10 -m10 -D "$1" "https://127.0.0.1:$PORT/bench" > "$2" 2>&1
      grep -q " 0 failed, 0 errored" "$2" || { cat "$2" >&2; exit 1; }
      grep -o "[0-9]* succeeded" "$2" | awk '{print $1}' ;;
    mtls) timeout $(($1 + 30)) taskset -c 1 node "$BENCH_DIR/peers/mtls-load.mjs" --url "https://127.0.0.1:$PORT/bench" --duration "$1" \
        --connections 50 --cert "$OUT/client.crt" --key "$OUT/client.key" --ca "$OUT/cert.pem" --body "$BODY" --header 'x-bench-client: mtls' > "$2" 2>&1
      grep -q '"non2xx":0,"errors":0,"errorKinds":{},"badBody":0' "$2" || { cat "$2" >&2; exit 1; }
      grep -o '"requests":[0-9]*' "$2" | cut -d: -f2 ;;
    *) timeout $(($1 + 30)) taskset -c 1 wrk -t1 -c50 -d"$1"s "https://127.0.0.1:$PORT/bench" > "$2" 2>&1
      if grep -q "Non-2xx\|Socket errors" "$2"; then cat "$2" >&2; exit 1; fi
      grep -o "[0-9]* requests in" "$2" | awk '{print $1}' ;;
  esac
}
w=$(load 3 "$OUT/warm.txt")
T_LOAD=$(date +%s%N)
n=$(load "$SECS" "$OUT/load.txt")
kill -TERM "$TG"
for _ in $(seq 1 100); do kill -0 "$TG" 2>/dev/null || break; sleep 0.1; done
prof=$(ls -t "$PROF_DIR"/*.cpuprofile | head -1)
echo "cpu-profile: $PROTO, profile ${BENCH_PROFILE:-route}, $n requests measured (after $w warm-up), $prof"
node "$BENCH_DIR/lib/profile-top.mjs" "$prof" "$n" "$TOP" --skip-ms=$(((T_LOAD - T_START) / 1000000))
node "$BENCH_DIR/lib/profile-top.mjs" "$prof" "$n" 15 --by-file --skip-ms=$(((T_LOAD - T_START) / 1000000))
