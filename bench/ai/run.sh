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
NAME=ai/run.sh
NGINX_CONF=$HERE/nginx.conf
# shellcheck source=../one-gantry.sh
. "$HERE/../one-gantry.sh"
PUB=$CP/api/am/publisher/v4

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

: >"$WORK/results"
for round in $(seq 1 "$ROUNDS"); do
    for case in rest mcp llm; do
        say "round $round: $case"
        echo "$case $(measure "$WORK/$case.lua" "${URL[$case]}")" >>"$WORK/results"
    done
done
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
