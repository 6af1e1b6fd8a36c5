#!/usr/bin/env bash
# Reverse-proxy bench: the same origin, the same load, one proxy at a time; report ratios.
# See bench/README.md. Everything listens on 127.0.0.1 only; every run is bounded in time;
# every process started here is stopped by its PID on exit.
#
#   BENCH_DURATION=10          seconds per measured run
#   BENCH_WARMUP=3             seconds of checked warm-up before each measured run
#   BENCH_PEERS=nginx,haproxy,undici,undici-h2,fastify-proxy,http-proxy,tollgate
#   BENCH_PROTOCOLS=h1,h2      h1 = wrk over TLS, h2 = h2load
#   BENCH_H1_CONNECTIONS=50    wrk -c (one thread)
#   BENCH_H2_CONNECTIONS=10 BENCH_H2_STREAMS=10   h2load -c / -m (one thread)
#   BENCH_MTLS=0               1: peers ask for a client cert and mtls-load.mjs adds the
#                              h1-mtls (reused connections) and h1-mtls-new (a handshake per request) runs
#   BENCH_PROXY_CPU=0 BENCH_LOAD_CPU=1   cores for the proxy / for origin + load generator
#   BENCH_REPEAT=1             measured runs per peer and protocol, back to back
#   BENCH_ROUNDS=3             times the whole peer list is run, one round after the other, so every
#                              peer is measured early and late in the run (drift hits all alike)
#                              Of a peer's REPEAT × ROUNDS runs the fastest per proxy core is kept:
#                              other work on a shared machine only ever slows a run down.
#   BENCH_QUIET_WAIT=60 BENCH_QUIET_MAX=10   before each run wait (at most that many seconds) until
#                              both cores are under that % busy from other work on the machine
#   BENCH_NICE=0               e.g. -10: our processes get priority over other work on a shared
#                              machine (which then starves while the bench runs); off by default
#   BENCH_NO_INSTALL=1         never apt-get; fail if a tool is missing
#   BENCH_MTLS_NEW=1           0: with BENCH_MTLS=1, leave out the h1-mtls-new runs
#   BENCH_PROFILE=route        tollgate's configuration: route (bench/gateway.yaml, one route), full
#                              (bench/gateway-full.yaml: identity, allow-list, rate limit, quota,
#                              least-request pool with health check and outlier detection, route
#                              timeout, access log), or both (peers tollgate and tollgate-full, side by side)
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)
OUT="$BENCH_DIR/out"
cd "$REPO_DIR"

DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-3}
PROFILE=${BENCH_PROFILE:-route}
case "$PROFILE" in
  route) DEFAULT_TOLLGATE=tollgate ;;
  full) DEFAULT_TOLLGATE=tollgate-full ;;
  both) DEFAULT_TOLLGATE=tollgate,tollgate-full ;;
  *) printf 'bench: BENCH_PROFILE must be route, full or both\n' >&2; exit 1 ;;
esac
PEERS=${BENCH_PEERS:-nginx,haproxy,undici,undici-h2,fastify-proxy,http-proxy,$DEFAULT_TOLLGATE}
PROTOCOLS=${BENCH_PROTOCOLS:-h1,h2}
H1_CONNS=${BENCH_H1_CONNECTIONS:-50}
H2_CONNS=${BENCH_H2_CONNECTIONS:-10}
H2_STREAMS=${BENCH_H2_STREAMS:-10}
MTLS=${BENCH_MTLS:-0}
REPEAT=${BENCH_REPEAT:-1}
ROUNDS=${BENCH_ROUNDS:-3}
PROXY_CPU=${BENCH_PROXY_CPU:-0}
# Opt-in: run our processes at a higher priority (e.g. -10) on a machine shared with other work.
# That starves the other work for the duration of the bench; off by default.
NICE_LEVEL=${BENCH_NICE:-0}
NICE=(nice -n "$NICE_LEVEL")
LOAD_CPU=${BENCH_LOAD_CPU:-1}

