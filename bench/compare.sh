#!/usr/bin/env bash
# Side-by-side benchmark: notify-relay (memory and Redis broker) vs Nchan (memory and Redis
# store) on this machine, loopback only. Every server is started fresh per case and stopped by pid.
#
#   bench/compare.sh                       # everything (~15 min)
#   QUICK=1 bench/compare.sh               # smoke test: small counts, short windows (< 2 min)
#   SCENARIOS="fanout hot" TARGETS="relay-mem nchan-mem" bench/compare.sh
#   DURATION=10 bench/compare.sh           # shorter publish windows
# Scenarios: idle fanout hot poll pub storm.  Targets: relay-mem relay-redis nchan-mem nchan-redis,
# and relay-redis-nocache (relay-redis with --cache-bytes 0: every resume and poll reads Redis).
# storm: 10,000 SSE clients, 2,000 events/s; at 8 s every connection drops and reopens at once
# with its Last-Event-ID (STORM_N, STORM_RATE, STORM_AT, STORM_DUR).
# rolling: bench/rolling.sh once (two relays behind nginx, restarted one after the other under
# load; not per target; UPSTREAM_OPTS defaults to max_fails=0 here).
# scale: bench/scale.sh once (five relays on one Redis, 95,000 SSE streams, 2,000 events/s, 60 s;
# not per target, not in the default list: it takes the whole machine for about two minutes).
# RELAY_BUILD=1 rebuilds the relay first (else an existing target/release binary is used).
# RELAY_INGEST=redis makes relay-redis publish with Redis PUBLISH instead of POST /publish.
# QUIET_PCT / QUIET_WAIT: before each case wait until the machine is < QUIET_PCT% busy.
# Results: $OUT (default bench/results/<date>) holds per-case logs, results.jsonl, summary.md.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"

SCENARIOS="${SCENARIOS:-idle fanout hot poll pub storm rolling}"
TARGETS="${TARGETS:-relay-mem relay-redis nchan-mem nchan-redis}"
QUICK="${QUICK:-0}"
RELAY_INGEST="${RELAY_INGEST:-http}"

if [ "$QUICK" = 1 ]; then
    IDLE_N=1000; IDLE_SECS=2; FAN_N=1000; FAN_RATE=500; HOT_N=100; HOT_RATE=50
    POLL_N=500; POLL_RATE=200; DUR="${DURATION:-2}"; DRAIN=3; WRK_SECS=2
    STORM_N="${STORM_N:-1000}"; STORM_RATE="${STORM_RATE:-200}"; STORM_AT="${STORM_AT:-2}"
    STORM_DUR="${STORM_DUR:-5}"
else
    IDLE_N=19000; IDLE_SECS=20; FAN_N=10000; FAN_RATE=5000; HOT_N=1000; HOT_RATE=100
    POLL_N=5000; POLL_RATE=2000; DUR="${DURATION:-30}"; DRAIN=5; WRK_SECS=10
    STORM_N="${STORM_N:-10000}"; STORM_RATE="${STORM_RATE:-2000}"; STORM_AT="${STORM_AT:-8}"
    STORM_DUR="${STORM_DUR:-20}"
fi
RAMP="${RAMP:-3000}"

bench_setup ""
ensure_deps
build_bins
# Freeze the binary for this run (the root build may be rebuilt meanwhile) and record what ran.
cp "$RELAY_BIN" "$OUT/notify-relay"; RELAY_BIN="$OUT/notify-relay"
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "relay commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null) (dirty files: $(git -C "$ROOT" status --short 2>/dev/null | grep -vc '^??'))"
    echo "relay binary sha256: $(sha256sum "$RELAY_BIN" | cut -c1-16)"
    echo "nginx: $(nginx -v 2>&1 | cut -d/ -f2); nchan: $(dpkg-query -W -f='${Version}' libnginx-mod-nchan 2>/dev/null)"
    echo "redis: $(redis-server --version | awk '{print $3}'); wrk: $(dpkg-query -W -f='${Version}' wrk 2>/dev/null)"
    echo "machine: $(nproc) cpus, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r)"
    echo "QUICK=$QUICK SCENARIOS=$SCENARIOS TARGETS=$TARGETS DURATION=$DUR"
} | tee "$OUT/meta.txt"
export RUST_LOG="${RUST_LOG:-warn}"   # the relay's per-request logs off, like nginx access_log off

