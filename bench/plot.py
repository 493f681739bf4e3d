#!/usr/bin/python3
"""Percentile curves from ukbench JSON reports (python3-matplotlib).

usage: bench/plot.py OUT.png REPORT.json [REPORT.json ...]

One line per (report label, operation, repetition): latency in microseconds (log scale) against percentile on
HdrHistogram's log scale, where the x axis is 1/(1 - p) so 90%, 99%, 99.9% ... are evenly spaced. Several reports (e.g. ukeeper
and ZooKeeper runs of the same workload) go on one plot.
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FixedLocator, FixedFormatter  # noqa: E402


def main(argv):
    if len(argv) < 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    out, reports = argv[1], argv[2:]
    fig, ax = plt.subplots(figsize=(9, 5.5))
    max_x = 10.0
    for path in reports:
        with open(path) as f:
            report = json.load(f)
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
    ax.set_yscale("log")
    ax.set_ylabel("latency (us, log scale)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    first = json.load(open(reports[0]))
    m, p = first["machine"], first["params"]
    ax.set_title("ukbench %s, %s loop, %d connections x window %d — %d cores, %s"
                 % (p["workload"], p["loop"], p["connections"], p["window"], m["cores"], m["kernel"]),
                 fontsize="medium")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
