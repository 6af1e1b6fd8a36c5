#!/usr/bin/env bash
# CPU time per request, the undici forwarder and tollgate measured AT THE SAME TIME: both proxies
# pinned to CPU 0, each loaded by its own generator from CPU 1 over the same window. Drift of the
# shared machine (steal, frequency, neighbours) then hits both alike, so the ratio of their CPU per
# request is steadier than two runs one after the other (bench/cpu-ab.sh) or than req/s.
#
#   bash bench/cpu-pair.sh [ROUNDS=5] [SECONDS=5] [h1|h2|mtls]
#   TOLLGATE_NODE_FLAGS=... bash bench/cpu-pair.sh   # node flags for tollgate only
#   BENCH_PROFILE=full bash bench/cpu-pair.sh        # tollgate with the full pipeline (lib/cpu-setup.sh)
#   TOLLGATE_A_ROOT=/path/to/other/checkout bash bench/cpu-pair.sh   # A/B: that checkout's tollgate (built
#                                                    # there) takes the forwarder's place, same config
# mtls: HTTP/1.1 with a client certificate (peers/mtls-load.mjs, 50 connections, as the h1-mtls row of
# run.sh); the forwarder then asks for client certificates too.
#
# Prints, per round, each proxy's ms CPU / 1k requests and tollgate's ratio (forwarder CPU per request
# / tollgate CPU per request: the "× undici per proxy core" of bench/run.sh), then the median ratio.
# Loopback only, ports 28080 (origin), 28443 (forwarder), 28444 (tollgate), each + BENCH_PORT_OFFSET
# (default 0); stopped by PID.
set -euo pipefail
ROUNDS=${1:-5}
SECS=${2:-5}
PROTO=${3:-h1}
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
# shellcheck source=lib/cpu-setup.sh
. "$BENCH_DIR/lib/cpu-setup.sh"
cpu_setup cpu-pair 28444 28902
OFF=${BENCH_PORT_OFFSET:-0}
A_PORT=$((28443 + OFF)) B_PORT=$((28444 + OFF))

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
taskset -c 1 node "$OUT/origin.mjs" & PIDS+=($!)
export BENCH_PEER_PORT=$A_PORT BENCH_ORIGIN=http://127.0.0.1:$ORIGIN_PORT BENCH_CERT="$OUT/cert.pem" BENCH_KEY="$OUT/key.pem"
FW_ARGS=()
[ "$PROTO" = h2 ] && FW_ARGS=(--http2)
[ "$PROTO" = mtls ] && export BENCH_CLIENT_CA="$OUT/client-ca.crt"
if [ -n "${TOLLGATE_A_ROOT:-}" ]; then
  # The A side: another checkout's tollgate on the forwarder's port, its own CA dir, the same config otherwise.
  (cd "$TOLLGATE_A_ROOT" && npm run --silent build >/dev/null)
  mkdir -p "$OUT/a"
  for f in cert.pem key.pem client-ca.crt; do ln -sf "../$f" "$OUT/a/$f"; done
  sed -e "s/port: $B_PORT }/port: $A_PORT }/" -e "s/port: $((28902 + OFF)) }/port: $((28903 + OFF)) }/" "$OUT/gateway.yaml" > "$OUT/a/gateway.yaml"
  # shellcheck disable=SC2086
  taskset -c 0 node ${TOLLGATE_NODE_FLAGS:-} "$TOLLGATE_A_ROOT/bin/tollgate.js" start --config "$OUT/a/gateway.yaml" > "$OUT/forwarder.log" 2>&1 & FW=$!; PIDS+=("$FW")
else
  taskset -c 0 node "$BENCH_DIR/peers/undici-forwarder.mjs" "${FW_ARGS[@]}" > "$OUT/forwarder.log" 2>&1 & FW=$!; PIDS+=("$FW")
