#!/usr/bin/env bash
# Soak the gateway: moderate h1+h2 load with a reload every 10 s, a flapping target, a Redis restart
# and serving-certificate rotation; writes bench/SOAK.md. Bounded: SOAK_MINUTES (default 10) of load,
# with a hard `timeout` backstop 5 minutes later. Needs redis-server on PATH. Loopback only.
#   bash bench/soak.sh                  # 10 minutes
#   SOAK_MINUTES=30 bash bench/soak.sh  # 30 minutes
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${SOAK_MINUTES:-10}"
if ! [[ "$minutes" =~ ^[0-9]+([.][0-9]+)?$ ]]; then echo "SOAK_MINUTES must be a number" >&2; exit 2; fi
command -v redis-server >/dev/null || { echo "redis-server is not installed" >&2; exit 1; }
# The gateway runs from dist/ when it is fresh (bin/tollgate.js decides); build so it is.
npm run --silent build
backstop=$(awk -v m="$minutes" 'BEGIN { printf "%d", m * 60 + 300 }')
export SOAK_MINUTES="$minutes"
exec timeout --kill-after=30 "$backstop" node --import tsx bench/soak.ts