# start_target <target>: starts its servers; sets PORT, SERVER_PIDS, REDIS_PORT.
start_target() {
    PORT=$(free_port 18100); REDIS_PORT=""
    case "$1" in
        relay-mem) start_relay "$PORT"; SERVER_PIDS="$RELAY_PID" ;;
        relay-redis|relay-redis-nocache)
            REDIS_PORT=$(free_port 16400); start_redis "$REDIS_PORT" "$OUT/redis-$REDIS_PORT"
            local cache=()
            if [ "$1" = relay-redis-nocache ]; then cache=(--cache-bytes 0); fi
            start_relay "$PORT" --redis-url "redis://127.0.0.1:$REDIS_PORT" "${cache[@]}"
            SERVER_PIDS="$RELAY_PID $REDIS_PID" ;;
        nchan-mem) start_nchan "$PORT" ""; SERVER_PIDS="$NGINX_PIDS" ;;
        nchan-redis)
            REDIS_PORT=$(free_port 16400); start_redis "$REDIS_PORT" "$OUT/redis-$REDIS_PORT"
            start_nchan "$PORT" "$REDIS_PORT"; SERVER_PIDS="$NGINX_PIDS $REDIS_PID" ;;
        *) log "unknown target $1"; return 1 ;;
    esac
}

# Prints notify-load's target-specific flags for <target> <sse|poll>.
target_flags() {
    local base="http://127.0.0.1:$PORT"
    case "$1" in
        relay-*)
            if [ "$2" = poll ]; then
                echo "--mode relay-poll --url $base/poll?token={token}"
            else
                echo "--url $base/events?token={token}"
            fi
            if [ "$1" != relay-mem ] && [ "$RELAY_INGEST" = redis ]; then
                echo "--pub-redis 127.0.0.1:$REDIS_PORT --pub-channel image_update"
            else
                echo "--pub-relay $base/publish"
            fi ;;
        nchan-*)
            if [ "$2" = poll ]; then echo "--mode nchan-poll"; fi
            echo "--url $base/sub/u{user} --pub-url $base/pub/u{user}" ;;
    esac
}

# run_load <scenario> <target> <sse|poll> [notify-load flags...]
run_load() {
    local sc="$1" tg="$2" kind="$3"; shift 3
    local pidflags=() p
    for p in $SERVER_PIDS; do pidflags+=(--pid "$p"); done
    if [ -n "$REDIS_PORT" ]; then pidflags+=(--redis-stats "127.0.0.1:$REDIS_PORT"); fi
    # shellcheck disable=SC2046
    NOTIFY_LOAD_JWT_SECRET="$JWT_SECRET" NOTIFY_LOAD_PUBLISH_KEY="$PUBLISH_KEY" \
        timeout 600 "$LOAD_BIN" $(target_flags "$tg" "$kind") "${pidflags[@]}" \
        --label "$sc/$tg" --ramp-rate "$RAMP" --drain-secs "$DRAIN" "$@" \
        | tee "$OUT/$sc-$tg.txt"
    grep '^NOTIFY_LOAD_RESULT ' "$OUT/$sc-$tg.txt" | sed 's/^NOTIFY_LOAD_RESULT //' \
        | jq -c --arg s "$sc" --arg t "$tg" '. + {scenario: $s, target: $t}' >>"$OUT/results.jsonl"
}

# One event to a user outside the load's range, so the store's head is not the empty store's
# 0-0 (a cursor every instance must take to the store) when the clients first connect: the
# storm then resumes from real positions, as in a running deployment.
warm_head() {
    local base="http://127.0.0.1:$PORT" _
    case "$1" in
        relay-*) for _ in $(seq 100); do curl -fsS -o /dev/null "$base/readyz" && break; sleep 0.1; done
                 curl -fsS -o /dev/null -X POST -H "Authorization: Bearer $PUBLISH_KEY" \
                     -H 'Content-Type: application/json' -d '{"user_id":"warm"}' "$base/publish" ;;
        nchan-*) curl -fsS -o /dev/null -X POST -d '{}' "$base/pub/uwarm" ;;
    esac || log "warm-up publish failed"
}

