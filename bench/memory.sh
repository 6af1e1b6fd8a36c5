#!/usr/bin/env bash
# Memory and control-plane figures:
#   1. bytes per idle TLS connection, HTTP/1.1 and HTTP/2, at CONNECTIONS idle connections
#   2. heap after RELOADS reloads (POST /reload, the config alternating between two versions)
#   3. start-up and reload time of a 10,000-route config; route match time (bench/route-match.ts)
#
#   bash bench/memory.sh [CONNECTIONS=10000] [RELOADS=1000]
#
# tollgate runs with --expose-gc and bench/lib/gc-on-signal.cjs: each reading is taken after a full
# GC (SIGUSR2), RSS and heapUsed from process.memoryUsage(). Per connection = (after − before) ÷ N;
# the client (bench/lib/idle-conns.mjs) opens them 100 at a time, gets one 200 on each and holds them.
# The gateway config is the `route` profile with maxConnections and idleTimeout raised so that
# 10,000 idle connections stay open. The script raises its open-file limit to the hard limit.
# Loopback only; ports 28548 (gateway), 29007 (admin), 28080 (origin), each + BENCH_PORT_OFFSET.
set -euo pipefail
CONNS=${1:-10000}
RELOADS=${2:-1000}
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
# shellcheck source=lib/cpu-setup.sh
. "$BENCH_DIR/lib/cpu-setup.sh"
cpu_setup memory 28548 29007
OFF=${BENCH_PORT_OFFSET:-0}
PORT=$((28548 + OFF)) ADMIN=$((29007 + OFF))
ulimit -n "$(ulimit -Hn)"
(( $(ulimit -n) > CONNS + 1000 )) || { echo "memory: open-file limit $(ulimit -n) is too low for $CONNS connections" >&2; exit 1; }
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
taskset -c 1 node "$OUT/origin.mjs" & PIDS+=($!)
# write_config FILE TIMEOUT [ROUTES]
write_config() {
  {
    echo "listen: { host: 127.0.0.1, port: $PORT }"
    echo "admin: { host: 127.0.0.1, port: $ADMIN }"
    echo "tls: { cert: cert.pem, key: key.pem }"
    echo "ca: { dir: ca }"
    echo "limits: { newConnectionsPerIp: { count: 0 }, overload: { maxEventLoopDelay: 0s }, maxConnections: $((CONNS + 1000)), idleTimeout: 10m }"
    echo "upstreams:"
    echo "  origin: { targets: [{ url: \"http://127.0.0.1:$ORIGIN_PORT\" }] }"
    echo "routes:"
    local n=${3:-0} i
    for ((i = 0; i < n; i++)); do
      if ((i % 10 == 9)); then echo "  - { name: svc$i, match: { path: /svc$i/v1/health }, upstream: origin, timeout: $2 }"
      elif ((i % 7 == 3)); then echo "  - { name: svc$i, match: { pathPrefix: /svc$i/v1, host: svc$i.example.com }, upstream: origin, stripPrefix: true, timeout: $2 }"
      else echo "  - { name: svc$i, match: { pathPrefix: /svc$i/v1 }, upstream: origin, stripPrefix: true, timeout: $2 }"; fi
    done
    echo "  - { name: bench, match: { pathPrefix: / }, upstream: origin, timeout: $2 }"
  } > "$1"
}
start_tg() {
  T_START=$(date +%s%N)
  taskset -c 0 node --expose-gc --require "$BENCH_DIR/lib/gc-on-signal.cjs" "$ROOT/bin/tollgate.js" start --config "$1" > "$OUT/tollgate.out" 2> "$OUT/tollgate.err" & TG=$!; PIDS+=("$TG")
  for _ in $(seq 1 600); do curl -sk --http1.1 "https://127.0.0.1:$PORT/bench" -o /dev/null 2>/dev/null && break; sleep 0.1; done
  T_READY=$(date +%s%N)
  curl -sfk --http1.1 "https://127.0.0.1:$PORT/bench" -o /dev/null || { echo "memory: tollgate did not answer" >&2; tail -3 "$OUT/tollgate.err" >&2; exit 1; }
}
stop_tg() { kill -TERM "$TG"; for _ in $(seq 1 150); do kill -0 "$TG" 2>/dev/null || break; sleep 0.1; done; kill -KILL "$TG" 2>/dev/null || true; wait "$TG" 2>/dev/null || true; }
# snapshot: full GC in tollgate, then "rss heapUsed" of that moment
snapshot() {
  local before
  before=$(grep -c BENCH_MEMORY "$OUT/tollgate.err" || true)
  kill -USR2 "$TG"
  for _ in $(seq 1 100); do (( $(grep -c BENCH_MEMORY "$OUT/tollgate.err" || true) > before )) && break; sleep 0.1; done
  grep BENCH_MEMORY "$OUT/tollgate.err" | tail -1 | sed 's/^BENCH_MEMORY //' | node -e 'const m = JSON.parse(require("fs").readFileSync(0, "utf8")); console.log(m.rss, m.heapUsed)'
}
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1048576 }'; }