# Fixed loopback ports below Linux's ephemeral range (32768-60999), so that no client connection's
# TIME_WAIT can block them (tollgate's are also written in bench/gateway.yaml).
ORIGIN_PORT=29080
TOLLGATE_ADMIN_PORT=29901
declare -A PORT=(
  [nginx]=29441 [haproxy]=29442 [undici]=29443 [undici-h2]=29444
  [fastify-proxy]=29445 [http-proxy]=29446 [tollgate]=29449 [tollgate-full]=29449
)
# Which peers speak h2 (ALPN); the others are measured over HTTP/1.1 only.
declare -A H2=([nginx]=1 [haproxy]=1 [undici-h2]=1 [fastify-proxy]=1 [tollgate]=1 [tollgate-full]=1)
# The tollgate configuration of each tollgate peer (BENCH_PROFILE).
declare -A TOLLGATE_CONFIG=([tollgate]=bench/gateway.yaml [tollgate-full]=bench/gateway-full.yaml)

PATH_UNDER_TEST=/bench
BODY="ok$(printf 'x%.0s' $(seq 62))" # exactly 64 bytes
export BENCH_BODY="$BODY"

log() { printf '%s\n' "$*" >&2; }
die() { log "bench: $*"; exit 1; }

[[ "$DURATION" =~ ^[0-9]+$ && "$DURATION" -ge 1 && "$DURATION" -le 600 ]] || die "BENCH_DURATION must be 1..600 seconds"
[[ "$NICE_LEVEL" =~ ^-?[0-9]+$ ]] || die "BENCH_NICE must be an integer (-20..19)"
[[ "$REPEAT" =~ ^[1-9]$ ]] || die "BENCH_REPEAT must be 1..9"
[[ "$ROUNDS" =~ ^[1-9]$ ]] || die "BENCH_ROUNDS must be 1..9"
[[ "$WARMUP" =~ ^[0-9]+$ && "$WARMUP" -le 60 ]] || die "BENCH_WARMUP must be 0..60 seconds"

