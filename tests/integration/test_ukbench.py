"""ukbench against a live server: each workload runs for about a second and its JSON report and table are
complete and well-formed (all fields, counts > 0, percentiles monotonic); a rate sweep's report has one point per
rate and bench/plot.py draws it. No timing assertions."""

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO

UKBENCH = os.environ.get("UKBENCH_BIN", str(REPO / "build" / "bin" / "ukbench"))

PARAM_FIELDS = ["host", "port", "workload", "read_fraction", "read_op", "write_op", "multi_ops", "create_mode",
                "value_bytes", "znodes", "keys", "zipf_s", "connections",
                "sessions", "threads", "window", "loop", "rate", "warmup_s", "duration_s", "repeat", "seed"]
OP_FIELDS = ["op", "count", "throughput_per_s", "mean_us", "min_us", "p50_us", "p90_us", "p99_us", "p99_9_us",
             "p99_99_us", "max_us", "curve"]
PERCENTILES = ["min_us", "p50_us", "p90_us", "p99_us", "p99_9_us", "p99_99_us", "max_us"]

# (arguments, operations the report must contain besides "all")
WORKLOADS = [
    (["--workload", "read"], {"getData"}),
    (["--workload", "read", "--keys", "zipf:1.1", "--connections", "3", "--window", "4"], {"getData"}),
    (["--workload", "write", "--connections", "2", "--window", "4"], {"setData"}),
    (["--workload", "mixed:90/10", "--connections", "4", "--window", "8"], {"getData", "setData"}),
    (["--workload", "mixed:50/50", "--connections", "2", "--window", "2", "--value-bytes", "1024"],
     {"getData", "setData"}),
    (["--workload", "create-delete", "--connections", "2", "--window", "8"], {"create", "delete"}),
    # --read-op, --write-op, --create-mode: each row is named after the operation actually sent
    (["--workload", "read", "--read-op", "exists", "--connections", "2", "--window", "4"], {"exists"}),
    (["--workload", "read", "--read-op", "getChildren", "--keys", "zipf"], {"getChildren"}),
    (["--workload", "write", "--write-op", "multi", "--connections", "2", "--window", "4"], {"multi"}),
    (["--workload", "mixed:50/50", "--read-op", "getChildren", "--write-op", "multi", "--multi-ops", "5"],
     {"getChildren", "multi"}),
    (["--workload", "mixed:80/20", "--read-op", "exists", "--connections", "2"], {"exists", "setData"}),
    (["--workload", "create-delete", "--create-mode", "persistent"], {"create", "delete"}),
    (["--workload", "create-delete", "--create-mode", "ephemeral", "--connections", "2", "--window", "8"],
     {"createEphemeral", "delete"}),
    (["--workload", "create-delete", "--create-mode", "sequential", "--connections", "2", "--window", "8"],
     {"createSequential", "delete"}),
    (["--workload", "create-delete", "--create-mode", "sequential", "--rate", "1000", "--window", "4"],
     {"createSequential", "delete"}),
    (["--workload", "ephemeral-churn", "--connections", "2"], {"connect", "createEphemeral", "closeSession"}),
    (["--workload", "read", "--rate", "2000", "--connections", "2", "--window", "4", "--repeat", "2"], {"getData"}),
    # N sessions (one per connection: the protocol has no other way) over 2 event-loop threads
    (["--workload", "read", "--sessions", "200", "--threads", "2", "--window", "2"], {"getData"}),
    (["--workload", "watch-fanout", "--watchers", "4"], {"getData", "setData", "watchEvent", "lastWatcher"}),
    (["--workload", "watch-fanout", "--watchers", "3", "--threads", "2", "--rate", "200"],
     {"getData", "setData", "watchEvent", "lastWatcher"}),
    (["--workload", "lock-handoff", "--contenders", "3"], {"create", "delete", "exists", "getChildren", "handoff"}),
    (["--workload", "lock-handoff", "--contenders", "1"], {"create", "delete", "getChildren", "handoff"}),
]
COORDINATION = ("watch-fanout", "lock-handoff")
PLOT = REPO / "bench" / "plot.py"


