#!/usr/bin/env bash
# The token route under load, side by side in one run: one RSA token minted
# fresh for the run (`comm-test mint`, 15 min lifetime) and repeated, wrk
# -t2 -c16, three alternating rounds of 5 s per configuration; requests/s
# per round and RSS after. Configurations: BINARY [--workers N] for each
# binary given and N in 1 2, and, if given, another plugin's attr_url
# (started by you, with the public test keys).
# Usage: tests/load/token.sh BINARY... [-- OTHER_ATTR_URL]
set -euo pipefail
cd "$(dirname "$0")/../.."
bins=(); other=""
while [ $# -gt 0 ]; do
  if [ "$1" = "--" ]; then other=${2:-}; break; fi
  bins+=("$1"); shift
done
tok=$(mktemp); lua=$(mktemp --suffix=.lua)
# No trailing newline: not every plugin trims its body.
"${bins[0]}" mint --exp-in 900 --attr email=load@example.nl | tr -d '\n' > "$tok"
cat > "$lua" <<LUA
local f = assert(io.open("$tok", "rb"))
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/jwt"
wrk.body = f:read("*a")
f:close()
LUA
pids=(); urls=(); names=()
port=18400
for b in "${bins[@]}"; do
  for w in 1 2; do
    "$b" --listen 127.0.0.1:$port --inbox off --workers $w 2>/dev/null &
    pids+=($!); urls+=(http://127.0.0.1:$port/auth_result); names+=("$(basename "$b") --workers $w")
    port=$((port + 1))
  done
done
[ -n "$other" ] && { urls+=("$other"); names+=("other: $other"); }
trap 'kill ${pids[*]} 2>/dev/null; rm -f "$tok" "$lua"' EXIT
sleep 0.5
for round in 1 2 3; do
  for i in "${!urls[@]}"; do
    out=$(wrk -t2 -c16 -d5s -s "$lua" "${urls[$i]}")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    bad=$(awk '/Non-2xx/ {print $4}' <<<"$out")
    echo "round $round  ${names[$i]}  $rps req/s${bad:+  ($bad non-2xx: not a valid run)}"
  done
done
for i in "${!pids[@]}"; do
  echo "RSS after load: ${names[$i]}: $(grep VmRSS /proc/${pids[$i]}/status | awk '{print $2, $3}')"
done