# ---------------------------------------------------------------- tools
need_tools() {
  local missing=() t
  for t in wrk h2load nginx haproxy openssl curl taskset node; do
    command -v "$t" >/dev/null 2>&1 || [[ -x "/usr/sbin/$t" ]] || missing+=("$t")
  done
  ((${#missing[@]} == 0)) && return 0
  [[ "${BENCH_NO_INSTALL:-0}" == 1 ]] && die "missing tools: ${missing[*]} (BENCH_NO_INSTALL=1)"
  [[ $(id -u) -eq 0 ]] || die "missing tools: ${missing[*]}; run as root or: apt-get install wrk nghttp2-client nginx-light haproxy"
  log "bench: installing ${missing[*]} from Debian"
  # policy-rc.d (if present) keeps the packages' own services from starting; we never use them.
  apt-get update -qq -o DPkg::Lock::Timeout=300
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 \
    wrk nghttp2-client nginx-light haproxy openssl curl util-linux >/dev/null
}
need_tools
export PATH="$PATH:/usr/sbin"
(($(nproc) >= 2)) || log "bench: WARNING: fewer than 2 cores; proxy and load generator share a core"

# ---------------------------------------------------------------- processes
PIDS=()
cleanup() {
  local pid i
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    pid=${PIDS[i]}
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  PIDS=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# stop_pid PID: TERM, up to 5 s, then KILL; forget it.
stop_pid() {
  local pid=$1 keep=() p
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for p in "${PIDS[@]}"; do [[ "$p" == "$pid" ]] || keep+=("$p"); done
  PIDS=("${keep[@]+"${keep[@]}"}")
}

# start_bg NAME CPU CMD...: run CMD pinned to CPU with output in out/logs/NAME.{out,err}; sets STARTED_PID.
start_bg() {
  local name=$1 cpu=$2
  shift 2
  "${NICE[@]}" taskset -c "$cpu" "$@" >"$OUT/logs/$name.out" 2>"$OUT/logs/$name.err" &
  STARTED_PID=$!
  PIDS+=("$STARTED_PID")
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_ready PID URL SECONDS: until URL answers (any HTTP status) or PID dies or time is up.
wait_ready() {
  local pid=$1 url=$2 secs=$3 i
  for ((i = 0; i < secs * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || return 1
    if curl -sk -o /dev/null --max-time 1 "$url"; then return 0; fi
    sleep 0.1
  done
  return 1
}

# ---------------------------------------------------------------- CPU accounting
CLK_TCK=$(getconf CLK_TCK)
# utime+stime (clock ticks) of PID and all its descendants.
proc_ticks() {
  local pid=$1 stat total child
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || { echo 0; return; }
  stat=${stat##*) }
  read -r -a f <<<"$stat"
  total=$((f[11] + f[12])) # fields 14 and 15 of /proc/PID/stat
  for child in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do
    total=$((total + $(proc_ticks "$child")))
  done
  echo "$total"
}
core_line() { awk -v c="cpu$1" '$1 == c { $1 = ""; print }' /proc/stat; }
# busy_pct "BEFORE" "AFTER": busy share of a core between two core_line samples.
busy_pct() {
  awk -v a="$1" -v b="$2" 'BEGIN {
    n = split(a, x, " "); split(b, y, " "); t = 0
    for (i = 1; i <= n; i++) t += y[i] - x[i]
    idle = (y[4] - x[4]) + (y[5] - x[5])
    printf "%d", (t > 0 ? 100 * (t - idle) / t : 0) }'
}
# Other work on this machine (tests, builds) skews a run. Before each measured run, wait up to
# BENCH_QUIET_WAIT seconds for both cores to be below BENCH_QUIET_MAX % busy while our processes idle.
QUIET_WAIT=${BENCH_QUIET_WAIT:-60}
QUIET_MAX=${BENCH_QUIET_MAX:-10}
wait_quiet() {
  local waited=0 a0 a1 b0 b1 p l
  ((QUIET_WAIT > 0)) || return 0
  while :; do
    a0=$(core_line "$PROXY_CPU") a1=$(core_line "$LOAD_CPU")
    sleep 1
    b0=$(core_line "$PROXY_CPU") b1=$(core_line "$LOAD_CPU")
    p=$(busy_pct "$a0" "$b0") l=$(busy_pct "$a1" "$b1")
    ((p <= QUIET_MAX && l <= QUIET_MAX)) && return 0
    if ((waited >= QUIET_WAIT)); then
      log "  machine still busy (cores ${p} % / ${l} %) after ${QUIET_WAIT}s; measuring anyway (see the 'other work' column)"
      return 0
    fi
    ((waited == 0)) && log "  waiting for other work to quiet down (cores ${p} % / ${l} % busy)"
    waited=$((waited + 1))
  done
}

# ---------------------------------------------------------------- setup
mkdir -p "$OUT"
# One run at a time: a second run would wipe this run's files and fight over the ports.
exec 9>"$OUT/.lock"
flock -n 9 || die "another bench run is in progress (bench/out/.lock is held)"
for p in "$ORIGIN_PORT" "$TOLLGATE_ADMIN_PORT" "${PORT[@]}"; do
  port_in_use "$p" && die "port $p on 127.0.0.1 is in use; stop whatever listens there first"
done
rm -rf "$OUT/logs" "$OUT/runs" "$OUT/origin" "$OUT/nginx"
mkdir -p "$OUT/logs" "$OUT/runs" "$OUT/tls" "$OUT/origin/tmp" "$OUT/nginx/tmp"
RESULTS="$OUT/results.jsonl"
: >"$RESULTS"

make_certs() {
  local d="$OUT/tls"
  # The client certificate names spiffe://bench.partner/load, a trust domain that gateway-full.yaml's
  # client CA anchor may assert (an anchor without trustDomains gives no identity); older ones are redone.
  [[ -s "$d/server.pem" && -s "$d/client.crt" ]] && openssl x509 -in "$d/client.crt" -noout -ext subjectAltName 2>/dev/null |
    grep -q 'spiffe://bench.partner/load' && return 0
  log "bench: generating throwaway EC certificates in bench/out/tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj "/CN=tollgate-bench" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
    -keyout "$d/server.key" -out "$d/server.crt" 2>/dev/null
  cat "$d/server.crt" "$d/server.key" >"$d/server.pem"
  # A client CA and a client certificate for the mTLS scenario.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj "/CN=tollgate-bench-client-ca" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$d/client-ca.key" -out "$d/client-ca.crt" 2>/dev/null
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=bench-client" -keyout "$d/client.key" -out "$d/client.csr" 2>/dev/null
  printf 'subjectAltName=URI:spiffe://bench.partner/load\nextendedKeyUsage=clientAuth\n' >"$d/client.ext"
  openssl x509 -req -in "$d/client.csr" -CA "$d/client-ca.crt" -CAkey "$d/client-ca.key" \
    -CAcreateserial -days 30 -extfile "$d/client.ext" -out "$d/client.crt" 2>/dev/null
  chmod 600 "$d"/*.key "$d/server.pem"
}
make_certs

# render TEMPLATE DEST: fill in the @...@ placeholders.
render() {
  local nginx_mtls='' haproxy_mtls=''
  if [[ "$MTLS" == 1 ]]; then
    nginx_mtls="ssl_client_certificate $OUT/tls/client-ca.crt; ssl_verify_client optional;"
    haproxy_mtls="ca-file $OUT/tls/client-ca.crt verify optional"
  fi
  sed -e "s|@OUT@|$OUT|g" -e "s|@ORIGIN_PORT@|$ORIGIN_PORT|g" -e "s|@BODY@|$BODY|g" \
    -e "s|@PORT@|${3:-0}|g" -e "s|@NGINX_MTLS@|$nginx_mtls|g" -e "s|@HAPROXY_MTLS@|$haproxy_mtls|g" \
    "$1" >"$2"
}

{
  printf '{"date":"%s",' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  printf '"cores":"%s",' "$(nproc)"
  printf '"cpu":"%s",' "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
  printf '"node":"%s",' "$(node -v)"
  printf '"nginx":"%s",' "$(nginx -v 2>&1 | sed 's|.*/||')"
  printf '"haproxy":"%s",' "$(haproxy -v | awk 'NR == 1 { print $3 }')"
  printf '"wrk":"%s",' "$(wrk -v 2>&1 | awk 'NR == 1 { print $2 }')"
  printf '"h2load":"%s",' "$(h2load --version | awk '{ print $NF }')"
  printf '"load":"h1: wrk -t1 -c%s -d%ss; h2: h2load -t1 -c%s -m%s -D %s; warm-up %ss",' \
    "$H1_CONNS" "$DURATION" "$H2_CONNS" "$H2_STREAMS" "$DURATION" "$WARMUP"
  printf '"pinning":"proxy on CPU %s; origin and load generator on CPU %s",' "$PROXY_CPU" "$LOAD_CPU"
  printf '"mtls":"%s","nice":"%s","repeat":"%s","rounds":"%s","profile":"%s","commit":"%s"}\n' "$MTLS" "$NICE_LEVEL" "$REPEAT" "$ROUNDS" "$PROFILE" "$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)"
} >"$OUT/meta.json"

# ---------------------------------------------------------------- origin
render "$BENCH_DIR/conf/origin.nginx.conf" "$OUT/origin/nginx.conf"
start_bg origin "$LOAD_CPU" nginx -p "$OUT/origin/" -e "$OUT/origin/error.log" -c "$OUT/origin/nginx.conf" -g 'daemon off;'
ORIGIN_PID=$STARTED_PID
ORIGIN_URL="http://127.0.0.1:$ORIGIN_PORT"
wait_ready "$ORIGIN_PID" "$ORIGIN_URL$PATH_UNDER_TEST" 10 || die "origin nginx did not start: $(tail -5 "$OUT/logs/origin.err")"
[[ "$(curl -s "$ORIGIN_URL$PATH_UNDER_TEST")" == "$BODY" ]] || die "origin does not serve the expected body"
log "bench: origin nginx (pid $ORIGIN_PID) on $ORIGIN_URL$PATH_UNDER_TEST, ${#BODY}-byte body"

# ---------------------------------------------------------------- peers
# start_peer NAME: start it pinned to the proxy core; sets PEER_PID or returns 1 with SKIP_REASON.
start_peer() {
  local name=$1 port=${PORT[$1]:-0}
  local -a node_env=(env BENCH_PEER_PORT="$port" BENCH_ORIGIN="$ORIGIN_URL"
    BENCH_CERT="$OUT/tls/server.crt" BENCH_KEY="$OUT/tls/server.key" NODE_ENV=production)
  [[ "$MTLS" == 1 ]] && node_env+=(BENCH_CLIENT_CA="$OUT/tls/client-ca.crt")
  SKIP_REASON=''
  case "$name" in
    nginx)
      mkdir -p "$OUT/nginx/tmp"
      render "$BENCH_DIR/conf/nginx-proxy.conf" "$OUT/nginx/nginx.conf" "$port"
      start_bg nginx "$PROXY_CPU" nginx -p "$OUT/nginx/" -e "$OUT/nginx/error.log" -c "$OUT/nginx/nginx.conf" -g 'daemon off;'
      ;;
    haproxy)
      render "$BENCH_DIR/conf/haproxy.cfg" "$OUT/haproxy.cfg" "$port"
      start_bg haproxy "$PROXY_CPU" haproxy -db -f "$OUT/haproxy.cfg"
      ;;
    undici) start_bg undici "$PROXY_CPU" "${node_env[@]}" node "$BENCH_DIR/peers/undici-forwarder.mjs" ;;
    undici-h2) start_bg undici-h2 "$PROXY_CPU" "${node_env[@]}" node "$BENCH_DIR/peers/undici-forwarder.mjs" --http2 ;;
    fastify-proxy) start_bg fastify-proxy "$PROXY_CPU" "${node_env[@]}" node "$BENCH_DIR/peers/fastify-proxy.mjs" ;;
    http-proxy) start_bg http-proxy "$PROXY_CPU" "${node_env[@]}" node "$BENCH_DIR/peers/http-proxy.mjs" ;;
    tollgate | tollgate-full)
      if [[ ! -f "$REPO_DIR/bin/tollgate.js" ]]; then
        SKIP_REASON="bin/tollgate.js does not exist yet"
        return 1
      fi
      # Measure the compiled code: bin/tollgate.js would run the TypeScript sources through tsx if
      # dist/ were older than src/.
      (cd "$REPO_DIR" && npm run --silent build >/dev/null) || { SKIP_REASON="npm run build failed"; return 1; }
      # Access logging goes to stdout (JSON lines): out/logs/tollgate.out.
      start_bg "$name" "$PROXY_CPU" env NODE_ENV=production node ${TOLLGATE_NODE_FLAGS:-} bin/tollgate.js start --config "${TOLLGATE_CONFIG[$name]}"
      ;;
    *)
      SKIP_REASON="unknown peer (known: ${!PORT[*]})"
      return 1
      ;;
  esac
  PEER_PID=$STARTED_PID
  if ! wait_ready "$PEER_PID" "https://127.0.0.1:$port$PATH_UNDER_TEST" 20; then
    SKIP_REASON="did not start: $(why_failed "$name")"
    stop_pid "$PEER_PID"
    return 1
  fi
}

