#!/usr/bin/env bash
# Fuzzes the HTTP API against its own OpenAPI description with schemathesis: no 5xx, and every
# answer (status, content type, headers, body) as described. Starts the relay binary (memory
# broker) on a free port and stops it by pid. Builds the binary if missing; installs
# schemathesis into .venv/ (git-ignored) on first use. ST_MAX_EXAMPLES and ST_SEED tune a run.
#
# Three passes. Pass 1: every operation but /events, on the memory broker, where the email routes
# (/users/{user}/contact, /notifications) answer their described 501 `email_needs_redis`: only
# for those is a 501 not counted as a server error. Pass 2: /events alone, on a relay that allows
# one connection per user while this script holds that user's one stream open: the fuzzer then
# reaches every check of /events (query, cursor, token) and every request that passes them gets
# a quick 429 instead of an endless 200 stream that a request/response fuzzer could only time
# out on. The 200 stream itself is covered by tests/api/. Pass 3: the offline and admin routes on
# the redis broker (a throwaway redis-server, if one is installed), where no 5xx is allowed;
# skipped with a notice when redis-server is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
if [ ! -x "$venv/bin/schemathesis" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'schemathesis>=4.3,<5'
fi
relay=target/debug/notify-relay
[ -x "$relay" ] || cargo build --bins

jwt_secret="st-jwt-secret-$RANDOM$RANDOM"
export ST_PUBLISH_KEY="st-publish-key-$RANDOM$RANDOM"
export ST_METRICS_KEY="st-metrics-key-$RANDOM$RANDOM"
export ST_ADMIN_KEY="st-admin-key-$RANDOM$RANDOM"
export ST_SUBSCRIBER_TOKEN=$(JWT_SECRET="$jwt_secret" python3 - <<'PY'
# An HS256 subscriber token for user "fuzz", valid for an hour.
import base64, hashlib, hmac, json, os, time
def b64(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
body = b64(json.dumps({"sub": "fuzz", "exp": int(time.time()) + 3600}).encode())
sig = hmac.new(os.environ["JWT_SECRET"].encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
print(f"{head}.{body}.{b64(sig)}")
PY
)

pids=()
logs=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -f "${logs[@]}"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_relay EXTRA_ARGS...: starts a relay, waits until ready, sets $base and $log. The fuzzer
# sends wrong keys on purpose, thousands of them: the per-address budget for those is off here.
start_relay() {
    local port
    port=$(free_port)
    log=$(mktemp)
    logs+=("$log")
    RUST_LOG=warn "$relay" --listen "127.0.0.1:$port" --jwt-secret "$jwt_secret" \
        --publish-key "$ST_PUBLISH_KEY" --metrics-key "$ST_METRICS_KEY" \
        --poll-timeout-secs 1 --auth-failures-per-min 0 "$@" >"$log" 2>&1 &
    pids+=($!)
    base="http://127.0.0.1:$port"
    python3 - "$base/readyz" <<'PY'
import sys, time, urllib.request
for _ in range(100):
    try:
        urllib.request.urlopen(sys.argv[1], timeout=1)
        sys.exit(0)
    except Exception:
        time.sleep(0.1)
sys.exit("the relay never became ready")
PY
}

# fuzz LOG SCHEMATHESIS_ARGS...: runs schemathesis against $base with $config; prints the relay
# log on failure.
config=tests/schemathesis.toml
fuzz() {
    local log=$1 status=0
    shift
    "$venv/bin/schemathesis" --config-file "$config" run "$base/openapi.json" \
        --checks all \
        --max-examples "${ST_MAX_EXAMPLES:-100}" \
        --seed "${ST_SEED:-20261125}" \
        --request-timeout 5 \
        --workers 1 \
        --no-color "$@" || status=$?
    if [ "$status" -ne 0 ]; then
        echo "schemathesis failed; the relay's log:" >&2
        cat "$log" >&2
    fi
    return "$status"
}

# The memory broker's settings: the email routes may answer 501 (and only 501 among the 5xx).
config=$(mktemp)
logs+=("$config")
cat tests/schemathesis.toml - >"$config" <<'TOML'

[[operations]]
include-path-regex = "^/(users/[^/]+/contact|notifications)$"
checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "501"]
TOML
start_relay --max-connections-per-user 64
fuzz "$log" --exclude-path /events
config=tests/schemathesis.toml

start_relay --max-connections-per-user 1
# Hold user "fuzz"'s one stream open (the relay answers 429 to any other), reading nothing.
python3 - "$base/events" "$ST_SUBSCRIBER_TOKEN" <<'PY' &
import sys, time, urllib.request
req = urllib.request.Request(sys.argv[1], headers={"Authorization": "Bearer " + sys.argv[2]})
stream = urllib.request.urlopen(req)
time.sleep(3600)
PY
pids+=($!)
python3 - "$base/metrics" "$ST_METRICS_KEY" <<'PY'
# Wait until the relay counts that stream.
import sys, time, urllib.request
req = urllib.request.Request(sys.argv[1], headers={"Authorization": "Bearer " + sys.argv[2]})
for _ in range(100):
    if 'notify_connections{transport="sse"} 1' in urllib.request.urlopen(req).read().decode():
        sys.exit(0)
    time.sleep(0.1)
sys.exit("the held stream never opened")
PY
fuzz "$log" --include-path /events

if ! command -v redis-server >/dev/null; then
    echo "redis-server not found: the offline routes were fuzzed on the memory broker only" >&2
    exit 0
fi
redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
    --loglevel warning >/dev/null 2>&1 &
pids+=($!)
python3 - "$redis_port" <<'PY'
# Wait until redis answers PING.
import socket, sys, time
for _ in range(100):
    try:
        with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1) as s:
            s.sendall(b"PING\r\n")
            if s.recv(16).startswith(b"+PONG"):
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.1)
sys.exit("redis-server never answered")
PY
# The admin routes exist on this relay only (--admin-key), so only here is their key configured.
config=$(mktemp)
logs+=("$config")
cat tests/schemathesis.toml - >"$config" <<'TOML'

[auth.openapi.admin_key]
bearer = "${ST_ADMIN_KEY}"
TOML
start_relay --redis-url "redis://127.0.0.1:$redis_port" --admin-key "$ST_ADMIN_KEY"
fuzz "$log" --include-path-regex '^/(presence/|users/|notifications|admin)'
