#!/usr/bin/env bash
# Rolling restart under load: two relays on one Redis behind nginx (nginx.conf.example with both
# instances in its upstream), N SSE clients through nginx that reopen ended streams with their
# Last-Event-ID (after 1 s), a steady publish rate (POST /publish straight to the second relay:
# the shipped config only lets the app's network publish through nginx); SIGTERM the first
# relay (paced drain), start it again, then the second. Reports lost / duplicated and the peak
# reconnects per second. Loopback only.
#
#   bench/rolling.sh                          # 10,000 clients, 1,000 events/s, 50 s
#   N=2000 RATE=200 DUR=30 DRAIN_SECS=5 bench/rolling.sh
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# UPSTREAM_OPTS: added to both upstream server lines, e.g. "max_fails=0" (nginx's default
# max_fails=1 fail_timeout=10s marks a draining instance down for 10 s).
UPSTREAM_OPTS="${UPSTREAM_OPTS:-max_fails=0}"
N="${N:-10000}"; RATE="${RATE:-1000}"; DUR="${DUR:-50}"; DRAIN_SECS="${DRAIN_SECS:-10}"
bench_setup rolling
build_bins
echo "commit $(git -C "$ROOT" rev-parse --short HEAD); N=$N RATE=$RATE DUR=$DUR DRAIN_SECS=$DRAIN_SECS; load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/meta.txt"

REDIS_PORT=$(free_port 16500); start_redis "$REDIS_PORT" "$OUT/redis"
A=$(free_port 18500); B=$(free_port $(( A + 1 ))); NGX=$(free_port $(( B + 1 )))
relay() { start_relay "$1" --redis-url "redis://127.0.0.1:$REDIS_PORT" --drain-secs "$DRAIN_SECS"; }
relay "$A"; PID_A=$RELAY_PID
relay "$B"; PID_B=$RELAY_PID

# The shipped config with its SET lines filled in for this machine.
mkdir -p "$OUT/nginx/tmp"
sed -e "s|^pid .*|pid $OUT/nginx/nginx.pid;|" \
    -e "s|^error_log .*|error_log $OUT/nginx/error.log warn;|" \
    -e "s|access_log .*;|access_log off;|" \
    -e "s|/var/lib/nginx/|$OUT/nginx/tmp/|" \
    -e "s|worker_connections 8192;|worker_connections 16384;|" \
    -e "s|server 127.0.0.1:8080 max_fails=0;.*|server 127.0.0.1:$A $UPSTREAM_OPTS; server 127.0.0.1:$B $UPSTREAM_OPTS;|" \
    -e "s|listen 80; .*|listen 127.0.0.1:$NGX;|" \
    "$ROOT/nginx.conf.example" >"$OUT/nginx/nginx.conf"
sed -i '1i worker_rlimit_nofile 19000;\ndaemon off;' "$OUT/nginx/nginx.conf"
nginx -p "$OUT/nginx" -c "$OUT/nginx/nginx.conf" -e "$OUT/nginx/error.log" &
PIDS_STARTED+=("$!"); wait_port "$NGX"

NOTIFY_LOAD_JWT_SECRET="$JWT_SECRET" NOTIFY_LOAD_PUBLISH_KEY="$PUBLISH_KEY" timeout 600 "$LOAD_BIN" \
    --url "http://127.0.0.1:$NGX/events?token={token}" --connections "$N" --rate "$RATE" \
    --duration-secs "$DUR" --pub-relay "http://127.0.0.1:$B/publish" --pub-conns 4 --resume-ms 1000 \
    --pid "$PID_A" --pid "$PID_B" --ramp-rate 3000 --drain-secs 10 --label rolling >"$OUT/load.txt" &
LOAD=$!
restart() { # restart <port> <pid>: SIGTERM, wait for the drain and exit, start again
    log "SIGTERM relay on :$1"; kill -TERM "$2"
    local _; for _ in $(seq $(( (DRAIN_SECS + 10) * 10 ))); do [ -d "/proc/$2" ] || break; sleep 0.1; done
    relay "$1"; log "relay on :$1 back (pid $RELAY_PID)"
}
sleep $(( N / 3000 + 6 ))
restart "$A" "$PID_A"
sleep 12   # past nginx's fail_timeout (10 s): the restarted instance is tried again
restart "$B" "$PID_B"
wait "$LOAD" || true
cat "$OUT/load.txt"
grep '^NOTIFY_LOAD_RESULT ' "$OUT/load.txt" | sed 's/^NOTIFY_LOAD_RESULT //' \
    | jq -c '{scenario: "rolling", target: "relay-redis x2 + nginx", connected, connections, published, publish_errors, delivery, resumes, peak_resumes_per_sec, latency, errors}' \
    | tee "$OUT/results.jsonl"