# why_failed NAME: the first error-looking line of a peer's output, else its last lines (one line).
why_failed() {
  local files=("$OUT/logs/$1.err" "$OUT/logs/$1.out") line
  line=$(cat "${files[@]}" 2>/dev/null | grep -m1 -E 'Error|ALERT|emerg|\[error\]|error:' || true)
  [[ -n "$line" ]] || line=$(cat "${files[@]}" 2>/dev/null | grep -v '^[[:space:]]*$' | tail -n 3 || true)
  [[ -n "$line" ]] || line="no output (see bench/out/logs/$1.*)"
  printf '%s' "$line" | tr '\n\t"' '  '"'"'' | cut -c1-240
}

# check_peer NAME PROTO: curl sees 200, the exact body and the expected HTTP version.
check_peer() {
  local url="https://127.0.0.1:${PORT[$1]}$PATH_UNDER_TEST" flag want body meta
  case "$2" in
    h2) flag=--http2 want=2 ;;
    *) flag=--http1.1 want=1.1 ;;
  esac
  body=$(curl -sk "$flag" --max-time 5 -o - -w '\n%{http_code} %{http_version}' "$url") || {
    CHECK_REASON="curl $flag failed"
    return 1
  }
  meta=${body##*$'\n'}
  body=${body%$'\n'*}
  if [[ "$meta" != "200 $want" ]]; then CHECK_REASON="curl $flag: status/version '$meta', want '200 $want'"; return 1; fi
  if [[ "$body" != "$BODY" ]]; then CHECK_REASON="curl $flag: wrong body '${body:0:80}'"; return 1; fi
}