# ---- 1. idle connections
write_config "$OUT/memory.yaml" 5s
for proto in h1 h2; do
  start_tg "$OUT/memory.yaml"
  timeout 60 taskset -c 1 h2load -n 2000 -c 10 $([ "$proto" = h1 ] && echo --h1) "https://127.0.0.1:$PORT/bench" > /dev/null 2>&1
  read -r rss0 heap0 <<<"$(snapshot)"
  flag=(); [ "$proto" = h2 ] && flag=(--h2)
  timeout 400 taskset -c 1 node "$BENCH_DIR/lib/idle-conns.mjs" --url "https://127.0.0.1:$PORT/bench" --count "$CONNS" --hold 120 "${flag[@]}" > "$OUT/idle.out" 2> "$OUT/idle.err" & CL=$!; PIDS+=("$CL")
  for _ in $(seq 1 3000); do grep -q BENCH_IDLE "$OUT/idle.out" && break; kill -0 "$CL" 2>/dev/null || break; sleep 0.1; done
  grep -q BENCH_IDLE "$OUT/idle.out" || { echo "memory: idle client failed: $(head -3 "$OUT/idle.err")" >&2; exit 1; }
  sleep 2
  read -r rss1 heap1 <<<"$(snapshot)"
  closed=$(grep -c 'held connection closed' "$OUT/idle.err" || true)
  kill "$CL" 2>/dev/null || true; wait "$CL" 2>/dev/null || true
  echo "idle $proto: $(grep -o 'open=.*' "$OUT/idle.out"), $closed closed while held; RSS $(mb "$rss0") → $(mb "$rss1"): $(( (rss1 - rss0) / CONNS )) bytes per connection; heap $(mb "$heap0") → $(mb "$heap1"): $(( (heap1 - heap0) / CONNS )) bytes per connection"
  stop_tg
done

# ---- 2. reloads
write_config "$OUT/reload-a.yaml" 5s
write_config "$OUT/reload-b.yaml" 6s
cp "$OUT/reload-a.yaml" "$OUT/reload.yaml"
start_tg "$OUT/reload.yaml"
read -r rss0 heap0 <<<"$(snapshot)"
t0=$(date +%s%N)
for ((i = 1; i <= RELOADS; i++)); do
  if ((i % 2)); then cp "$OUT/reload-b.yaml" "$OUT/reload.yaml"; else cp "$OUT/reload-a.yaml" "$OUT/reload.yaml"; fi
  code=$(curl -s -o "$OUT/reload.json" -w '%{http_code}' --max-time 30 -X POST "http://127.0.0.1:$ADMIN/reload")
  [ "$code" = 200 ] || { echo "memory: reload $i answered $code: $(cat "$OUT/reload.json")" >&2; exit 1; }
  if ((i == 10)); then read -r rss10 heap10 <<<"$(snapshot)"; fi
done
t1=$(date +%s%N)
curl -sfk --http1.1 "https://127.0.0.1:$PORT/bench" -o /dev/null || { echo "memory: not serving after the reloads" >&2; exit 1; }
read -r rss1 heap1 <<<"$(snapshot)"
echo "reloads: $RELOADS in $(( (t1 - t0) / 1000000 )) ms ($(( (t1 - t0) / 1000 / RELOADS )) µs each, curl included); heap after GC: $(mb "$heap0") at start, $(mb "$heap10") after 10, $(mb "$heap1") after $RELOADS; RSS $(mb "$rss0") → $(mb "$rss1")"
stop_tg

# ---- 3. 10,000 routes
write_config "$OUT/routes-a.yaml" 5s 10000
write_config "$OUT/routes-b.yaml" 6s 10000
cp "$OUT/routes-a.yaml" "$OUT/routes.yaml"
start_tg "$OUT/routes.yaml"
startup_ms=$(( (T_READY - T_START) / 1000000 ))
times=()
for i in 1 2 3 4 5; do
  if ((i % 2)); then cp "$OUT/routes-b.yaml" "$OUT/routes.yaml"; else cp "$OUT/routes-a.yaml" "$OUT/routes.yaml"; fi
  times+=("$(curl -s -o "$OUT/reload.json" -w '%{time_total}' --max-time 60 -X POST "http://127.0.0.1:$ADMIN/reload")")
  grep -q '"result":"success"' "$OUT/reload.json" || { echo "memory: 10k-route reload failed: $(cat "$OUT/reload.json")" >&2; exit 1; }
done
read -r rss1 heap1 <<<"$(snapshot)"
curl -sfk --http1.1 -H 'host: svc3.example.com' "https://127.0.0.1:$PORT/svc3/v1/bench" -o /dev/null -w '' || true
echo "10,000 routes ($(wc -c < "$OUT/routes.yaml") bytes of YAML): start-up to first answer $startup_ms ms; POST /reload (read, validate, compile, swap) $(printf '%s\n' "${times[@]}" | sort -n | awk '{ a[NR] = $1 * 1000 } END { printf "median %.0f ms (min %.0f, max %.0f) of %d", a[int((NR + 1) / 2)], a[1], a[NR], NR }'); heap after GC $(mb "$heap1")"
stop_tg
echo "route match (npx tsx bench/route-match.ts):"
(cd "$ROOT" && timeout 300 npx tsx bench/route-match.ts)
