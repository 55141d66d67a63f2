#!/usr/bin/env bash
# Topic fan-out: one event published to a topic with 10, 1,000 and 10,000 subscribers, on the
# memory and the Redis broker. notify-load holds one SSE connection per subscriber and reports
# publish-to-receive latency over every subscriber (append + expansion + fan-out + write), loss
# and duplicates; on Redis the longest single Redis command (SLOWLOG, slower than 1 ms) shows
# whether a big topic held Redis, i.e. stalled everyone else's publishes.
#
#   bench/topics.sh                        # all sizes, both brokers (~3 min)
#   SIZES="10 1000" BROKERS=mem bench/topics.sh
# Results: $OUT (default bench/results/topics-<date>) holds per-case logs and results.jsonl.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"

SIZES="${SIZES:-10 1000 10000}"
BROKERS="${BROKERS:-mem redis}"
DUR="${DURATION:-10}"
bench_setup topics
ensure_deps
build_bins
export RUST_LOG=warn

# Events per second for a topic of <n> subscribers: about 50,000 deliveries/s at most.
rate_for() { case "$1" in 10) echo 200 ;; 1000) echo 20 ;; *) echo 5 ;; esac; }

for broker in $BROKERS; do
    for n in $SIZES; do
        wait_quiet
        PORT=$(free_port 18100); pids=""
        if [ "$broker" = redis ]; then
            REDIS_PORT=$(free_port 16400); start_redis "$REDIS_PORT" "$OUT/redis-$REDIS_PORT"
            redis-cli -p "$REDIS_PORT" CONFIG SET slowlog-log-slower-than 1000 >/dev/null
            start_relay "$PORT" --redis-url "redis://127.0.0.1:$REDIS_PORT"
            pids="--pid $RELAY_PID --pid $REDIS_PID"
        else
            start_relay "$PORT"; pids="--pid $RELAY_PID"
        fi
        # The topic's subscribers are exactly notify-load's users (ids 1..n).
        seq 1 "$n" | jq -R . | jq -sc '{subscribers: .}' \
            | curl -sf -X PUT -H "Authorization: Bearer $PUBLISH_KEY" -H 'Content-Type: application/json' \
                --data-binary @- "http://127.0.0.1:$PORT/topics/bench/subscribers" >/dev/null
        label="topic/$broker/$n"
        log "=== $label ==="
        # shellcheck disable=SC2086
        NOTIFY_LOAD_JWT_SECRET="$JWT_SECRET" NOTIFY_LOAD_PUBLISH_KEY="$PUBLISH_KEY" timeout 300 \
            "$LOAD_BIN" --url "http://127.0.0.1:$PORT/events?token={token}" \
            --pub-relay "http://127.0.0.1:$PORT/publish" --pub-topic bench $pids \
            --connections "$n" --users "$n" --rate "$(rate_for "$n")" --duration-secs "$DUR" \
            --pub-conns 1 --ramp-rate 3000 --drain-secs 5 --label "$label" | tee "$OUT/$broker-$n.txt"
        slow_us=0
        if [ "$broker" = redis ]; then
            # Each entry's third field is its duration in us: "   3) (integer) 50514" (any indent).
            slow_us=$(redis-cli -p "$REDIS_PORT" --no-raw SLOWLOG GET 128 \
                | sed -n 's/^ *3) (integer) \([0-9]*\)$/\1/p' | sort -n | tail -1)
            slow_us=${slow_us:-0}
        fi
        grep '^NOTIFY_LOAD_RESULT ' "$OUT/$broker-$n.txt" | sed 's/^NOTIFY_LOAD_RESULT //' \
            | jq -c --arg b "$broker" --argjson n "$n" --argjson s "$slow_us" \
                '{broker: $b, subscribers: $n, events: .published, delivered: .delivery.received,
                  expected: .delivery.expected, lost: .delivery.lost, dup: .delivery.duplicated,
                  p50_us: .latency.p50_us, p99_us: .latency.p99_us, max_us: .latency.max_us,
                  cpu_us_per_delivery: .cpu_us_per_event, longest_redis_command_us: $s}' \
            | tee -a "$OUT/results.jsonl"
        stop_all
    done
done
