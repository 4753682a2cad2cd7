#!/usr/bin/env bash
# Key-manager benchmark (issue 5): the token endpoint's client_credentials tokens/s with the
# server pinned to one core, and JWT signing / verification per core. Release build,
# loopback only, bounded in time; stops what it started.
#
#   bench/key-manager.sh                  # RS256 (default keys)
#   ALG=ES256 bench/key-manager.sh        # ES256 signing keys
#   SECONDS_PER_RUN=20 CONCURRENCY=64 bench/key-manager.sh
#
# Needs curl and jq. On a shared 2-core machine the load generator gets the other core;
# numbers are per server core only if nothing else runs there.
set -euo pipefail
cd "$(dirname "$0")/.."

ALG=${ALG:-RS256}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
CONCURRENCY=${CONCURRENCY:-32}
SERVER_CORE=${SERVER_CORE:-0}
CLIENT_CORE=${CLIENT_CORE:-1}

cargo build --release -q -p gantry --bin gantry --example token_load
cargo build --release -q -p gantry-keys --example jwt_bench
T=${CARGO_TARGET_DIR:-target}/release

echo "== JWT cryptography, one thread pinned to core $CLIENT_CORE"
taskset -c "$CLIENT_CORE" "$T/examples/jwt_bench" 3

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
CP=$(free_port); GW=$(free_port); OPS=$(free_port)
tmp=$(mktemp -d)
GANTRY_ADMIN_PASSWORD=bench-admin GANTRY_LOG=warn GANTRY_SIGNING_ALGORITHM="$ALG" \
  taskset -c "$SERVER_CORE" "$T/gantry" up --data-dir "$tmp/data" --no-demo \
  --control-plane-port "$CP" --gateway-port "$GW" --ops-port "$OPS" >"$tmp/log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

C="curl -sS --cacert $tmp/data/tls/ca.pem -u admin:bench-admin"
for _ in $(seq 1 100); do
  $C -o /dev/null "https://localhost:$CP/health/ready" 2>/dev/null && break
  sleep 0.1
done
APP=$($C -H 'Content-Type: application/json' "https://localhost:$CP/api/am/devportal/v3/applications" \
  -d '{"name":"BenchApp","throttlingPolicy":"Unlimited"}' | jq -r .applicationId)
KEYS=$($C -H 'Content-Type: application/json' \
  "https://localhost:$CP/api/am/devportal/v3/applications/$APP/generate-keys" \
  -d '{"keyType":"PRODUCTION","grantTypesToBeSupported":["client_credentials"]}')
CK=$(echo "$KEYS" | jq -r .consumerKey); CS=$(echo "$KEYS" | jq -r .consumerSecret)

echo "== token endpoint ($ALG keys): server on core $SERVER_CORE, load ($CONCURRENCY connections) on core $CLIENT_CORE"
taskset -c "$CLIENT_CORE" "$T/examples/token_load" "https://localhost:$CP" "$tmp/data/tls/ca.pem" \
  "$CK" "$CS" "$CONCURRENCY" 2 >/dev/null   # warm-up
taskset -c "$CLIENT_CORE" "$T/examples/token_load" "https://localhost:$CP" "$tmp/data/tls/ca.pem" \
  "$CK" "$CS" "$CONCURRENCY" "$SECONDS_PER_RUN"
