#!/usr/bin/env bash
# CPU time per request, the undici forwarder and tollgate measured AT THE SAME TIME: both proxies
# pinned to CPU 0, each loaded by its own generator from CPU 1 over the same window. Drift of the
# shared machine (steal, frequency, neighbours) then hits both alike, so the ratio of their CPU per
# request is steadier than two runs one after the other (bench/cpu-ab.sh) or than req/s.
#
#   bash bench/cpu-pair.sh [ROUNDS=5] [SECONDS=5] [h1|h2]
#   TOLLGATE_NODE_FLAGS=... bash bench/cpu-pair.sh   # node flags for tollgate only
#
# Prints, per round, each proxy's ms CPU / 1k requests and tollgate's ratio (forwarder CPU per request
# / tollgate CPU per request: the "× undici per proxy core" of bench/run.sh), then the median ratio.
# Loopback only, fixed ports 28080 (origin), 28443 (forwarder), 28444 (tollgate); stopped by PID.
set -euo pipefail
ROUNDS=${1:-5}
SECS=${2:-5}
PROTO=${3:-h1}
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
# shellcheck source=lib/cpu-setup.sh
. "$BENCH_DIR/lib/cpu-setup.sh"
cpu_setup cpu-pair 28444 28902

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
taskset -c 1 node "$OUT/origin.mjs" & PIDS+=($!)
export BENCH_PEER_PORT=28443 BENCH_ORIGIN=http://127.0.0.1:28080 BENCH_CERT="$OUT/cert.pem" BENCH_KEY="$OUT/key.pem"
FW_ARGS=()
[ "$PROTO" = h2 ] && FW_ARGS=(--http2)
taskset -c 0 node "$BENCH_DIR/peers/undici-forwarder.mjs" "${FW_ARGS[@]}" > "$OUT/forwarder.log" 2>&1 & FW=$!; PIDS+=("$FW")
# shellcheck disable=SC2086
taskset -c 0 node ${TOLLGATE_NODE_FLAGS:-} "$ROOT/bin/tollgate.js" start --config "$OUT/gateway.yaml" > "$OUT/tollgate.log" 2>&1 & TG=$!; PIDS+=("$TG")
for port in 28443 28444; do
  for _ in $(seq 1 150); do curl -sk --http1.1 "https://127.0.0.1:$port/bench" -o /dev/null 2>/dev/null && break; sleep 0.2; done
  curl -sfk --http1.1 "https://127.0.0.1:$port/bench" -o /dev/null || { echo "cpu-pair: proxy on $port did not answer" >&2; exit 1; }
done

cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
CLK_TCK=$(getconf CLK_TCK)
# load PORT SECONDS OUTFILE: one generator, same shape as bench/run.sh
load() {
  if [ "$PROTO" = h2 ]; then timeout $(($2 + 30)) taskset -c 1 h2load -t1 -c10 -m10 -D "$2" "https://127.0.0.1:$1/bench" > "$3" 2>&1
  else timeout $(($2 + 30)) taskset -c 1 wrk -t1 -c50 -d"$2"s "https://127.0.0.1:$1/bench" > "$3" 2>&1; fi
}
requests() {
  if [ "$PROTO" = h2 ]; then
    grep -q " 0 failed, 0 errored" "$1" || { echo "cpu-pair: failures in $1" >&2; cat "$1" >&2; exit 1; }
    grep -o "[0-9]* succeeded" "$1" | awk '{print $1}'
  else
    if grep -q "Non-2xx\|Socket errors" "$1"; then echo "cpu-pair: errors in $1" >&2; cat "$1" >&2; exit 1; fi
    grep -o "[0-9]* requests in" "$1" | awk '{print $1}'
  fi
}
# warm-up (JIT, pools), both at once like the measured rounds
load 28443 3 "$OUT/warm-fw.txt" & w1=$!; load 28444 3 "$OUT/warm-tg.txt" & w2=$!; wait $w1 $w2
RATIOS=()
for r in $(seq 1 "$ROUNDS"); do
  f0=$(cpu_ticks "$FW"); t0=$(cpu_ticks "$TG")
  load 28443 "$SECS" "$OUT/fw.txt" & l1=$!; load 28444 "$SECS" "$OUT/tg.txt" & l2=$!
  wait $l1 $l2
  f1=$(cpu_ticks "$FW"); t1=$(cpu_ticks "$TG")
  fr=$(requests "$OUT/fw.txt"); tr=$(requests "$OUT/tg.txt")
  line=$(awk -v r="$r" -v fd="$((f1 - f0))" -v td="$((t1 - t0))" -v fr="$fr" -v tr="$tr" -v t="$CLK_TCK" 'BEGIN {
    fc = fd * 1e6 / t / fr; tc = td * 1e6 / t / tr;
    printf "round %d  forwarder %6.1f ms CPU/1k (%d req)  tollgate %6.1f ms CPU/1k (%d req)  ratio %.3f\n", r, fc, fr, tc, tr, fc / tc }')
  echo "$line"
  RATIOS+=("${line##* }")
done
printf '%s\n' "${RATIOS[@]}" | sort -n | awk '{ a[NR] = $1 } END { printf "%s median ratio (forwarder CPU / tollgate CPU per request) over %d rounds: %.3f  (min %.3f, max %.3f)\n", "'"$PROTO"'", NR, (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2), a[1], a[NR] }'