record_fail() { # PEER PROTO REASON (into the peer's attempts; a failed attempt fails the row)
  printf '{"peer":"%s","proto":"%s","ok":false,"reason":"%s"}\n' "$1" "$2" "${3//\"/\'}" >>"$OUT/runs/$1-$2.attempts.jsonl"
  log "  $1 $2: FAIL ($3)"
}

# measure PEER PROTO PID: warm-up with checks, then the measured run with CPU accounting.
measure() {
  local peer=$1 proto=$2 pid=$3 url="https://127.0.0.1:${PORT[$1]}$PATH_UNDER_TEST"
  local stdout="$OUT/runs/$peer-$proto.txt" logf="$OUT/runs/$peer-$proto.log" tool
  local -a load
  if ! check_peer "$peer" "${proto%%-*}"; then record_fail "$peer" "$proto" "$CHECK_REASON"; return; fi
  case "$proto" in
    h1)
      tool=wrk
      if ((WARMUP > 0)); then
        "${NICE[@]}" taskset -c "$LOAD_CPU" wrk -t1 -c"$H1_CONNS" -d"${WARMUP}s" -s "$BENCH_DIR/lib/wrk-check.lua" "$url" >"$OUT/runs/$peer-$proto.warmup.txt" 2>&1 || true
        if ! grep -q '^BENCH_CHECK ok=[1-9][0-9]* bad=0 ' "$OUT/runs/$peer-$proto.warmup.txt"; then
          record_fail "$peer" "$proto" "warm-up check: $(grep BENCH_CHECK "$OUT/runs/$peer-$proto.warmup.txt" | tr '\n' ' ')"
          return
        fi
      fi
      load=(wrk -t1 -c"$H1_CONNS" -d"${DURATION}s" --timeout 5s -s "$BENCH_DIR/lib/wrk-report.lua" "$url")
      ;;
    h2)
      tool=h2load
      if ((WARMUP > 0)); then
        "${NICE[@]}" taskset -c "$LOAD_CPU" h2load -t1 -c"$H2_CONNS" -m"$H2_STREAMS" -D "$WARMUP" "$url" >"$OUT/runs/$peer-$proto.warmup.txt" 2>&1 || true
        if ! grep -q 'status codes: [1-9][0-9]* 2xx, 0 3xx, 0 4xx, 0 5xx' "$OUT/runs/$peer-$proto.warmup.txt"; then
          record_fail "$peer" "$proto" "warm-up: $(grep -E 'status codes|requests:' "$OUT/runs/$peer-$proto.warmup.txt" | tr '\n' ' ')"
          return
        fi
      fi
      load=(h2load -t1 -c"$H2_CONNS" -m"$H2_STREAMS" -D "$DURATION" --log-file="$logf" "$url")
      ;;
    h1-mtls | h1-mtls-new)
      tool=mtls-load
      local -a mopts=(--url "$url" --duration "$DURATION" --connections "$H1_CONNS" --body "$BODY"
        --cert "$OUT/tls/client.crt" --key "$OUT/tls/client.key" --ca "$OUT/tls/server.crt"
        --header 'x-bench-client: mtls')
      [[ "$proto" == h1-mtls-new ]] && mopts+=(--new-connection-per-request)
      if ((WARMUP > 0)); then
        "${NICE[@]}" taskset -c "$LOAD_CPU" node "$BENCH_DIR/peers/mtls-load.mjs" "${mopts[@]}" --duration "$WARMUP" >"$OUT/runs/$peer-$proto.warmup.txt" 2>&1 || true
      fi
      load=(node "$BENCH_DIR/peers/mtls-load.mjs" "${mopts[@]}")
      ;;
  esac

  local t0 t1 ticks0 ticks1 oticks0 oticks1 cp0 cp1 cl0 cl1 loadcpu rep attempts="$OUT/runs/$peer-$proto.attempts.jsonl"
  for ((rep = 1; rep <= REPEAT; rep++)); do
    wait_quiet
    cp0=$(core_line "$PROXY_CPU") cl0=$(core_line "$LOAD_CPU")
    ticks0=$(proc_ticks "$pid") oticks0=$(proc_ticks "$ORIGIN_PID")
    t0=$(date +%s%N)
    # The load tools stop by themselves after DURATION; timeout is only a backstop.
    # bash's `time` gives the load generator's own CPU seconds (user + sys).
    loadcpu=$( { TIMEFORMAT='%3U %3S'; time timeout --kill-after=5 $((DURATION + 30)) \
      "${NICE[@]}" taskset -c "$LOAD_CPU" "${load[@]}" >"$stdout" 2>&1 || true; } 2>&1 )
    t1=$(date +%s%N)
    ticks1=$(proc_ticks "$pid") oticks1=$(proc_ticks "$ORIGIN_PID")
    cp1=$(core_line "$PROXY_CPU") cl1=$(core_line "$LOAD_CPU")

    if ! kill -0 "$pid" 2>/dev/null; then record_fail "$peer" "$proto" "proxy died during the run"; return; fi
    if ! check_peer "$peer" "${proto%%-*}"; then record_fail "$peer" "$proto" "after the run: $CHECK_REASON"; return; fi

    REC_PEER=$peer REC_PROTO=$proto REC_ROUND=$round REC_TOOL=$tool REC_STDOUT=$stdout REC_LOG=$logf REC_RESULTS=$attempts \
      REC_WALL_NS=$((t1 - t0)) REC_PROXY_TICKS=$((ticks1 - ticks0)) REC_CLK_TCK=$CLK_TCK \
      REC_ORIGIN_TICKS=$((oticks1 - oticks0)) REC_LOADGEN_CPU="$loadcpu" \
      REC_CORE_PROXY_BEFORE=$cp0 REC_CORE_PROXY_AFTER=$cp1 REC_CORE_LOAD_BEFORE=$cl0 REC_CORE_LOAD_AFTER=$cl1 \
      node "$BENCH_DIR/lib/record.mjs" >&2
    cp "$stdout" "$stdout.r$round.$rep"
  done
  rm -f "$logf" # h2load's per-request log is large; the percentiles are in results.jsonl
}

