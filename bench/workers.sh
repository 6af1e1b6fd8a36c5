#!/usr/bin/env bash
# `workers`: throughput of 1 and 2 gateway processes (node:cluster) on this machine, and limits that
# stay exact across the workers.
#
#   bash bench/workers.sh [SECONDS=10] [ROUNDS=3] [h1|h2]
#   BENCH_PROFILE=full bash bench/workers.sh     # the full pipeline: limits go through the cluster store
#
# Placement (2 cores): 1 worker → the group (primary + worker) pinned to CPU 0; 2 workers (`workers:
# auto`, which is one per core of the affinity mask) → pinned to CPUs 0,1. The origin (node:http) and
# the load generator (wrk -t1 -c100 / h2load -t1 -c20 -m10) stay on CPU 1 in both runs, so the second
# worker shares its core with them: the scaling ratio here is a floor, not what two free cores give.
# Each round measures 1 then 2 workers; the proxy's CPU is utime+stime of the whole process tree.
# Then the limit check: 2 workers, a rate limit (500 per 30 days: no refill to speak of during the
# check) and a quota (2,000 per day),
# 3,000 requests over 20 connections (spread over both workers by the primary's round-robin): exactly
# 500 and 2,000 may pass.
# Loopback only; ports 28545 (gateway), 29005 (admin), 28080 (origin), each + BENCH_PORT_OFFSET.
set -euo pipefail
SECS=${1:-10}
ROUNDS=${2:-3}
PROTO=${3:-h1}
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
# shellcheck source=lib/cpu-setup.sh
. "$BENCH_DIR/lib/cpu-setup.sh"
cpu_setup workers 28545 29005
OFF=${BENCH_PORT_OFFSET:-0}
PORT=$((28545 + OFF)) ADMIN=$((29005 + OFF))
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
taskset -c 1 node "$OUT/origin.mjs" & PIDS+=($!)
CLK_TCK=$(getconf CLK_TCK)
# utime+stime of PID and its descendants, in ticks
tree_ticks() {
  local pid=$1 total child
  total=$(awk '{print $14+$15}' "/proc/$pid/stat" 2>/dev/null || echo 0)
  for child in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do total=$((total + $(tree_ticks "$child"))); done
  echo "$total"
}
# config WORKERS FILE: the cpu-setup gateway.yaml with `workers` and this script's ports
config() {
  { echo "workers: $1"; sed -e "s/port: $((28545 + OFF)) }/port: $PORT }/" "$OUT/gateway.yaml"; } > "$2"
}
# start_group CPUS CONFIG: sets TG; waits until it answers
start_group() {
  taskset -c "$1" node "$ROOT/bin/tollgate.js" start --config "$2" > "$OUT/tollgate.log" 2>&1 & TG=$!; PIDS+=("$TG")
  for _ in $(seq 1 200); do curl -sk --http1.1 -H 'x-limit: none' "https://127.0.0.1:$PORT/bench" -o /dev/null 2>/dev/null && return 0; sleep 0.2; done
  echo "workers: tollgate did not answer" >&2; tail -5 "$OUT/tollgate.log" >&2; exit 1
}
stop_group() {
  kill -TERM "$TG" 2>/dev/null || true
  for _ in $(seq 1 150); do kill -0 "$TG" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$TG" 2>/dev/null || true
  wait "$TG" 2>/dev/null || true
}
# load SECONDS OUT: prints the number of good responses (fails on any error)
load() {
  if [ "$PROTO" = h2 ]; then
    timeout $(($1 + 30)) taskset -c 1 h2load -t1 -c20 -m10 -D "$1" "https://127.0.0.1:$PORT/bench" > "$2" 2>&1
    grep -q " 0 failed, 0 errored" "$2" || { cat "$2" >&2; exit 1; }
    grep -o "[0-9]* succeeded" "$2" | awk '{print $1}'
  else
    timeout $(($1 + 30)) taskset -c 1 wrk -t1 -c100 -d"$1"s "https://127.0.0.1:$PORT/bench" > "$2" 2>&1
    if grep -q "Non-2xx\|Socket errors" "$2"; then cat "$2" >&2; exit 1; fi
    grep -o "[0-9]* requests in" "$2" | awk '{print $1}'
  fi
}
config 1 "$OUT/w1.yaml"
config auto "$OUT/w2.yaml"
echo "workers: profile ${BENCH_PROFILE:-route}, $PROTO, ${SECS}s per run, $ROUNDS rounds; origin + load generator on CPU 1"
printf '%-6s %-8s %8s %10s %12s %14s\n' round workers 'req/s' 'req/s/wkr' 'proxy CPU %' 'ms CPU / 1k'
R1=() R2=()
for r in $(seq 1 "$ROUNDS"); do
  for n in 1 2; do
    if [ "$n" = 1 ]; then start_group 0 "$OUT/w1.yaml"; else start_group 0,1 "$OUT/w2.yaml"; fi
    load 3 "$OUT/warm.txt" >/dev/null
    c0=$(tree_ticks "$TG"); t0=$(date +%s%N)
    req=$(load "$SECS" "$OUT/load.txt")
    t1=$(date +%s%N); c1=$(tree_ticks "$TG")
    stop_group
    line=$(awk -v r="$r" -v n="$n" -v req="$req" -v ns="$((t1 - t0))" -v ticks="$((c1 - c0))" -v hz="$CLK_TCK" 'BEGIN {
      s = ns / 1e9; rps = req / s; cpu = ticks / hz;
      printf "%-6d %-8d %8.0f %10.0f %12.0f %14.1f", r, n, rps, rps / n, 100 * cpu / s, cpu * 1e6 / req }')
    echo "$line"
    if [ "$n" = 1 ]; then R1+=("$(echo "$line" | awk '{print $3}')"); else R2+=("$(echo "$line" | awk '{print $3}')"); fi
  done
