#!/usr/bin/python3
"""Plots from ukbench JSON reports (python3-matplotlib).

usage: bench/plot.py OUT.png REPORT.json [REPORT.json ...]

Percentile curves (reports of ordinary runs): one line per (report label, operation, repetition), latency in
microseconds (log scale) against percentile on HdrHistogram's log scale, where the x axis is 1/(1 - p) so 90%, 99%,
99.9% ... are evenly spaced.

Throughput against latency (reports of --sweep-rates runs, which carry a "sweep" section): p50, p99 and p99.9
(log scale) against the achieved throughput. Reports with the same label (repetitions, rounds of bench/compare)
are one series: one colour, every point drawn (one per rate and repetition), the lines through the median per
rate; the percentile is told by the line style. Where a point's server fell behind the rate (over 1% of the
requests due in the window were never sent), it is drawn hollow.

Several reports (e.g. ukeeper and ZooKeeper runs of the same workload) go on one plot; all must be of one kind.
"""

import json
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FixedLocator, FixedFormatter  # noqa: E402


def title(report):
    m, p = report["machine"], report["params"]
    what = "%s, %s loop" % (p["workload"], p["loop"])
    if p["workload"] == "watch-fanout":
        what += ", %d watchers" % p["watchers"]
    elif p["workload"] == "lock-handoff":
        what += ", %d contenders" % p["contenders"]
    else:
        what += ", %d connections x window %d" % (p["connections"], p["window"])
    return "ukbench %s — %d cores, %s" % (what, m["cores"], m["kernel"])


def plot_curves(ax, reports):
    max_x = 10.0
    for path, report in reports:
        label = report.get("label", path)
        for run in report["runs"]:
            for op in run["ops"]:
                if op["op"] == "all" and len(run["ops"]) > 1:
                    continue  # the per-operation lines say more; "all" alone only when it is the only line
                points = [(p, v) for p, v in op["curve"] if p < 100.0]
                xs = [1.0 / (1.0 - p / 100.0) for p, _ in points]
                ys = [v for _, v in points]
                max_x = max(max_x, xs[-1])
                name = "%s %s" % (label, op["op"])
                if len(report["runs"]) > 1:
                    name += " #%d" % run["repetition"]
                ax.plot(xs, ys, marker=".", label=name)
    ax.set_xscale("log")
    ticks = [1, 2, 10, 100, 1000, 10000, 100000, 1000000]
    names = ["0%", "50%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%"]
    keep = [i for i, t in enumerate(ticks) if t <= max_x * 1.01]
    ax.xaxis.set_major_locator(FixedLocator([ticks[i] for i in keep]))
    ax.xaxis.set_major_formatter(FixedFormatter([names[i] for i in keep]))
    ax.xaxis.set_minor_locator(FixedLocator([]))
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency (us, log scale)")


def fell_behind(point):
    """More than 1% of the requests due in the window were never sent (a few at the window's end are its edge)."""
    unsent = point.get("unsent", 0)
    return unsent > 0.01 * (point["count"] + unsent)


def plot_sweeps(ax, reports):
    styles = (("p50_us", "-", "p50"), ("p99_us", "--", "p99"), ("p99_9_us", ":", "p99.9"))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    groups = {}  # label -> every point of the reports with that label (repetitions, rounds)
    for path, report in reports:
        groups.setdefault(report.get("label", path), []).extend(
            p for p in report["sweep"]["points"] if p["count"] > 0)
    latency_op = reports[0][1]["sweep"]["latency_op"]
    for i, (label, points) in enumerate(groups.items()):
        color = colors[i % len(colors)]
        by_rate = {}
        for p in points:
            by_rate.setdefault(p["target_rate_per_s"], []).append(p)
        rates = sorted(by_rate, key=lambda r: statistics.median(p["achieved_per_s"] for p in by_rate[r]))
        xs = [statistics.median(p["achieved_per_s"] for p in by_rate[r]) for r in rates]
        for key, style, name in styles:
            ys = [statistics.median(p[key] for p in by_rate[r]) for r in rates]
            ax.plot(xs, ys, linestyle=style, color=color, label="%s %s %s" % (label, latency_op, name))
            for p in points:
                ax.plot([p["achieved_per_s"]], [p[key]], linestyle="none", marker="o", color=color,
                        markersize=6 if fell_behind(p) else 4,
                        markerfacecolor="none" if fell_behind(p) else color)
    rate_op = reports[0][1]["sweep"]["rate_op"]
    unit = "rounds (setData)" if rate_op == "setData" else "operations" if rate_op == "all" else rate_op
    ax.set_xlabel("achieved throughput, %s per second (open loop; hollow: fell behind the rate)" % unit)
    ax.set_ylabel("latency from intended send time (us, log scale)")


def main(argv):
    if len(argv) < 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    out = argv[1]
    reports = []
    for path in argv[2:]:
        with open(path) as f:
            reports.append((path, json.load(f)))
    sweeps = ["sweep" in r for _, r in reports]
    if any(sweeps) and not all(sweeps):
        print("plot.py: mix of sweep and ordinary reports; plot them separately", file=sys.stderr)
        return 2
    fig, ax = plt.subplots(figsize=(9, 5.5))
    (plot_sweeps if all(sweeps) else plot_curves)(ax, reports)
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    ax.set_title(title(reports[0][1]), fontsize="medium")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
