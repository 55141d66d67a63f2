#!/usr/bin/env bash
# Scale on one box: INSTANCES relays on one Redis, each holding PER SSE connections opened by its
# own notify-load process (a process stays under the 20,000 file-descriptor limit), and RATE
# events/s in total to the load's users, all published with POST /publish to the first instance
# (one publish path; every instance tails the shared log). The load processes ramp up, then
# publish over the same DUR-second window (--publish-at-unix-ms); this script samples every
# relay and Redis (RSS, CPU, connections, Redis commands) at the start and the end of that window,
# merges the processes' latency histograms and writes one line per instance and a total line to
# $OUT/results.jsonl. Loopback only; everything started here is stopped by pid.
#
#   bench/scale.sh                                       # 5 x 19,000 = 95,000 streams, 2,000/s, 60 s
#   INSTANCES=2 PER=1000 RATE=200 DUR=5 bench/scale.sh   # smoke test
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
INSTANCES="${INSTANCES:-5}"; PER="${PER:-19000}"; RATE="${RATE:-2000}"; DUR="${DUR:-60}"
RAMP="${RAMP:-1000}"     # new connections per second, per load process
bench_setup scale
ensure_deps
build_bins
export RUST_LOG="${RUST_LOG:-warn}"
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "relay commit: $(git -C "$ROOT" rev-parse --short HEAD) (dirty files: $(git -C "$ROOT" status --short | grep -vc '^??'))"
    echo "relay binary sha256: $(sha256sum "$RELAY_BIN" | cut -c1-16)"
    echo "redis: $(redis-server --version | awk '{print $3}')"
    echo "machine: $(nproc) cpus, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), fd limit $(ulimit -Hn)"
    echo "INSTANCES=$INSTANCES PER=$PER RATE=$RATE DUR=$DUR RAMP=$RAMP"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/meta.txt"

# rss_kb <pid> / cpu_s <pid>: from /proc.
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
cpu_s() { sed 's/.*) //' "/proc/$1/stat" | awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($12 + $13) / hz}'; }
redis_cmds() { redis-cli -p "$REDIS_PORT" info stats | awk -F: '/^total_commands_processed/ {print $2+0}'; }
# Per-command call counts as JSON ({"xread": n, ...}) from INFO commandstats.
redis_cmdstats() {
    redis-cli -p "$REDIS_PORT" info commandstats | tr -d '\r' \
        | sed -n 's/^cmdstat_\([^:]*\):calls=\([0-9]*\),.*/\1 \2/p' \
        | jq -Rn '[inputs | split(" ") | {(.[0]): (.[1] | tonumber)}] | add // {}'
}
# Kernel memory: TCP socket buffer pages (sockstat) and slab bytes (meminfo), as JSON.
kernel_mem() {
    jq -n --argjson tcp "$(awk '/^TCP:/ {for (i = 1; i < NF; i++) if ($i == "mem") print $(i + 1)}' /proc/net/sockstat)" \
        --argjson slab "$(awk '/^Slab:/ {print $2}' /proc/meminfo)" \
        --argjson used "$(awk '/^MemTotal/ {t = $2} /^MemAvailable/ {a = $2} END {print t - a}' /proc/meminfo)" \
        '{tcp_mem_pages: $tcp, slab_kib: $slab, used_kib: $used}'
}
established() { ss -Htn state established "( sport = :$1 )" | wc -l; }

REDIS_PORT=$(free_port 16600); start_redis "$REDIS_PORT" "$OUT/redis"
PORTS=(); PIDS=()
p=18600
for i in $(seq 0 $(( INSTANCES - 1 ))); do
    p=$(free_port "$p")
    start_relay "$p" --redis-url "redis://127.0.0.1:$REDIS_PORT" --max-connections-per-user 16
    PORTS+=("$p"); PIDS+=("$RELAY_PID"); p=$(( p + 1 ))
done
for _ in $(seq 100); do curl -fsS -o /dev/null "http://127.0.0.1:${PORTS[0]}/readyz" && break; sleep 0.1; done
KMEM0=$(kernel_mem); RCMDB=$(redis_cmds); TB=$(date +%s%3N)
declare -A RSS0
for i in "${!PIDS[@]}"; do RSS0[$i]=$(rss_kb "${PIDS[$i]}"); done

# Publishing starts for everyone once the slowest process should be up: its ramp, plus margin.
START_MS=$(( $(date +%s%3N) + (PER * 1000 / RAMP) * 3 / 2 + 5000 ))
LOADS=()
for i in "${!PORTS[@]}"; do
    NOTIFY_LOAD_JWT_SECRET="$JWT_SECRET" NOTIFY_LOAD_PUBLISH_KEY="$PUBLISH_KEY" timeout 900 "$LOAD_BIN" \
        --url "http://127.0.0.1:${PORTS[$i]}/events?token={token}" --connections "$PER" \
        --user-base $(( 1 + i * PER )) --rate "$(awk -v r="$RATE" -v n="$INSTANCES" 'BEGIN {print r / n}')" \
        --duration-secs "$DUR" --pub-relay "http://127.0.0.1:${PORTS[0]}/publish" --pub-conns 2 \
        --pid "${PIDS[$i]}" --ramp-rate "$RAMP" --drain-secs 5 --connect-timeout-secs 120 \
        --publish-at-unix-ms "$START_MS" --hist-out "$OUT/hist-$i.txt" --label "scale/$i" \
        >"$OUT/load-$i.txt" 2>&1 &
    LOADS+=("$!")
done

