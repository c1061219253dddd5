#!/usr/bin/env bash
# Load test: the release binary on loopback, wrk with 2 threads and 16
# connections for 10 s per route; requests/s and latency percentiles.
# Usage: tests/load/run.sh [BINARY] [extra server flags...]
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${1:-target/release/comm-test}
shift || true
port=18080
log=$(mktemp)
"$bin" --listen 127.0.0.1:$port --clock 1615879800 --max-connections 256 "$@" 2>"$log" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 100); do grep -q "listening" "$log" && break; sleep 0.01; done
for route in ui start auth; do
  case $route in
    ui) args=(http://127.0.0.1:$port/ui) ;;
    start) args=(-s tests/load/start.lua http://127.0.0.1:$port/start_communication) ;;
    auth) args=(-s tests/load/auth.lua http://127.0.0.1:$port/auth_result) ;;
  esac
  echo "== $route"
  wrk -t2 -c16 -d10s --latency "${args[@]}" | grep -E "Requests/sec|Latency|50%|90%|99%|Non-2xx|Socket errors"
done
echo "== RSS after load: $(grep VmRSS /proc/$pid/status | awk '{print $2, $3}')"
