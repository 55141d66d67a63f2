#!/usr/bin/env bash
# Markdown tables from compare.sh's results.jsonl:  bench/table.sh bench/results/<run>/results.jsonl
set -euo pipefail
F="${1:?usage: table.sh results.jsonl}"
# True when some result line matches the jq condition.
has() { jq -c "select($1)" "$F" | grep -q .; }

echo "### SSE / long-poll scenarios"
echo
echo "| scenario | target | conns up/asked | published (rate/s) | delivered | lost | dup | p50 us | p99 us | p99.9 us | max us | deliveries/s | RSS/conn B | idle CPU % | server CPU us/event | client CPU s | machine busy % |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
jq -r 'select(.scenario != "pub" and .scenario != "rolling") |
  def r(x): if x == null then "-" else (x * 10 | round / 10 | tostring) end;
  "| \(.scenario) | \(.target) | \(.connected)/\(.connections) | \(.published) (\(.publish_rate | round)) | \(.delivery.received)/\(.delivery.expected) | \(.delivery.lost) | \(.delivery.duplicated) | \(if .latency.count > 0 then .latency.p50_us else "-" end) | \(if .latency.count > 0 then .latency.p99_us else "-" end) | \(if .latency.count > 0 then .latency.p999_us else "-" end) | \(if .latency.count > 0 then .latency.max_us else "-" end) | \(.deliveries_per_sec | round) | \(r(.rss_per_conn_bytes)) | \(r(.idle_cpu_pct)) | \(if .published > 0 then r(.cpu_us_per_event) else "-" end) | \(r(.client_publish_cpu_secs)) | \(r(.machine_busy_pct)) |"' "$F"
echo
echo "### HTTP publish throughput, no subscribers (wrk -t1 -c32)"
echo
echo "| target | requests/s | non-2xx | server CPU s |"
echo "|---|---|---|---|"
jq -r 'select(.scenario == "pub") | "| \(.target) | \(.requests_per_sec) | \(.non_2xx) | \(.server_cpu_secs) |"' "$F"
if has '.storm != null'; then
    echo
    echo "### Reconnect storm: every SSE connection dropped and reopened at once with Last-Event-ID"
    echo
    echo "| target | clients reconnected/caught up/asked | time to catch up s | storm p50 us | storm p99 us | storm max us | events in storm | lost | dup | server CPU s in storm (per pid) | Redis commands in storm |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    jq -r 'select(.storm != null) | .storm as $s |
      "| \(.target) | \($s.reconnected)/\($s.caught_up)/\($s.connections) | \($s.catch_up_secs * 100 | round / 100) | \($s.latency.p50_us) | \($s.latency.p99_us) | \($s.latency.max_us) | \($s.latency.count) | \(.delivery.lost) | \(.delivery.duplicated) | \($s.cpu_secs | map(. * 100 | round / 100 | tostring) | join(" + ")) | \($s.redis_commands // "-") |"' "$F"
fi
if has '.redis_commands != null'; then
    echo
    echo "### Redis commands while publishing and draining (INFO commandstats, all kinds)"
    echo
    echo "| scenario | target | events received | Redis commands | per event received |"
    echo "|---|---|---|---|---|"
    jq -r 'select(.redis_commands != null) |
      "| \(.scenario) | \(.target) | \(.delivery.received) | \(.redis_commands) | \(.redis_commands_per_event // 0 | . * 100 | round / 100) |"' "$F"
fi
if has '.scenario == "rolling"'; then
    echo
    echo "### Rolling restart (bench/rolling.sh): two relays behind nginx, restarted one after the other"
    echo
    echo "| clients up/asked | events accepted | publish errors | delivered | lost | dup | resumes | peak resumes/s | p50 us | p99 us | max us |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    jq -r 'select(.scenario == "rolling") |
      "| \(.connected)/\(.connections) | \(.published) | \(.publish_errors) | \(.delivery.received)/\(.delivery.expected) | \(.delivery.lost) | \(.delivery.duplicated) | \(.resumes) | \(.peak_resumes_per_sec) | \(.latency.p50_us) | \(.latency.p99_us) | \(.latency.max_us) |"' "$F"
fi