@pytest.fixture(scope="module", autouse=True)
def ukbench_binary():
    if not os.access(UKBENCH, os.X_OK):
        pytest.fail("ukbench binary not found at %s (set UKBENCH_BIN)" % UKBENCH)


def run_ukbench(server, tmp_path, args, name="result.json"):
    out = tmp_path / name
    cmd = [UKBENCH, "--host", "127.0.0.1", "--port", str(server.port), "--warmup", "0.2", "--duration", "1",
           "--znodes", "200", "--json", str(out)] + args
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, "ukbench failed:\n%s\n%s" % (proc.stdout, proc.stderr)
    return proc, json.loads(out.read_text())


def check_op(entry):
    for field in OP_FIELDS:
        assert field in entry, "missing %s in %s" % (field, entry)
    assert entry["count"] > 0
    assert entry["throughput_per_s"] > 0
    values = [entry[f] for f in PERCENTILES]
    assert values == sorted(values), "percentiles not monotonic: %s" % entry
    assert entry["min_us"] <= entry["mean_us"] <= entry["max_us"]
    curve = entry["curve"]
    assert curve[0][0] == 0 and curve[-1] == [100.0, entry["max_us"]]
    assert [p for p, _ in curve] == sorted(p for p, _ in curve)
    assert [v for _, v in curve] == sorted(v for _, v in curve)


@pytest.mark.parametrize("args,ops", WORKLOADS, ids=[" ".join(a) for a, _ in WORKLOADS])
def test_workload_report(server, tmp_path, args, ops):
    proc, report = run_ukbench(server, tmp_path, args)
    assert report["tool"] == "ukbench"
    for field in PARAM_FIELDS:
        assert field in report["params"], field
    assert report["params"]["workload"] == args[1]
    assert report["machine"]["cores"] > 0
    assert report["machine"]["kernel"]
    repeat = report["params"]["repeat"]
    assert len(report["runs"]) == repeat
    for i, run in enumerate(report["runs"]):
        assert run["repetition"] == i + 1
        assert run["measured_s"] > 0
        assert run["errors"] == 0
        assert run["failed_connections"] == 0
        assert run["stalled"] is False
        names = [e["op"] for e in run["ops"]]
        by_name = {e["op"]: e for e in run["ops"]}
        for entry in run["ops"]:
            check_op(entry)
        if args[1] in COORDINATION:
            # no merged "all" row: the rows measure different things
            assert set(names) == ops
        else:
            assert names[-1] == "all"
            assert set(names[:-1]) == ops
            assert run["ops"][-1]["count"] == sum(e["count"] for e in run["ops"][:-1])
        if args[1] == "watch-fanout":
            # every recorded round reaches every watcher once, and has one last watcher
            rounds = by_name["setData"]["count"]
            assert by_name["watchEvent"]["count"] == rounds * report["params"]["watchers"]
            assert by_name["lastWatcher"]["count"] == rounds
    assert report["params"]["loop"] == ("open" if "--rate" in args else "closed")
    if "--rate" in args:
        assert report["params"]["rate"] == float(args[args.index("--rate") + 1])
    if "--sessions" in args:
        assert report["params"]["sessions"] == report["params"]["connections"] == 200
        assert report["params"]["threads"] == 2
    if args[1] == "watch-fanout":
        assert report["params"]["connections"] == report["params"]["watchers"] + 1
    if args[1] == "lock-handoff":
        assert report["params"]["connections"] == report["params"]["contenders"]
    for option, default in (("--read-op", "getData"), ("--write-op", "setData"), ("--create-mode", "persistent")):
        value = args[args.index(option) + 1] if option in args else default
        assert report["params"][option[2:].replace("-", "_")] == value
        if option in args:
            assert option[2:].replace("-", "_") + "=" + value in proc.stdout.splitlines()[0]
    assert report["params"]["multi_ops"] == (int(args[args.index("--multi-ops") + 1]) if "--multi-ops" in args else 2)
    # The readable table names every operation, and progress lines went to stderr.
    for op in ops | (set() if args[1] in COORDINATION else {"all"}):
        assert "\n" + op + " " in proc.stdout
    assert "p99.99" in proc.stdout
    assert "ops/s" in proc.stderr


