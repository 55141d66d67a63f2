#!/usr/bin/env bash
# The relay's frame-once SSE body against actix-web-lab's `Sse` (cargo feature `lab-sse`): builds
# the relay with the feature, then runs compare.sh's fan-out and hot-user scenarios with each, interleaved
# (body, lab, body, lab, ...) REPS times, so machine noise falls on both alike. Writes every case
# to $OUT/results.jsonl with `variant` (body | lab-sse) and `rep`, and a table to $OUT/summary.md.
#
#   bench/sse-lab.sh                                   # 3 reps, 20 s windows, memory broker
#   REPS=1 DURATION=5 bench/sse-lab.sh                 # smoke test
#   TARGETS=relay-redis bench/sse-lab.sh               # on the Redis broker
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
REPS="${REPS:-3}"; DURATION="${DURATION:-20}"; TARGETS="${TARGETS:-relay-mem}"
SCENARIOS="${SCENARIOS:-fanout hot}"
OUT="${OUT:-$HERE/results/sse-lab-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$OUT/bin"; OUT="$(cd "$OUT" && pwd)"

# One binary built with `--features lab-sse` runs both sides: with NOTIFY_LAB_SSE=1 /events is
# written through actix-web-lab's Sse, without it through the relay's body (same dependencies).
if [ -n "${RELAY_BIN:-}" ]; then cp "$RELAY_BIN" "$OUT/bin/notify-relay"; else
    (cd "$ROOT" && cargo build --release --bin notify-relay --features lab-sse)
    cp "$ROOT/target/release/notify-relay" "$OUT/bin/notify-relay"
fi
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "relay commit: $(git -C "$ROOT" rev-parse --short HEAD) (dirty files: $(git -C "$ROOT" status --short | grep -vc '^??'))"
    echo "relay binary (--features lab-sse) sha256: $(sha256sum "$OUT/bin/notify-relay" | cut -c1-16)"
    echo "REPS=$REPS DURATION=$DURATION TARGETS=$TARGETS SCENARIOS=$SCENARIOS"
} | tee "$OUT/meta.txt"

: >"$OUT/results.jsonl"
for rep in $(seq "$REPS"); do
    for variant in body lab-sse; do
        case_out="$OUT/$rep-$variant"
        log "=== rep $rep, $variant (load average $(cut -d' ' -f1 /proc/loadavg)) ==="
        load0=$(cut -d' ' -f1 /proc/loadavg)
        lab=0; [ "$variant" = lab-sse ] && lab=1
        NOTIFY_LAB_SSE=$lab RELAY_BIN="$OUT/bin/notify-relay" OUT="$case_out" SCENARIOS="$SCENARIOS" \
            TARGETS="$TARGETS" DURATION="$DURATION" QUIET_WAIT="${QUIET_WAIT:-0}" \
            "$HERE/compare.sh" >"$case_out.log" 2>&1 || log "compare.sh failed (see $case_out.log)"
        load1=$(cut -d' ' -f1 /proc/loadavg)
        jq -c --arg v "$variant" --argjson r "$rep" --arg l0 "$load0" --arg l1 "$load1" \
            '. + {variant: $v, rep: $r, load_avg_start: $l0, load_avg_end: $l1}' \
            "$case_out/results.jsonl" >>"$OUT/results.jsonl"
    done
done

{
    echo "| scenario | target | variant | rep | delivered | lost | dup | p50 us | p99 us | p99.9 us | server CPU us/event | RSS/conn B | machine busy % | load avg |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    jq -r '[.scenario, .target, .variant, .rep, "\(.delivery.received)/\(.delivery.expected)",
            .delivery.lost, .delivery.duplicated, .latency.p50_us, .latency.p99_us, .latency.p999_us,
            ((.cpu_us_per_event // 0) * 100 | round / 100), (.rss_per_conn_bytes // 0 | round),
            (.machine_busy_pct | round), "\(.load_avg_start) → \(.load_avg_end)"]
           | "| " + (map(tostring) | join(" | ")) + " |"' "$OUT/results.jsonl"
} | tee "$OUT/summary.md"
