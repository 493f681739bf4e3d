"""ukbench against a live server: each implemented workload runs for about a second and its JSON report is
complete and well-formed (all fields, counts > 0, percentiles monotonic). No timing assertions."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import REPO

UKBENCH = os.environ.get("UKBENCH_BIN", str(REPO / "build" / "bin" / "ukbench"))

PARAM_FIELDS = ["host", "port", "workload", "read_fraction", "value_bytes", "znodes", "keys", "zipf_s", "connections",
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
    (["--workload", "ephemeral-churn", "--connections", "2"], {"connect", "createEphemeral", "closeSession"}),
    (["--workload", "read", "--rate", "2000", "--connections", "2", "--window", "4", "--repeat", "2"], {"getData"}),
]


@pytest.fixture(scope="module", autouse=True)
def ukbench_binary():
    if not os.access(UKBENCH, os.X_OK):
        pytest.fail("ukbench binary not found at %s (set UKBENCH_BIN)" % UKBENCH)


def run_ukbench(server, tmp_path, args):
    out = tmp_path / "result.json"
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
        names = [e["op"] for e in run["ops"]]
        assert names[-1] == "all"
        assert set(names[:-1]) == ops
        for entry in run["ops"]:
            check_op(entry)
        total = run["ops"][-1]["count"]
        assert total == sum(e["count"] for e in run["ops"][:-1])
    if report["params"]["loop"] == "open":
        assert report["params"]["rate"] == 2000
    # The readable table names every operation, and progress lines went to stderr.
    for op in ops | {"all"}:
        assert "\n" + op + " " in proc.stdout
    assert "p99.99" in proc.stdout
    assert "ops/s" in proc.stderr


def test_bad_arguments_are_rejected(server, tmp_path):
    for args in (["--workload", "nonsense"], ["--keys", "pareto"], ["--window", "0"], ["--bogus", "1"]):
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
