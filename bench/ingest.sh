#!/usr/bin/env bash
# Ingest paths compared on the Redis broker: Redis PUBLISH (the pub/sub bridge), XADD to the
# ingest stream, and POST /publish. Each case starts a fresh redis-server and relay, opens the
# subscribers, publishes at a fixed rate and reports delivered/lost and publish-to-receive
# latency (notify-load). Every server is stopped by pid at the end.
#
#   bench/ingest.sh                                  # both scenarios, all three paths
#   PATHS="pubsub stream" RATES="20000 30000" bench/ingest.sh
#   SCENARIOS=wide DURATION=10 bench/ingest.sh
# Scenarios: narrow = 1,000 subscribers (1,000 users) at each of $RATES events/s;
#            wide   = 10,000 subscribers (10,000 users) at 5,000 events/s.
# Paths: pubsub (PUBLISH image_update), stream (XADD notify:ingest), http (POST /publish).
# RELAY_BUILD=1 rebuilds the relay first. Results: $OUT (default bench/results/ingest-<date>):
# per-case logs, results.jsonl (one line per case, with the machine's load average).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"

SCENARIOS="${SCENARIOS:-narrow wide}"
PATHS="${PATHS:-pubsub stream http}"
RATES="${RATES:-10000 20000 30000 40000}"
DUR="${DURATION:-10}"
PUB_CONNS="${PUB_CONNS:-16}"
bench_setup ingest
ensure_deps
build_bins
cp "$RELAY_BIN" "$OUT/notify-relay"; RELAY_BIN="$OUT/notify-relay"
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "relay commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)"
    echo "redis: $(redis-server --version | awk '{print $3}')"
    echo "machine: $(nproc) cpus; SCENARIOS=$SCENARIOS PATHS=$PATHS RATES=$RATES DURATION=$DUR"
} | tee "$OUT/meta.txt"
export RUST_LOG="${RUST_LOG:-warn}"

# run_case <label> <path> <connections> <rate>
run_case() {
    local label="$1" path="$2" conns="$3" rate="$4" port redis_port pub load1
    port=$(free_port 18100); redis_port=$(free_port 16400)
    start_redis "$redis_port" "$OUT/redis-$redis_port"
    # A queue deep enough that a subscriber is never dropped for falling behind a burst.
    start_relay "$port" --redis-url "redis://127.0.0.1:$redis_port" --queue-len 4096
    case "$path" in
        pubsub) pub=(--pub-redis "127.0.0.1:$redis_port" --pub-channel image_update) ;;
        stream) pub=(--pub-redis "127.0.0.1:$redis_port" --pub-stream notify:ingest) ;;
        http) pub=(--pub-relay "http://127.0.0.1:$port/publish") ;;
    esac
    load1=$(cut -d' ' -f1 /proc/loadavg)
    log "=== $label / $path: $conns subscribers, $rate/s for ${DUR}s (load average $load1) ==="
    NOTIFY_LOAD_JWT_SECRET="$JWT_SECRET" NOTIFY_LOAD_PUBLISH_KEY="$PUBLISH_KEY" \
        timeout 600 "$LOAD_BIN" --url "http://127.0.0.1:$port/events?token={token}" \
        "${pub[@]}" --pid "$RELAY_PID" --pid "$REDIS_PID" --label "$label/$path" \
        --connections "$conns" --rate "$rate" --duration-secs "$DUR" --pub-conns "$PUB_CONNS" \
        --ramp-rate 3000 --drain-secs 5 | tee "$OUT/$label-$path-$rate.txt"
    grep '^NOTIFY_LOAD_RESULT ' "$OUT/$label-$path-$rate.txt" | sed 's/^NOTIFY_LOAD_RESULT //' \
        | jq -c --arg p "$path" --arg l "$label" --argjson load "$load1" \
            '. + {ingest: $p, scenario: $l, load_average_1m: $load}' >>"$OUT/results.jsonl"
    stop_all
}

log "results in $OUT"
for sc in $SCENARIOS; do
    for path in $PATHS; do
        case "$sc" in
            narrow) for rate in $RATES; do run_case narrow "$path" 1000 "$rate"; done ;;
            wide) run_case wide "$path" 10000 5000 ;;
            *) log "unknown scenario $sc" ;;
        esac
    done
done
jq -r '[.scenario, .ingest, .rate, .publish_rate, .delivery.received, .delivery.expected,
        .delivery.lost, .latency.p50_us, .latency.p99_us, .latency.max_us, .load_average_1m]
       | @tsv' "$OUT/results.jsonl" \
    | (echo -e "scenario\tpath\trate\tpublished/s\treceived\texpected\tlost\tp50us\tp99us\tmaxus\tload1"; cat) \
    | tee "$OUT/summary.tsv"