IFS=, read -r -a peer_list <<<"$PEERS"
IFS=, read -r -a proto_list <<<"$PROTOCOLS"
[[ "$MTLS" == 1 ]] && proto_list+=(h1-mtls)
[[ "$MTLS" == 1 && "${BENCH_MTLS_NEW:-1}" == 1 ]] && proto_list+=(h1-mtls-new)

for ((round = 1; round <= ROUNDS; round++)); do
  ((ROUNDS > 1)) && log "bench: round $round of $ROUNDS"
  for peer in "${peer_list[@]}"; do
    log "bench: $peer"
    if ! start_peer "$peer"; then
      log "  SKIP $peer: $SKIP_REASON"
      for proto in "${proto_list[@]}"; do
        [[ "$proto" == h2 && -z "${H2[$peer]:-}" ]] && continue
        record_fail "$peer" "$proto" "skipped: $SKIP_REASON" 2>/dev/null
      done
      continue
    fi
    for proto in "${proto_list[@]}"; do
      [[ "$proto" == h2 && -z "${H2[$peer]:-}" ]] && continue
      # A row that failed in an earlier round stays failed: no need to measure it again.
      grep -q '"ok":false' "$OUT/runs/$peer-$proto.attempts.jsonl" 2>/dev/null && continue
      measure "$peer" "$proto" "$PEER_PID"
    done
    stop_pid "$PEER_PID"
  done
done

# One row per peer and protocol: any failed attempt fails it, else the fastest attempt per proxy core.
for peer in "${peer_list[@]}"; do
  for proto in "${proto_list[@]}"; do
    [[ -f "$OUT/runs/$peer-$proto.attempts.jsonl" ]] && node "$BENCH_DIR/lib/pick.mjs" "$OUT/runs/$peer-$proto.attempts.jsonl" >>"$RESULTS"
  done
done

stop_pid "$ORIGIN_PID"
node "$BENCH_DIR/lib/report.mjs" "$OUT"
