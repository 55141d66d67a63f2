#!/usr/bin/env bash
# Redis Cluster vs one Redis node, and the cost of WAIT 1, on this machine. Cases:
#   single        one redis-server, --redis-url
#   single-wait1  a primary and one replica, --redis-wait-replicas 1
#   cluster       3 primaries + 3 replicas (redis-cli --cluster create), --redis-cluster
#   cluster-wait1 the same cluster, --redis-wait-replicas 1
# Each case measures the publish rate (wrk, POST /publish to 1,000 users, no subscribers) and
# fan-out latency (notify-load: FAN_N SSE connections of FAN_N users, FAN_RATE events/s).
#
#   bench/cluster.sh                                 # all cases (~4 min + waits)
#   CASES="single cluster" FAN_N=1000 bench/cluster.sh
# Results: $OUT (default bench/results/cluster-<date>) holds per-case logs and results.jsonl.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"

CASES="${CASES:-single single-wait1 cluster cluster-wait1}"
FAN_N="${FAN_N:-2000}"
FAN_RATE="${FAN_RATE:-2000}"
DUR="${DURATION:-15}"
WRK_SECS="${WRK_SECS:-10}"
bench_setup cluster
ensure_deps
build_bins
export RUST_LOG=warn

# start_node <port> [redis-server flags...]: one more redis-server; its pid joins REDIS_PIDS.
start_node() {
    local port="$1"; shift
    # A fresh directory: a cluster node's nodes.conf from an earlier case would make it refuse
    # to join a new cluster.
    rm -rf "$OUT/redis-$port"; mkdir -p "$OUT/redis-$port"
    (cd "$OUT/redis-$port" && exec redis-server --bind 127.0.0.1 --port "$port" --save "" \
        --appendonly no --dir "$OUT/redis-$port" --logfile "$OUT/redis-$port/redis.log" "$@") &
    PIDS_STARTED+=("$!"); REDIS_PIDS+=("$!")
    wait_port "$port"
}

# Waits until `redis-cli -p <port> INFO replication` shows <n> replicas online.
wait_replicas() {
    local i
    for i in $(seq 200); do
        [ "$(redis-cli -p "$1" INFO replication | grep -c 'state=online')" -ge "$2" ] && return 0
        sleep 0.1
    done
    log "replicas of $1 never came online"; return 1
}

# start_case <case>: the Redis side and the relay; sets PORT and SERVER_PIDS.
start_case() {
    local ports=() p i
    REDIS_PIDS=()
    case "$1" in
        single*)
            ports=("$(free_port 16500)"); start_node "${ports[0]}"
            if [ "$1" = single-wait1 ]; then
                p=$(free_port $((ports[0] + 1))); start_node "$p" --replicaof 127.0.0.1 "${ports[0]}"
                wait_replicas "${ports[0]}" 1
            fi
            redis_flags=(--redis-url "redis://127.0.0.1:${ports[0]}") ;;
        cluster*)
            p=16600
            for i in 1 2 3 4 5 6; do
                p=$(free_port $((p + 1))); ports+=("$p")
                start_node "$p" --cluster-enabled yes --cluster-config-file nodes.conf \
                    --cluster-node-timeout 1000
            done
            # shellcheck disable=SC2046 # one argument per node
            redis-cli --cluster create $(printf '127.0.0.1:%s ' "${ports[@]}") \
                --cluster-replicas 1 --cluster-yes >"$OUT/cluster-create.txt"
            for i in $(seq 300); do
                redis-cli -p "${ports[0]}" CLUSTER INFO | grep -q 'cluster_state:ok' && break
                sleep 0.1
            done
            for p in "${ports[@]}"; do
                if redis-cli -p "$p" ROLE | head -1 | grep -q master; then wait_replicas "$p" 1; fi
            done
            redis_flags=(--redis-cluster "$(printf '127.0.0.1:%s,' "${ports[@]}" | sed 's/,$//')") ;;
    esac
    case "$1" in *wait1) redis_flags+=(--redis-wait-replicas 1) ;; esac
    PORT=$(free_port 18200)
    start_relay "$PORT" "${redis_flags[@]}"
    for i in $(seq 100); do curl -fsS -o /dev/null "http://127.0.0.1:$PORT/readyz" && break; sleep 0.1; done
    SERVER_PIDS="$RELAY_PID ${REDIS_PIDS[*]}"
}

log "results in $OUT"
for c in $CASES; do
    wait_quiet
    log "=== $c ==="
    start_case "$c"
    busy=$(busy_pct)
    c0=$(cpu_secs $SERVER_PIDS)
    KIND=relay KEY="$PUBLISH_KEY" USERS=1000 timeout 120 wrk -t1 -c32 -d"${WRK_SECS}s" \
        -s "$HERE/wrk-publish.lua" "http://127.0.0.1:$PORT" | tee "$OUT/pub-$c.txt"
    c1=$(cpu_secs $SERVER_PIDS)
    rps=$(awk '/^Requests\/sec/ {print $2}' "$OUT/pub-$c.txt")
    non2xx=$(awk '/Non-2xx/ {print $NF}' "$OUT/pub-$c.txt"); non2xx=${non2xx:-0}
    pidflags=(); for p in $SERVER_PIDS; do pidflags+=(--pid "$p"); done
    NOTIFY_LOAD_JWT_SECRET="$JWT_SECRET" NOTIFY_LOAD_PUBLISH_KEY="$PUBLISH_KEY" timeout 300 \
        "$LOAD_BIN" --url "http://127.0.0.1:$PORT/events?token={token}" \
        --pub-relay "http://127.0.0.1:$PORT/publish" "${pidflags[@]}" \
        --connections "$FAN_N" --rate "$FAN_RATE" --duration-secs "$DUR" --pub-conns 8 \
        --ramp-rate 3000 --drain-secs 5 --label "fanout/$c" | tee "$OUT/fanout-$c.txt"
    grep '^NOTIFY_LOAD_RESULT ' "$OUT/fanout-$c.txt" | sed 's/^NOTIFY_LOAD_RESULT //' \
        | jq -c --arg c "$c" --argjson r "${rps:-0}" --argjson e "$non2xx" --argjson b "$busy" \
            --argjson cpu "$(awk -v a="$c0" -v b="$c1" 'BEGIN{print b-a}')" \
            '{case: $c, publish_per_sec: $r, publish_non_2xx: $e, publish_server_cpu_secs: $cpu,
              machine_busy_pct_before: $b, fanout_target: .rate, fanout_rate: .publish_rate,
              published: .published, publish_errors: .publish_errors,
              delivered: .delivery.received, machine_busy_pct: .machine_busy_pct,
              lost: .delivery.lost, dup: .delivery.duplicated, p50_us: .latency.p50_us,
              p99_us: .latency.p99_us, max_us: .latency.max_us,
              server_cpu_us_per_event: .cpu_us_per_event}' \
        | tee -a "$OUT/results.jsonl"
    stop_all
done
