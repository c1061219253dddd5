#!/usr/bin/env bash
# comm-test beside nginx, one run on one machine: nginx (Debian
# `nginx-light`) with one worker and its access log on (one write per
# request, as we write one log line per request) answering the plain
# routes with the same bytes, and the release binary. Alternating rounds
# of wrk -t2 -c16 per route; the median ratio (ours / nginx) per route;
# then the system calls per keep-alive request of each (strace -c on the
# serving process while wrk -t1 -c4 runs GET /ui), ours with the inbox
# off and on and with --workers 2.
# Usage: tests/load/versus-nginx.sh [BINARY]   (ROUNDS=5 SECONDS=5)
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${1:-target/release/comm-test}
rounds=${ROUNDS:-5}
secs=${SECONDS_EACH:-5}
for tool in nginx wrk strace; do
  command -v $tool >/dev/null || { echo "needs $tool (apt-get install nginx-light wrk strace)" >&2; exit 2; }
done
work=$(mktemp -d)
ours_port=18180
nginx_port=18181
inbox_port=18182
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

start_body=$(printf '{"client_url":"http://127.0.0.1:%s/ui","attr_url":"http://127.0.0.1:%s/auth_result"}' $nginx_port $nginx_port)
cat >"$work/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/error.log;
events { worker_connections 1024; }
http {
  access_log $work/access.log;
  server {
    listen 127.0.0.1:$nginx_port;
    location = /ui { default_type "text/plain; charset=utf-8"; return 200 "Communication plugin UI"; }
    location = /start_communication { default_type application/json; return 200 '$start_body'; }
  }
}
EOF
nginx -c "$work/nginx.conf" -p "$work" 2>"$work/nginx.stderr" &
pids+=($!)

# ARGS for our server; waits until it listens; its pid in $ours.
start_ours() {
  "$bin" --listen 127.0.0.1:$ours_port "$@" 2>"$work/ours.log" &
  ours=$!
  pids+=($ours)
  for _ in $(seq 200); do grep -q "listening" "$work/ours.log" 2>/dev/null && return; sleep 0.01; done
  echo "comm-test did not start" >&2; exit 1
}
stop_ours() { kill "$ours"; wait "$ours" 2>/dev/null || true; }
for _ in $(seq 200); do
  (exec 3<>/dev/tcp/127.0.0.1/$nginx_port) 2>/dev/null && break; sleep 0.01
done

# requests/s of wrk against URL (route: ui or start)
rate() {
  local route=$1 port=$2 args=(http://127.0.0.1:$2/ui)
  [ "$route" = start ] && args=(-s tests/load/start.lua http://127.0.0.1:$port/start_communication)
  wrk -t2 -c16 -d${secs}s "${args[@]}" | awk '/Requests\/sec/ {print $2}'
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -r)"
echo "nginx: $(nginx -v 2>&1 | cut -d/ -f2); comm-test: $bin; $rounds rounds of ${secs} s, wrk -t2 -c16"
start_ours --inbox off
for route in ui start; do
  : >"$work/ratios"
  for r in $(seq "$rounds"); do
    if [ $((r % 2)) = 1 ]; then a=$(rate $route $ours_port); b=$(rate $route $nginx_port)
    else b=$(rate $route $nginx_port); a=$(rate $route $ours_port); fi
    echo "$a $b" | awk '{printf "%.3f\n", $1/$2}' >>"$work/ratios"
    echo "  $route round $r: comm-test $a/s, nginx $b/s"
  done
  echo "$route: comm-test / nginx = $(median <"$work/ratios") (median of $rounds)"
done
stop_ours

# System calls per request: strace -c on PID (and its threads) while wrk
# -t1 -c4 runs GET /ui on PORT for 3 s.
calls() {
  local pid=$1 port=$2
  strace -f -c -p "$pid" -o "$work/strace.out" &
  local tracer=$!
  sleep 0.5
  local n
  n=$(wrk -t1 -c4 -d3s http://127.0.0.1:$port/ui | awk '/requests in/ {print $1}')
  sleep 0.3
  kill -INT $tracer; wait $tracer 2>/dev/null || true
  local total
  total=$(awk '/^100.00/ {print $4}' "$work/strace.out")
  echo "$total $n" | awk '{printf "%.2f system calls per request (%d calls, %d requests)\n", $1/$2, $1, $2}'
}
worker=$(pgrep -P "${pids[0]}" | head -1)
echo "system calls per keep-alive GET /ui (strace -f -c, wrk -t1 -c4 -d3s):"
echo "  nginx (worker, access log on): $(calls "$worker" $nginx_port)"
start_ours --inbox off
echo "  comm-test --inbox off:          $(calls $ours $ours_port)"
stop_ours
start_ours --inbox 127.0.0.1:$inbox_port
echo "  comm-test (inbox on):           $(calls $ours $ours_port)"
stop_ours
start_ours --inbox off --workers 2
echo "  comm-test --workers 2:          $(calls $ours $ours_port)"
stop_ours