run_wrk() {
    local tg="$1" kind=relay c0 c1 rps non2xx
    case "$tg" in nchan-*) kind=nchan ;; esac
    c0=$(cpu_secs $SERVER_PIDS)
    KIND=$kind KEY="$PUBLISH_KEY" USERS=1000 timeout 120 wrk -t1 -c32 -d"${WRK_SECS}s" \
        -s "$HERE/wrk-publish.lua" "http://127.0.0.1:$PORT" | tee "$OUT/pub-$tg.txt"
    c1=$(cpu_secs $SERVER_PIDS)
    rps=$(awk '/^Requests\/sec/ {print $2}' "$OUT/pub-$tg.txt")
    non2xx=$(awk '/Non-2xx/ {print $NF}' "$OUT/pub-$tg.txt"); non2xx=${non2xx:-0}
    jq -nc --arg t "$tg" --argjson r "${rps:-0}" --argjson e "$non2xx" \
        --argjson c "$(awk -v a="$c0" -v b="$c1" 'BEGIN{print b-a}')" \
        '{scenario:"pub", target:$t, requests_per_sec:$r, non_2xx:$e, server_cpu_secs:$c}' \
        >>"$OUT/results.jsonl"
}

log "results in $OUT"
for sc in $SCENARIOS; do
    if [ "$sc" = scale ]; then
        log "=== scale (bench/scale.sh) ==="
        sc_env=()
        if [ "$QUICK" = 1 ]; then sc_env=(INSTANCES=2 PER=1000 RATE=200 DUR=5); fi
        if env "${sc_env[@]}" OUT="$OUT/scale" RELAY_BIN="$RELAY_BIN" "$HERE/scale.sh" >"$OUT/scale.txt" 2>&1; then
            cat "$OUT/scale/results.jsonl" >>"$OUT/results.jsonl"
        else
            log "scale failed (see $OUT/scale.txt)"
        fi
        continue
    fi
    if [ "$sc" = rolling ]; then
        log "=== rolling (bench/rolling.sh) ==="
        roll=(N=10000 RATE=1000 DUR=50 DRAIN_SECS=10)
        if [ "$QUICK" = 1 ]; then roll=(N=1000 RATE=100 DUR=35 DRAIN_SECS=3); fi
        if env "${roll[@]}" OUT="$OUT/rolling" RELAY_BIN="$RELAY_BIN" \
            UPSTREAM_OPTS="${UPSTREAM_OPTS:-max_fails=0}" "$HERE/rolling.sh" >"$OUT/rolling.txt" 2>&1; then
            cat "$OUT/rolling/results.jsonl" >>"$OUT/results.jsonl"
        else
            log "rolling failed (see $OUT/rolling.txt)"
        fi
        continue
    fi
    for tg in $TARGETS; do
        wait_quiet
        log "=== $sc / $tg ==="
        if ! start_target "$tg"; then
            log "cannot start $tg (see $OUT/*.log); skipping"; stop_all; continue
        fi
        case "$sc" in
            idle) run_load idle "$tg" sse --connections "$IDLE_N" --idle-secs "$IDLE_SECS" --rate 0 ;;
            fanout) run_load fanout "$tg" sse --connections "$FAN_N" --rate "$FAN_RATE" \
                        --duration-secs "$DUR" --pub-conns 8 ;;
            hot) run_load hot "$tg" sse --connections "$HOT_N" --users 1 --rate "$HOT_RATE" \
                        --duration-secs "$DUR" --pub-conns 2 ;;
            poll) run_load poll "$tg" poll --connections "$POLL_N" --rate "$POLL_RATE" \
                        --duration-secs "$DUR" --pub-conns 8 ;;
            pub) run_wrk "$tg" ;;
            storm) warm_head "$tg"
                   run_load storm "$tg" sse --connections "$STORM_N" --rate "$STORM_RATE" \
                        --duration-secs "$STORM_DUR" --pub-conns 8 --storm-at-secs "$STORM_AT" ;;
            *) log "unknown scenario $sc" ;;
        esac
        stop_all
    done
done
"$HERE/table.sh" "$OUT/results.jsonl" | tee "$OUT/summary.md"
