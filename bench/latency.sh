#!/usr/bin/env bash
# Latency at a fixed request rate: tollgate, the undici forwarder and the origin direct, at 25 % and
# 75 % of tollgate's measured maximum.
#
#   bash bench/latency.sh [SECONDS=10]
#   BENCH_PROFILE=full bash bench/latency.sh     # the full pipeline (lib/cpu-setup.sh)
#
# HTTP/1.1, 10 keep-alive connections (h2load --h1 -c10): first an open-loop maximum of tollgate
# (-m1, as fast as it answers), then each target at a constant rate (h2load --rps per connection,
# so rate = 10 × rps) for SECONDS. p50/p99 come from h2load's per-request log. "direct" is the origin
# over plain HTTP (no TLS, no proxy hop); the proxies terminate TLS, so "overhead vs direct" is TLS
# plus the proxy hop. Proxy on CPU 0, origin and h2load on CPU 1, one target at a time.
# Loopback only; ports 28546 (tollgate), 28547 (forwarder), 29006 (admin), 28080 (origin), each + BENCH_PORT_OFFSET.
set -euo pipefail
SECS=${1:-10}
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
# shellcheck source=lib/cpu-setup.sh
. "$BENCH_DIR/lib/cpu-setup.sh"
cpu_setup latency 28546 29006
OFF=${BENCH_PORT_OFFSET:-0}
TG_PORT=$((28546 + OFF)) FW_PORT=$((28547 + OFF))
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
taskset -c 1 node "$OUT/origin.mjs" & PIDS+=($!)
wait_up() { for _ in $(seq 1 150); do curl -sk --http1.1 "$1" -o /dev/null 2>/dev/null && return 0; sleep 0.2; done; echo "latency: $1 did not answer" >&2; exit 1; }
# pct LOGFILE: "p50 p99" in ms, from h2load's log (start µs, status, duration µs); fails on a non-2xx
pct() {
  awk -F'\t' '$2 < 200 || $2 > 299 { bad++ } { print $3 } END { if (bad) { print "non-2xx: " bad > "/dev/stderr"; exit 1 } }' "$1" | sort -n |
    awk '{ a[NR] = $1 } END { if (NR == 0) exit 1; i50 = int(NR * 0.5); i99 = int(NR * 0.99); if (i50 < 1) i50 = 1; if (i99 < 1) i99 = 1; printf "%.3f %.3f %d", a[i50] / 1000, a[i99] / 1000, NR }'
}
# run URL RATE NAME: h2load at RATE req/s total for SECS; prints "p50 p99 n achieved"
run() {
  local url=$1 rate=$2 name=$3 rps
  rps=$(( (rate + 5) / 10 ))
  rm -f "$OUT/$name.log"
  timeout $((SECS + 30)) taskset -c 1 h2load --h1 -c10 -m1 --rps="$rps" -D "$SECS" --log-file="$OUT/$name.log" "$url" > "$OUT/$name.txt" 2>&1
  grep -q " 0 failed, 0 errored" "$OUT/$name.txt" || { cat "$OUT/$name.txt" >&2; exit 1; }
  echo "$(pct "$OUT/$name.log") $(grep -o 'finished in [^,]*, [0-9.]* req/s' "$OUT/$name.txt" | awk '{print $4}')"
}
taskset -c 0 node "$ROOT/bin/tollgate.js" start --config "$OUT/gateway.yaml" > "$OUT/tollgate.log" 2>&1 & TG=$!; PIDS+=("$TG")
wait_up "https://127.0.0.1:$TG_PORT/bench"
timeout 60 taskset -c 1 h2load --h1 -c10 -m1 -D 3 "https://127.0.0.1:$TG_PORT/bench" > /dev/null 2>&1
timeout 60 taskset -c 1 h2load --h1 -c10 -m1 -D "$SECS" "https://127.0.0.1:$TG_PORT/bench" > "$OUT/max.txt" 2>&1
MAX=$(grep -o 'finished in [^,]*, [0-9.]* req/s' "$OUT/max.txt" | awk '{printf "%d", $4}')
echo "latency: profile ${BENCH_PROFILE:-route}; tollgate maximum (h2load --h1 -c10 -m1): $MAX req/s; ${SECS}s per run"
printf '%-10s %-5s %8s %9s %9s %9s %14s %14s\n' target load 'rate' 'achieved' 'p50 ms' 'p99 ms' 'p50 overhead' 'p99 overhead'
declare -A P50 P99
for pctl in 25 75; do
  rate=$((MAX * pctl / 100))
  for target in direct forwarder tollgate; do
    case $target in
      direct) url="http://127.0.0.1:$ORIGIN_PORT/bench" ;;
      forwarder)
        BENCH_PEER_PORT=$FW_PORT BENCH_ORIGIN="http://127.0.0.1:$ORIGIN_PORT" BENCH_CERT="$OUT/cert.pem" BENCH_KEY="$OUT/key.pem" \
          taskset -c 0 node "$BENCH_DIR/peers/undici-forwarder.mjs" > "$OUT/forwarder.log" 2>&1 & FW=$!; PIDS+=("$FW")
        url="https://127.0.0.1:$FW_PORT/bench"; wait_up "$url"
        timeout 60 taskset -c 1 h2load --h1 -c10 -m1 -D 3 "$url" > /dev/null 2>&1 ;;
      tollgate) url="https://127.0.0.1:$TG_PORT/bench" ;;
    esac
    read -r p50 p99 _n achieved <<<"$(run "$url" "$rate" "$target-$pctl")"
    [ "$target" = forwarder ] && kill "$FW"
    P50[$target]=$p50 P99[$target]=$p99
    over50='—' over99='—'
    if [ "$target" != direct ]; then
      over50=$(awk -v a="$p50" -v b="${P50[direct]}" 'BEGIN { printf "+%.3f ms", a - b }')
      over99=$(awk -v a="$p99" -v b="${P99[direct]}" 'BEGIN { printf "+%.3f ms", a - b }')
    fi
    printf '%-10s %-5s %8d %9.0f %9.3f %9.3f %14s %14s\n' "$target" "$pctl%" "$rate" "$achieved" "$p50" "$p99" "$over50" "$over99"
  done
done