# Samples at the window's start, middle (connections) and end.
sleep_until_ms() { local d=$(( $1 - $(date +%s%3N) )); [ "$d" -le 0 ] || sleep "$(awk -v d="$d" 'BEGIN {print d / 1000}')"; }
sleep_until_ms "$START_MS"
declare -A CPU0 CPU1 RSSS RSS1 CONNS
for i in "${!PIDS[@]}"; do CPU0[$i]=$(cpu_s "${PIDS[$i]}"); RSSS[$i]=$(rss_kb "${PIDS[$i]}"); done
RCPU0=$(cpu_s "$REDIS_PID"); RCMD0=$(redis_cmds); T0=$(date +%s%3N); LOAD0=$(cut -d' ' -f1 /proc/loadavg)
KMEM1=$(kernel_mem); STATS0=$(redis_cmdstats)
sleep_until_ms $(( START_MS + DUR * 500 ))
for i in "${!PORTS[@]}"; do CONNS[$i]=$(established "${PORTS[$i]}"); done
log "mid-window: established per instance: ${CONNS[*]}"
sleep_until_ms $(( START_MS + DUR * 1000 ))
for i in "${!PIDS[@]}"; do CPU1[$i]=$(cpu_s "${PIDS[$i]}"); RSS1[$i]=$(rss_kb "${PIDS[$i]}"); done
RCPU1=$(cpu_s "$REDIS_PID"); RCMD1=$(redis_cmds); T1=$(date +%s%3N); LOAD1=$(cut -d' ' -f1 /proc/loadavg)
RRSS=$(rss_kb "$REDIS_PID"); STATS1=$(redis_cmdstats)
for pid in "${LOADS[@]}"; do wait "$pid" || log "a load process failed (see $OUT/load-*.txt)"; done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/meta.txt"

: >"$OUT/results.jsonl"
WIN=$(awk -v a="$T0" -v b="$T1" 'BEGIN {print (b - a) / 1000}')
for i in "${!PORTS[@]}"; do
    grep '^NOTIFY_LOAD_RESULT ' "$OUT/load-$i.txt" | sed 's/^NOTIFY_LOAD_RESULT //' | jq -c \
        --argjson i "$i" --argjson conns "${CONNS[$i]}" --argjson rss0 "${RSS0[$i]}" \
        --argjson rsss "${RSSS[$i]}" --argjson rss1 "${RSS1[$i]}" --argjson c0 "${CPU0[$i]}" --argjson c1 "${CPU1[$i]}" --argjson w "$WIN" \
        '{scenario: "scale", target: "relay-redis #\($i)", instance: $i, connections, connected,
          established_mid_window: $conns, published, delivery, latency,
          relay_rss_mib_connected: ($rsss / 1024), relay_rss_mib_end: ($rss1 / 1024),
          relay_rss_per_conn_b: (($rsss - $rss0) * 1024 / .connected),
          relay_cpu_pct: (100 * ($c1 - $c0) / $w)}' >>"$OUT/results.jsonl" \
        || log "no result from load process $i"
done
# The merged latency of every delivery, from the processes' histograms.
MERGED=$(cat "$OUT"/hist-*.txt | sort -n | awk '
    { v[NR] = $1; c[NR] = $2; n += $2 }
    END {
        split("0.5 0.99 0.999", q, " "); k = 1; s = 0
        for (j = 1; j <= NR; j++) {
            s += c[j]
            while (k <= 3 && s >= q[k] * n) { p[k] = v[j]; k++ }
        }
        printf "{\"count\":%d,\"p50_us\":%d,\"p99_us\":%d,\"p999_us\":%d,\"max_us\":%d}", n, p[1], p[2], p[3], v[NR]
    }')
jq -sc --argjson lat "$MERGED" --argjson w "$WIN" --argjson rc0 "$RCPU0" --argjson rc1 "$RCPU1" \
    --argjson rm0 "$RCMD0" --argjson rm1 "$RCMD1" --argjson rrss "$RRSS" \
    --arg l0 "$LOAD0" --arg l1 "$LOAD1" --argjson n "$INSTANCES" \
    --argjson rmb "$RCMDB" --argjson tb "$TB" --argjson t0 "$T0" \
    --argjson km0 "$KMEM0" --argjson km1 "$KMEM1" --argjson s0 "$STATS0" --argjson s1 "$STATS1" \
    '{scenario: "scale", target: "relay-redis x\($n) total", instances: $n,
      connections: (map(.connections) | add), connected: (map(.connected) | add),
      established_mid_window: (map(.established_mid_window) | add),
      published: (map(.published) | add),
      delivered: (map(.delivery.received) | add), expected: (map(.delivery.expected) | add),
      lost: (map(.delivery.lost) | add), duplicated: (map(.delivery.duplicated) | add),
      unexpected: (map(.delivery.unexpected) | add),
      latency: $lat, window_secs: $w,
      relay_rss_mib_connected: (map(.relay_rss_mib_connected) | add),
      relay_rss_mib_end: (map(.relay_rss_mib_end) | add), relay_cpu_pct: (map(.relay_cpu_pct) | add),
      redis_cpu_pct: (100 * ($rc1 - $rc0) / $w), redis_rss_mib: ($rrss / 1024),
      redis_ops_per_sec: (($rm1 - $rm0) / $w),
      redis_ops_per_sec_before_publishing: (($rm0 - $rmb) * 1000 / ($t0 - $tb)),
      redis_calls_per_sec_by_command: ($s1 | with_entries(.value = ((.value - ($s0[.key] // 0)) / $w | . * 10 | round / 10))
                                         | with_entries(select(.value > 0))),
      kernel_before_connect: $km0, kernel_connected: $km1,
      load_avg_start: $l0, load_avg_end: $l1}' \
    "$OUT/results.jsonl" | tee -a "$OUT/results.jsonl"
