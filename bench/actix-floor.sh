#!/usr/bin/env bash
# Memory per idle SSE connection: a bare actix-web stream (examples/actix_floor.rs) with the
# relay's pieces added one at a time, against the relay itself (memory broker), loopback only.
#
#   bench/actix-floor.sh                  # 5,000 connections per case, 5 s idle window
#   N=19000 IDLE=20 bench/actix-floor.sh  # the idle scenario's size
#   CASES="bare relay" bench/actix-floor.sh
#   PROFILE=dev bench/actix-floor.sh      # debug builds (quicker to build; heap sizes are the same)
#   RELAY_LOG=info CASES=relay bench/actix-floor.sh   # the relay at its default log level
# Cases: bare (dispatcher + a streaming body), queue (+ the hub's 256-slot channel in a map),
# tracing (+ the relay's middleware stack: request span at info, from_fn layers),
# queue,tracing (both), relay (the relay binary, RUST_LOG=$RELAY_LOG, default warn as in compare.sh).
# Prints one line per case: RSS per connection in bytes (RSS growth / connections).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
N="${N:-5000}"; IDLE="${IDLE:-5}"; CASES="${CASES:-bare queue tracing queue,tracing relay}"
bench_setup floor
PROFILE="${PROFILE:-release}"; DIR=release; [ "$PROFILE" = dev ] && DIR=debug
(cd "$ROOT" && cargo build --profile "$PROFILE" --quiet --example actix_floor --bin notify-relay)
cargo build --release --quiet --manifest-path "$ROOT/load/Cargo.toml"
FLOOR_BIN="$ROOT/target/$DIR/examples/actix_floor"
RELAY_BIN="$ROOT/target/$DIR/notify-relay"
LOAD_BIN="$ROOT/load/target/release/notify-load"
echo "commit $(git -C "$ROOT" rev-parse --short HEAD); profile $PROFILE; N=$N IDLE=$IDLE; relay RUST_LOG=${RELAY_LOG:-warn}; load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/meta.txt"
for case in $CASES; do
    PORT=$(free_port 18300)
    if [ "$case" = relay ]; then
        RUST_LOG="${RELAY_LOG:-warn}" start_relay "$PORT"; PID=$RELAY_PID
    else
        FLOOR="$case" "$FLOOR_BIN" "127.0.0.1:$PORT" >"$OUT/floor-$PORT.log" 2>&1 &
        PID=$!; PIDS_STARTED+=("$PID"); wait_port "$PORT"
    fi
    NOTIFY_LOAD_JWT_SECRET="$JWT_SECRET" timeout 300 "$LOAD_BIN" \
        --url "http://127.0.0.1:$PORT/events?token={token}" --connections "$N" --rate 0 \
        --idle-secs "$IDLE" --pid "$PID" --ramp-rate 3000 --label "floor/$case" >"$OUT/$case.txt"
    grep '^NOTIFY_LOAD_RESULT ' "$OUT/$case.txt" | sed 's/^NOTIFY_LOAD_RESULT //' \
        | jq -c --arg c "$case" '{case: $c, connected, rss_per_conn_bytes, idle_cpu_pct}' \
        | tee -a "$OUT/results.jsonl"
    stop_all
done