fi
# shellcheck disable=SC2086
taskset -c 0 node ${TOLLGATE_NODE_FLAGS:-} "$ROOT/bin/tollgate.js" start --config "$OUT/gateway.yaml" > "$OUT/tollgate.log" 2>&1 & TG=$!; PIDS+=("$TG")
for port in $A_PORT $B_PORT; do
  for _ in $(seq 1 150); do curl -sk --http1.1 "https://127.0.0.1:$port/bench" -o /dev/null 2>/dev/null && break; sleep 0.2; done
  curl -sfk --http1.1 "https://127.0.0.1:$port/bench" -o /dev/null || { echo "cpu-pair: proxy on $port did not answer" >&2; exit 1; }
done

cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
CLK_TCK=$(getconf CLK_TCK)
# load PORT SECONDS OUTFILE: one generator, same shape as bench/run.sh
load() {
  if [ "$PROTO" = mtls ]; then timeout $(($2 + 30)) taskset -c 1 node "$BENCH_DIR/peers/mtls-load.mjs" --url "https://127.0.0.1:$1/bench" \
    --duration "$2" --connections 50 --cert "$OUT/client.crt" --key "$OUT/client.key" --ca "$OUT/cert.pem" \
    --body "ok$(printf 'x%.0s' $(seq 62))" --header 'x-bench-client: mtls' > "$3" 2>&1
  elif [ "$PROTO" = h2 ]; then timeout $(($2 + 30)) taskset -c 1 h2load -t1 -c10 -m10 -D "$2" "https://127.0.0.1:$1/bench" > "$3" 2>&1
  else timeout $(($2 + 30)) taskset -c 1 wrk -t1 -c50 -d"$2"s "https://127.0.0.1:$1/bench" > "$3" 2>&1; fi
}
requests() {
  if [ "$PROTO" = mtls ]; then
    grep -q '"non2xx":0,"errors":0,"errorKinds":{},"badBody":0' "$1" || { echo "cpu-pair: failures in $1" >&2; cat "$1" >&2; exit 1; }
    grep -o '"requests":[0-9]*' "$1" | cut -d: -f2
  elif [ "$PROTO" = h2 ]; then
    grep -q " 0 failed, 0 errored" "$1" || { echo "cpu-pair: failures in $1" >&2; cat "$1" >&2; exit 1; }
    grep -o "[0-9]* succeeded" "$1" | awk '{print $1}'
  else
    if grep -q "Non-2xx\|Socket errors" "$1"; then echo "cpu-pair: errors in $1" >&2; cat "$1" >&2; exit 1; fi
    grep -o "[0-9]* requests in" "$1" | awk '{print $1}'
  fi
}
# warm-up (JIT, pools), both at once like the measured rounds
load $A_PORT 3 "$OUT/warm-fw.txt" & w1=$!; load $B_PORT 3 "$OUT/warm-tg.txt" & w2=$!; wait $w1 $w2
RATIOS=()
for r in $(seq 1 "$ROUNDS"); do
  f0=$(cpu_ticks "$FW"); t0=$(cpu_ticks "$TG")
  load $A_PORT "$SECS" "$OUT/fw.txt" & l1=$!; load $B_PORT "$SECS" "$OUT/tg.txt" & l2=$!
  wait $l1 $l2
  f1=$(cpu_ticks "$FW"); t1=$(cpu_ticks "$TG")
  fr=$(requests "$OUT/fw.txt"); tr=$(requests "$OUT/tg.txt")
  line=$(awk -v r="$r" -v fd="$((f1 - f0))" -v td="$((t1 - t0))" -v fr="$fr" -v tr="$tr" -v t="$CLK_TCK" 'BEGIN {
    fc = fd * 1e6 / t / fr; tc = td * 1e6 / t / tr;
    printf "round %d  A %6.1f ms CPU/1k (%d req)  tollgate %6.1f ms CPU/1k (%d req)  ratio %.3f\n", r, fc, fr, tc, tr, fc / tc }')
  echo "$line"
  RATIOS+=("${line##* }")
done
printf '%s\n' "${RATIOS[@]}" | sort -n | awk '{ a[NR] = $1 } END { printf "%s median ratio (forwarder CPU / tollgate CPU per request) over %d rounds: %.3f  (min %.3f, max %.3f)\n", "'"$PROTO"'", NR, (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2), a[1], a[NR] }'