done
ratios=()
for i in "${!R1[@]}"; do ratios+=("$(awk -v a="${R1[$i]}" -v b="${R2[$i]}" 'BEGIN { printf "%.2f", b / a }')"); done
echo "scaling ratio (2 workers ÷ 1, req/s) per round: ${ratios[*]}; median $(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }')"

# ---- limits across workers
cat > "$OUT/limits.yaml" <<YAML
workers: 2
listen: { host: 127.0.0.1, port: $PORT }
admin: { host: 127.0.0.1, port: $ADMIN }
tls: { cert: cert.pem, key: key.pem }
ca: { dir: ca }
limits: { newConnectionsPerIp: { count: 0 }, overload: { maxEventLoopDelay: 0s } }
routes:
  - name: open
    match: { pathPrefix: /, headers: { x-limit: none } }
    upstream: origin
  - name: rate
    match: { pathPrefix: /, headers: { x-limit: rate } }
    upstream: origin
    rateLimit: { rate: 500, per: 30d, burst: 500, by: ip }
  - name: quota
    match: { pathPrefix: / }
    upstream: origin
    quota: { limit: 2000, per: 1d, by: ip }
upstreams:
  origin: { targets: [{ url: "http://127.0.0.1:$ORIGIN_PORT" }] }
YAML
rm -rf "$OUT/ca"
start_group 0,1 "$OUT/limits.yaml"
workers_before=$(for c in $(cat /proc/"$TG"/task/*/children); do echo "$c:$(tree_ticks "$c")"; done)
timeout 120 taskset -c 1 h2load -n 3000 -c 20 -m 1 -H 'x-limit: rate' "https://127.0.0.1:$PORT/bench" > "$OUT/limit-rate.txt" 2>&1 || true
timeout 120 taskset -c 1 h2load -n 3000 -c 20 -m 1 "https://127.0.0.1:$PORT/bench" > "$OUT/limit-quota.txt" 2>&1 || true
busy=0
for wc in $workers_before; do
  c=${wc%%:*} before=${wc##*:}
  [ $(($(tree_ticks "$c") - before)) -gt 0 ] && busy=$((busy + 1))
done
stop_group
for kind in rate quota; do
  want=500; [ "$kind" = quota ] && want=2000
  codes=$(grep -o 'status codes: .*' "$OUT/limit-$kind.txt")
  ok=$(echo "$codes" | grep -o '[0-9]* 2xx' | awk '{print $1}')
  refused=$(echo "$codes" | grep -o '[0-9]* 4xx' | awk '{print $1}')
  verdict=EXACT; [ "$ok" = "$want" ] && [ "$refused" = $((3000 - want)) ] || verdict=WRONG
  echo "limits across 2 workers ($busy of 2 workers took CPU): $kind limit $want, 3000 requests over 20 connections: $ok passed, $refused refused (429): $verdict"
done
