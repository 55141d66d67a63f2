#!/usr/bin/env bash
# The benchmark charts in docs/charts are drawn from committed results by bench/plot.py: redraw
# them and fail if the script breaks or a committed SVG no longer matches its results.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
[ -x "$py" ] || py=python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$py" bench/plot.py bench/runs/final/results.jsonl bench/runs/final2/results.jsonl \
    --out "$tmp" --name final --title "relay vs Nchan (runs final + final2)" >/dev/null
status=0
for svg in final-latency.svg final-rss.svg; do
    if ! cmp -s "$tmp/$svg" "docs/charts/$svg"; then
        echo "charts: docs/charts/$svg differs from what bench/plot.py draws; redraw it (see docs/BENCHMARKS.md)" >&2
        status=1
    fi
done
# Each chart names every target and scenario it was given.
for target in relay-mem relay-redis nchan-mem nchan-redis; do
    grep -q "$target" "$tmp/final-latency.svg" || { echo "charts: $target missing from the latency chart" >&2; status=1; }
done
for scenario in idle fanout hot poll; do
    grep -q ">$scenario<\|$scenario" "$tmp/final-rss.svg" || { echo "charts: $scenario missing from the memory chart" >&2; status=1; }
done
[ $status = 0 ] && echo "charts: docs/charts matches bench/runs"
exit $status
