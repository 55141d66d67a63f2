#!/usr/bin/env python3
"""SVG charts from bench/compare.sh's results.jsonl: latency percentiles per scenario and memory
per connection, relay and Nchan side by side.

    bench/plot.py bench/runs/final/results.jsonl --out docs/charts --name final

writes `<name>-latency.svg` (p50 / p99 / p99.9 delivery latency, one panel per scenario) and
`<name>-rss.svg` (resident memory per connection, one group per scenario). Needs matplotlib
(`pip install matplotlib`; test.sh installs it into .venv with the other test packages).
"""

import argparse
import json
import sys
from collections import OrderedDict
from pathlib import Path

# The order targets are drawn in, so every chart reads the same way; unknown targets follow.
TARGET_ORDER = ["relay-mem", "nchan-mem", "relay-redis", "nchan-redis"]
# Relay targets in one hue family, Nchan in another, the memory store lighter than Redis.
COLOURS = {
    "relay-mem": "#6baed6",
    "relay-redis": "#2171b5",
    "nchan-mem": "#fd8d3c",
    "nchan-redis": "#d94801",
}
PERCENTILES = [("p50_us", "p50"), ("p99_us", "p99"), ("p999_us", "p99.9")]


def load(paths):
    """Reads result lines, keeping the last one per (scenario, target) across the files given."""
    rows = OrderedDict()
    for path in paths:
        for number, line in enumerate(Path(path).read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise SystemExit(f"{path}:{number}: not JSON: {e}")
            if "scenario" in row and "target" in row:
                rows[(row["scenario"], row["target"])] = row
    return list(rows.values())


def ordered_targets(rows):
    seen = {r["target"] for r in rows}
    known = [t for t in TARGET_ORDER if t in seen]
    return known + sorted(seen - set(known))


def latency_rows(rows):
    """Scenarios that measured delivery latency (the idle and publish-only cases did not)."""
    return [r for r in rows if (r.get("latency") or {}).get("count", 0) > 0]


def rss_rows(rows):
    return [r for r in rows if r.get("rss_per_conn_bytes")]


def scenarios_of(rows):
    return list(OrderedDict.fromkeys(r["scenario"] for r in rows))


def plot_latency(plt, rows, title):
    rows = latency_rows(rows)
    scenarios = scenarios_of(rows)
    if not scenarios:
        return None
    targets = ordered_targets(rows)
    fig, axes = plt.subplots(1, len(scenarios), figsize=(4.2 * len(scenarios), 4.2), squeeze=False)
    width = 0.8 / len(targets)
    for ax, scenario in zip(axes[0], scenarios):
        by_target = {r["target"]: r for r in rows if r["scenario"] == scenario}
        for i, target in enumerate(targets):
            row = by_target.get(target)
            if row is None:
                continue
            values = [row["latency"][key] / 1000.0 for key, _ in PERCENTILES]
            xs = [p + (i - (len(targets) - 1) / 2) * width for p in range(len(PERCENTILES))]
            ax.bar(xs, values, width, label=target, color=COLOURS.get(target))
        ax.set_title(scenario)
        ax.set_xticks(range(len(PERCENTILES)))
        ax.set_xticklabels([label for _, label in PERCENTILES])
        ax.set_yscale("log")
        ax.set_ylabel("delivery latency, ms (log)")
        ax.grid(axis="y", which="both", alpha=0.3)
    axes[0][0].legend(fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_rss(plt, rows, title):
    rows = rss_rows(rows)
    scenarios = scenarios_of(rows)
    if not scenarios:
        return None
    targets = ordered_targets(rows)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 * len(scenarios) * len(targets) / 2), 4.2))
    width = 0.8 / len(targets)
    for i, target in enumerate(targets):
        xs, values = [], []
        for s, scenario in enumerate(scenarios):
            row = next((r for r in rows if r["scenario"] == scenario and r["target"] == target), None)
            if row is not None:
                xs.append(s + (i - (len(targets) - 1) / 2) * width)
                values.append(row["rss_per_conn_bytes"] / 1000.0)
        ax.bar(xs, values, width, label=target, color=COLOURS.get(target))
    ax.set_xticks(range(len(scenarios)))
    ax.set_xticklabels(scenarios)
    ax.set_ylabel("resident memory per connection, KB")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", help="results.jsonl files (later ones win)")
    parser.add_argument("--out", default="docs/charts", help="directory for the SVG files")
    parser.add_argument("--name", default="bench", help="file name prefix")
    parser.add_argument("--title", default=None, help="chart title (default: the name)")
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("svg")
    import matplotlib.pyplot as plt

    # Fixed ids and no date, so the same results give byte-identical SVGs (clean diffs).
    plt.rcParams["svg.hashsalt"] = "notify-relay"
    plt.rcParams["svg.fonttype"] = "none"

    rows = load(args.results)
    if not rows:
        raise SystemExit("no results in " + ", ".join(args.results))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    title = args.title or args.name
    written = []
    for kind, build in (("latency", plot_latency), ("rss", plot_rss)):
        fig = build(plt, rows, f"{title}: {'delivery latency' if kind == 'latency' else 'memory per connection'}")
        if fig is None:
            continue
        path = out / f"{args.name}-{kind}.svg"
        fig.savefig(path, format="svg", metadata={"Date": None})
        plt.close(fig)
        written.append(str(path))
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