SWEEP_FIELDS = ["target_rate_per_s", "repetition", "achieved_per_s", "count", "errors", "unsent", "p50_us", "p90_us",
                "p99_us", "p99_9_us", "p99_99_us", "max_us"]


@pytest.mark.parametrize("args,latency_op", [
    (["--workload", "read", "--connections", "2", "--window", "4", "--sweep-rates", "500,2000"], "all"),
    (["--workload", "watch-fanout", "--watchers", "3", "--sweep-rates", "50,200"], "watchEvent"),
], ids=["read", "watch-fanout"])
def test_sweep_report_and_plot(server, tmp_path, args, latency_op):
    proc, report = run_ukbench(server, tmp_path, args, name="sweep.json")
    rates = [float(r) for r in args[-1].split(",")]
    params = report["params"]
    assert params["loop"] == "open" and params["sweep_rates"] == rates
    sweep = report["sweep"]
    assert sweep["latency_op"] == latency_op
    assert [p["target_rate_per_s"] for p in sweep["points"]] == rates
    assert [r["target_rate_per_s"] for r in report["runs"]] == rates
    for point, run in zip(sweep["points"], report["runs"]):
        for field in SWEEP_FIELDS:
            assert field in point, field
        assert point["count"] > 0 and point["achieved_per_s"] > 0 and point["errors"] == 0
        values = [point[k] for k in ("p50_us", "p90_us", "p99_us", "p99_9_us", "p99_99_us", "max_us")]
        assert values == sorted(values)
        entry = next(e for e in run["ops"] if e["op"] == latency_op)
        check_op(entry)
        assert point["count"] == entry["count"] and point["p99_us"] == entry["p99_us"]
    # the summary table has one row per rate
    summary = proc.stdout.split("# sweep:", 1)[1].splitlines()
    assert "achieved/s" in summary[1]
    assert len([line for line in summary[2:] if line.strip()]) == len(rates)
    # throughput against latency, as a PNG
    png = tmp_path / "sweep.png"
    plot = subprocess.run([sys.executable, str(PLOT), str(png), str(tmp_path / "sweep.json")], capture_output=True,
                          text=True, timeout=120)
    assert plot.returncode == 0, plot.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_percentile_plot_of_coordination_reports(server, tmp_path):
    run_ukbench(server, tmp_path, ["--workload", "lock-handoff", "--contenders", "2"], name="lock.json")
    png = tmp_path / "lock.png"
    plot = subprocess.run([sys.executable, str(PLOT), str(png), str(tmp_path / "lock.json")], capture_output=True,
                          text=True, timeout=120)
    assert plot.returncode == 0, plot.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_arguments_are_rejected(server, tmp_path):
    for args in (["--workload", "nonsense"], ["--keys", "pareto"], ["--window", "0"], ["--bogus", "1"],
                 ["--watchers", "0"], ["--sweep-rates", "100,x"], ["--rate", "100", "--sweep-rates", "100"],
                 ["--workload", "lock-handoff", "--rate", "100"],
                 ["--workload", "ephemeral-churn", "--sweep-rates", "10"],
                 ["--read-op", "getACL"], ["--workload", "write", "--write-op", "delete"],
                 ["--workload", "write", "--read-op", "exists"], ["--workload", "read", "--write-op", "multi"],
                 ["--create-mode", "ephemeral"], ["--workload", "create-delete", "--create-mode", "container"],
                 ["--workload", "write", "--write-op", "multi", "--multi-ops", "0"],
                 ["--workload", "write", "--write-op", "multi", "--multi-ops", "3", "--znodes", "2"]):
        proc = subprocess.run([UKBENCH, "--port", str(server.port)] + args, capture_output=True, text=True,
                              timeout=30)
        assert proc.returncode == 2, args
        assert "usage" in proc.stderr


def test_unreachable_server_fails_cleanly(tmp_path):
    from conftest import free_port
    proc = subprocess.run([UKBENCH, "--port", str(free_port()), "--duration", "1"], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode != 0
    assert "connect" in proc.stderr
