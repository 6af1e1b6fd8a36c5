#!/usr/bin/env bash
# CPU time per request, A/B: the undici forwarder (on node:http2 + allowHTTP1) against tollgate, run
# alternately over a fixed number of requests. Less noisy than req/s on a shared machine, because it
# counts the proxy's own CPU time (utime+stime from /proc) per request, not what a load core achieved.
#
#   bash bench/cpu-ab.sh [ROUNDS=3] [REQUESTS=40000] [h2|h1]
#   TOLLGATE_DATA_PATH=fastify bash bench/cpu-ab.sh    # the same, tollgate through the fastify catch-all
#   TOLLGATE_NODE_FLAGS=--max-semi-space-size=64 bash bench/cpu-ab.sh   # node flags for tollgate only
#
# Loopback only, ports 28080 (origin) and 28443 (proxy), each + BENCH_PORT_OFFSET (default 0), everything stopped by PID on exit.
set -euo pipefail
ROUNDS=${1:-3}
N=${2:-40000}
PROTO=${3:-h2}
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
# shellcheck source=lib/cpu-setup.sh
. "$BENCH_DIR/lib/cpu-setup.sh"
cpu_setup cpu-ab 28443 28901
P_PORT=$((28443 + ${BENCH_PORT_OFFSET:-0}))

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
taskset -c 1 node "$OUT/origin.mjs" & PIDS+=($!)

cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
CLK_TCK=$(getconf CLK_TCK)
run_peer() {
  local name=$1; shift
  taskset -c 0 "$@" > "$OUT/$name.log" 2>&1 & local pid=$!
  PIDS+=("$pid")
  for _ in $(seq 1 150); do curl -sk --http1.1 https://127.0.0.1:$P_PORT/bench -o /dev/null 2>/dev/null && break; sleep 0.2; done
  if [ "$PROTO" = h2 ]; then timeout 120 taskset -c 1 h2load -n 5000 -c10 -m10 https://127.0.0.1:$P_PORT/bench >/dev/null 2>&1
  else timeout 60 taskset -c 1 wrk -t1 -c50 -d2s https://127.0.0.1:$P_PORT/bench >/dev/null 2>&1; fi
  local c0 c1 reqs
  c0=$(cpu_ticks "$pid")
  if [ "$PROTO" = h2 ]; then
    timeout 300 taskset -c 1 h2load -n "$N" -c10 -m10 https://127.0.0.1:$P_PORT/bench > "$OUT/load.txt" 2>&1
    grep -q "$N succeeded" "$OUT/load.txt" || { echo "cpu-ab: $name: not every request succeeded" >&2; cat "$OUT/load.txt" >&2; exit 1; }
    reqs=$N
  else
    timeout 60 taskset -c 1 wrk -t1 -c50 -d5s https://127.0.0.1:$P_PORT/bench > "$OUT/load.txt" 2>&1
    reqs=$(grep -o "[0-9]* requests in" "$OUT/load.txt" | awk '{print $1}')
  fi
  c1=$(cpu_ticks "$pid")
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  awk -v n="$name" -v d="$((c1 - c0))" -v t="$CLK_TCK" -v r="$reqs" 'BEGIN { printf "%-10s %7.1f ms CPU / 1k requests (%d requests)\n", n, d * 1000 / t * 1000 / r, r }'
}
export BENCH_PEER_PORT=$P_PORT BENCH_ORIGIN=http://127.0.0.1:$ORIGIN_PORT BENCH_CERT="$OUT/cert.pem" BENCH_KEY="$OUT/key.pem"
for _ in $(seq 1 "$ROUNDS"); do
  run_peer undici-h2 node "$BENCH_DIR/peers/undici-forwarder.mjs" --http2
  run_peer tollgate node ${TOLLGATE_NODE_FLAGS:-} "$ROOT/bin/tollgate.js" start --config "$OUT/gateway.yaml"
done
