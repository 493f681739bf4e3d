#!/usr/bin/env python3
"""ukeeper against itself: two or more configurations of the standalone server, A/B in one run.

This machine's speed drifts by a factor of two within minutes, so settings are compared the only way that holds
up here: every round runs every variant once, back to back, in a rotated order, each on a fresh server and data
directory, and the table gives each variant's per-round figures, their median and how many rounds it beat the
first variant in. Each run is one ukbench run (closed loop) with the server's CPU time measured over its
measured window (bench/compare's sampler).

    bench/ab.py --variant one:walMaxBatchesInFlight=1 --variant two:walMaxBatchesInFlight=2 \\
                --workload write --connections 16,64 --rounds 4

A variant is NAME:KEY=VALUE[,KEY=VALUE...] (zoo.cfg keys added to bench/compare's ukeeper settings: durability
fsync; ioThreads is the server's default unless a variant sets it). Results go to
bench/results/<date>-<time>-ab.{txt,json}.
"""
import argparse
import datetime
import importlib.machinery
import importlib.util
import json
import os
import statistics
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import redact  # noqa: E402


def _load(name, path):
    loader = importlib.machinery.SourceFileLoader(name, path)
    spec = importlib.util.spec_from_loader(name, loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


reads = _load("bench_reads", os.path.join(ROOT, "bench", "reads.py"))
compare = reads.compare
log = compare.log


def parse_variant(text):
    name, sep, settings = text.partition(":")
    if not sep or not name:
        raise argparse.ArgumentTypeError("a variant is NAME:KEY=VALUE[,KEY=VALUE...], not %r" % text)
    pairs = [s for s in settings.split(",") if s]
    for p in pairs:
        if "=" not in p:
            raise argparse.ArgumentTypeError("%r in variant %r is not KEY=VALUE" % (p, name))
    return name, pairs


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variant", type=parse_variant, action="append", required=True,
                    help="NAME:KEY=VALUE[,KEY=VALUE...]; give two or more, the first is the baseline")
    ap.add_argument("--workload", default="write", help="ukbench --workload (default write: setData)")
    ap.add_argument("--connections", default="16,64", help="comma-separated connection counts")
    ap.add_argument("--window", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--duration", type=float, default=4.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--port", type=int, default=22191)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results"))
    args = ap.parse_args()
    if len(args.variant) < 2:
        ap.error("give at least two --variant")
    args.conns = [int(c) for c in args.connections.split(",")]
    return args


def run_one(args, bindir, work, variant, conns, rnd):
    name, pairs = variant
    target = "%s-r%d-c%d" % (name, rnd, conns)
    # reads.start_server writes ioThreads itself (None: not at all, the server's default holds)
    settings = dict((k.strip(), v) for k, v in (p.split("=", 1) for p in pairs))
    io_threads = int(settings.pop("ioThreads")) if "ioThreads" in settings else None
    extra = "".join("%s=%s\n" % kv for kv in settings.items())
    p, _ = reads.start_server(target, work, bindir, args.port, io_threads=io_threads, extra=extra)
    try:
        json_path = os.path.join(work, target, "ukbench.json")
        cmd = reads.ukbench_cmd(bindir, args.port, args.workload, conns, args.window, args.warmup, args.duration,
                                json_path, target)
        report, cpu = reads.run_ukbench(cmd, p.pid, args.warmup, args.duration, target)
        mntr = reads.mntr(args.port)
    finally:
        reads.stop_server(p)
    row = reads.op_row(report, "all")
    return {"variant": name, "round": rnd, "connections": conns, "ops_per_s": row["throughput_per_s"],
            "p50_us": row["p50_us"], "p99_us": row["p99_us"], "server_cpu_us_per_op": cpu["us_per_op"],
            "wal_batches": mntr.get("zk_wal_batches"), "wal_records": mntr.get("zk_wal_records"),
            "wal_peak_batches_in_flight": mntr.get("zk_wal_peak_batches_in_flight"),
            "wal_record_bytes": mntr.get("zk_wal_record_bytes"),
            "wal_padding_bytes": mntr.get("zk_wal_padding_bytes")}


def table(args, runs):
    names = [v[0] for v in args.variant]
    lines = []
    for conns in args.conns:
        lines.append("")
        lines.append("%s, %d connection(s), window %d, %d rounds of %.0f s" %
                     (args.workload, conns, args.window, args.rounds, args.duration))
        lines.append("  %-12s %10s %10s %10s %9s %10s  %s" %
                     ("variant", "ops/s med", "p50 med", "p99 med", "CPU us/op", "recs/batch", "ops/s per round"))
        base = {r["round"]: r["ops_per_s"] for r in runs if r["variant"] == names[0] and r["connections"] == conns}
        for name in names:
            mine = sorted((r for r in runs if r["variant"] == name and r["connections"] == conns),
                          key=lambda r: r["round"])
            if not mine:
                continue
            per_batch = [r["wal_records"] / r["wal_batches"] for r in mine if r.get("wal_batches")]
            wins = sum(1 for r in mine if r["ops_per_s"] > base.get(r["round"], float("inf")))
            lines.append("  %-12s %10.0f %10.0f %10.0f %9.1f %10s  %s%s" % (
                name, statistics.median(r["ops_per_s"] for r in mine), statistics.median(r["p50_us"] for r in mine),
                statistics.median(r["p99_us"] for r in mine),
                statistics.median(r["server_cpu_us_per_op"] for r in mine),
                "%.1f" % statistics.median(per_batch) if per_batch else "-",
                " ".join("%.0f" % r["ops_per_s"] for r in mine),
                "" if name == names[0] else "  (beat %s in %d of %d rounds)" % (names[0], wins, len(mine))))
    return lines


def main():
    args = parse_args()
    bindir = os.path.join(args.build, "bin")
    stamp = datetime.datetime.now().strftime("%Y-%m-%d-%H%M")
    work = tempfile.mkdtemp(prefix="uk-ab-")
    runs = []
    try:
        for rnd in range(1, args.rounds + 1):
            order = args.variant[rnd - 1:] + args.variant[:rnd - 1]  # rotated: no variant always runs first
            for conns in args.conns:
                for v in order:
                    r = run_one(args, bindir, work, v, conns, rnd)
                    log("# round %d, %d conns, %s: %.0f ops/s, p50 %.0f us, server CPU %.1f us/op" %
                        (rnd, conns, v[0], r["ops_per_s"], r["p50_us"], r["server_cpu_us_per_op"]))
                    runs.append(r)
    finally:
        compare.stop_all()
    head = ["# bench/ab.py: ukeeper configurations side by side, one run of each per round (rotated order)",
            "# " + " ".join(sys.argv),
            "# machine: %d cores, %s; 1-minute load at each run start: %s" % (
                os.cpu_count(), os.uname().release, " ".join("%.1f" % x for x in reads.LOADS)),
            "# variants: " + "; ".join("%s = %s" % (n, ",".join(p) or "(defaults)") for n, p in args.variant),
            "# recs/batch: the log's records per group commit over the server's whole life (ukbench's setup of its",
            "# znodes included, which is all a read workload writes)"]
    text = "\n".join(head + table(args, runs)) + "\n"
    print(text)
    os.makedirs(args.out, exist_ok=True)
    base = os.path.join(args.out, stamp + "-ab")
    redact.write_text(base + ".txt", text)
    redact.write_json(base + ".json", {"argv": sys.argv, "variants": args.variant, "runs": runs})
    log("# wrote %s.txt and %s.json" % (base, base))


if __name__ == "__main__":
    main()
