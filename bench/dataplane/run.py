#!/usr/bin/python3
"""Dataplane benchmarks, side by side: runs uk_transport_bench over every transport this machine can run and writes
bench/results/<date>-dataplane.{txt,json}.

  bench/dataplane/run.py [--bin PATH] [--quick] [--no-vm] [--vm-work DIR] [--out-dir DIR]
  bench/dataplane/run.py --smoke --bin PATH      (ctest bench_dataplane_smoke: seconds; checks, writes nothing)

What runs (method and figures: docs/performance.md):
  tcp   two processes on 127.0.0.1: round trips (PROPOSAL out, ACK back) and one-way message rates.
  dpdk  the same between two network namespaces joined by a veth pair, net_af_packet on each end (root only).
  count instructions per exchange under callgrind, one process holding both endpoints (--mode=pair): tcp and dpdk
        here; tcp and rdma inside the soft-RoCE VM (tests/rdma/run_vm_test.sh with vm_bench_init.sh as /init), the
        only place the verbs exist. Per exchange = (Ir(N2) - Ir(N1)) / (N2 - N1), so setup cancels; polls that
        found nothing are charged at the idle-poll price and taken out.
Timings in the VM are emulated (TCG) and are not reported; its instruction counts are.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import redact  # noqa: E402
RESULT = re.compile(r"^(?:\s*vm\| )?(?:\w+: )?RESULT (\{.*\})\s*$")
IR_LINE = re.compile(r"^(?:\s*vm\| )?UKB_IR (\S+) (\d+)\s*$")  # label Ir (from the VM's init)
MAC_A, MAC_B = "02:00:00:00:0e:01", "02:00:00:00:0e:02"
IP_A, IP_B = "10.214.0.1", "10.214.0.2"


def sh(cmd, check=True, timeout=None, env=None):
    p = subprocess.run(cmd, shell=isinstance(cmd, str), capture_output=True, text=True, timeout=timeout, env=env)
    if check and p.returncode != 0:
        raise RuntimeError(f"`{cmd if isinstance(cmd, str) else ' '.join(cmd)}` exited {p.returncode}:\n"
                           f"{p.stdout}\n{p.stderr}")
    return p


def results_of(text):
    out = []
    for line in text.splitlines():
        m = RESULT.match(line)
        if m:
            out.append(json.loads(m.group(1)))
    return out


def log(msg):
    print(msg, flush=True)


# ---- the machine ------------------------------------------------------------------------------------------------

def machine():
    model = next((l.split(":", 1)[1].strip() for l in sh("lscpu", check=False).stdout.splitlines()
                  if l.startswith("Model name")), "?")
    rev = sh(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], check=False).stdout.strip()
    dirty = sh(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"], check=False).stdout.strip()
    return {
        "cpu": model, "cores": os.cpu_count(), "kernel": platform.release(),
        "loadavg_before": open("/proc/loadavg").read().split()[:3],
        "git": rev + (" (with uncommitted changes)" if dirty else ""),
        "valgrind": sh("valgrind --version", check=False).stdout.strip() or None,
        "note": "2 cores shared with other engineers' builds and tests; both endpoints busy-poll on the same 2 "
                "cores: not a kernel-bypass testbed (no NIC, no isolated cores, no hugepages).",
    }


# ---- network namespaces for dpdk (root) -------------------------------------------------------------------------

class Netns:
    """Two namespaces joined by a veth pair (split=True), or one namespace holding both ends (pair mode)."""

    def __init__(self, split):
        tag = str(os.getpid())
        self.ns = [f"ukdpb-{tag}-a", f"ukdpb-{tag}-b"] if split else [f"ukdpb-{tag}"] * 2
        self.ifs = [f"ukb{tag}a", f"ukb{tag}b"]

    def __enter__(self):
        steps = [f"ip netns add {n}" for n in dict.fromkeys(self.ns)]
        steps += [f"ip link add {self.ifs[0]} type veth peer name {self.ifs[1]}"]
        for i in (0, 1):
            ns, iface, mac = self.ns[i], self.ifs[i], (MAC_A, MAC_B)[i]
            steps += [f"ip link set {iface} netns {ns}", f"ip -n {ns} link set {iface} address {mac}"]
        for n in dict.fromkeys(self.ns):
            steps += [f"ip netns exec {n} sysctl -qw net.ipv6.conf.all.disable_ipv6=1"]
        steps += [f"ip -n {self.ns[i]} link set {self.ifs[i]} up" for i in (0, 1)]
        try:
            for s in steps:
                sh(s)
        except Exception:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        for n in dict.fromkeys(self.ns):
            sh(f"ip netns del {n}", check=False)
        sh(f"ip link del {self.ifs[0]}", check=False)

    def prefix(self, i):
        return ["ip", "netns", "exec", self.ns[i]]


def dpdk_args(net, i):
    other = 1 - i
    return [f"--vdev=net_af_packet0,iface={net.ifs[i]}", f"--ip={(IP_A, IP_B)[i]}", f"--peer-ip={(IP_A, IP_B)[other]}",
            f"--peer-mac={(MAC_A, MAC_B)[other]}", "--memory-mb=256"]


def dpdk_pair_args(net):
    return [f"--vdev=net_af_packet0,iface={net.ifs[0]}", f"--vdev=net_af_packet1,iface={net.ifs[1]}",
            f"--mac-a={MAC_A}", f"--mac-b={MAC_B}", "--memory-mb=256"]


# ---- two processes ----------------------------------------------------------------------------------------------

FAILURES = []  # failed attempts (kept in the report: a retried run is not hidden)


def two_processes(binary, transport, plan, *args, attempts=2, **kwargs):
    """Runs the pair of processes; a run that fails (the bench fails loudly on a stall or a dropped channel) is
    retried once and the failure recorded in the report."""
    for attempt in range(1, attempts + 1):
        try:
            return two_processes_once(binary, transport, plan, *args, **kwargs)
        except RuntimeError as e:
            FAILURES.append({"transport": transport, "attempt": attempt, "error": str(e)[-4000:]})
            log(f"  {transport}: attempt {attempt} failed: {str(e)[-600:]}")
            if attempt == attempts:
                raise


def two_processes_once(binary, transport, plan, leader_prefix=(), follower_prefix=(), leader_extra=(),
                       follower_extra=(), timeout=900):
    port = 0
    if transport == "tcp":
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
    common = [f"--transport={transport}", f"--port={port}"] + list(plan)
    leader = subprocess.Popen(list(leader_prefix) + [binary, "--mode=leader"] + common + list(leader_extra),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    follower = subprocess.Popen(list(follower_prefix) + [binary, "--mode=follower"] + common + list(follower_extra),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = leader.communicate(timeout=timeout)
        fout, _ = follower.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        leader.kill()
        follower.kill()
        leader.wait()
        follower.wait()
        raise RuntimeError(f"{transport}: the benchmark did not finish in {timeout} s")
    if leader.returncode != 0 or follower.returncode != 0:
        raise RuntimeError(f"{transport}: leader exited {leader.returncode}, follower {follower.returncode}:\n"
                           f"--- leader\n{out}\n--- follower\n{fout}")
    return [r for r in results_of(out) if r.get("mode") in ("rtt", "rate", "counters")]


# ---- CPU time per exchange, user and kernel (pair mode, natively) -----------------------------------------------

def cpu_per_exchange(binary, built, root, count=20000, runs=3):
    """User and system CPU time per exchange of the one-process pair mode: the kernel's share, which callgrind
    does not see (TCP's stack; af_packet's send kick)."""
    out = {}
    for t in ("tcp", "dpdk"):
        if t == "dpdk" and not ("dpdk" in built and root):
            continue
        recs = []
        for _ in range(runs):
            args = [binary, "--mode=pair", f"--transport={t}", f"--count={count}", "--warmup=1000"]
            if t == "dpdk":
                with Netns(split=False) as net:
                    p = sh(net.prefix(0) + args + dpdk_pair_args(net), timeout=600)
            else:
                p = sh(args, timeout=600)
            recs += [r for r in results_of(p.stdout) if r.get("mode") == "pair"]
        out[t] = {"runs": [{k: r[k] for k in ("us_each", "user_us_each", "sys_us_each")} for r in recs],
                  "count": count, "leader_counters": recs[-1]["leader"], "follower_counters": recs[-1]["follower"]}
        log(f"  {t} pair, native: " + "; ".join(f"{r['us_each']:.1f} us (user {r['user_us_each']:.2f}, system "
                                                  f"{r['sys_us_each']:.2f})" for r in recs))
    return out


# ---- instruction counts (callgrind, pair mode) ------------------------------------------------------------------

def per_exchange(records, ir):
    """records: the pair-mode RESULT records of one --collect=all run; ir: {label: Ir of its callgrind dump}.
    Returns instructions per exchange per side, from the delta between the two counts."""
    by = {}
    for r in records:
        by.setdefault(r["collect"], []).append((r["count"], ir[r["label"]], r))
    def delta(kind):
        (n1, ir1, r1), (n2, ir2, r2) = sorted(by[kind], key=lambda x: x[0])[:2]
        return n1, n2, ir1, ir2, r1, r2, (ir2 - ir1) / (n2 - n1)
    idle = delta("idle")[-1]
    toggles = delta("toggles")[-1]
    out = {"idle_poll_ir": round(idle, 1), "toggle_ir": round(toggles, 1)}
    for side in ("leader", "follower"):
        n1, n2, ir1, ir2, r1, r2, raw = delta(side)
        empties = (r2[f"{side}_empty_polls"] - r1[f"{side}_empty_polls"]) / (n2 - n1)
        out[side] = {"ir": round(raw - toggles - empties * idle, 1), "raw_ir": round(raw, 1),
                     "empty_polls": round(empties, 3), "counts": [n1, n2], "totals": [ir1, ir2],
                     "polls": [r1[f"{side}_polls"], r2[f"{side}_polls"]],
                     "user_us_each": r2["user_us_each"], "sys_us_each": r2["sys_us_each"]}
        out[side + "_counters"] = r2[side]
    out["exchange_ir"] = round(out["leader"]["ir"] + out["follower"]["ir"], 1)
    return out


def read_dumps(prefix):
    """{label: dump text} from callgrind's dump files prefix.1, prefix.2, ... (one per CALLGRIND_DUMP_STATS_AT)."""
    out = {}
    d, base = os.path.split(prefix)
    for f in os.listdir(d):
        if f.startswith(base + "."):
            text = open(os.path.join(d, f)).read()
            label = re.search(r"^desc: Trigger: Client Request: (\S+)", text, re.M)
            if label:
                out[label.group(1)] = text
    return out


def dump_ir(text):
    return int(re.search(r"^(?:summary|totals): (\d+)", text, re.M).group(1))


ANNOTATED = re.compile(r"^\s*([\d,]+) \(\s*([\d.]+)%\)\s+(.*?)(?: \[(.*)\])?$")


def breakdown(path, per):
    """Self instructions of one callgrind dump by where they run, divided by `per` (exchanges)."""
    p = sh(["callgrind_annotate", "--threshold=100", "--inclusive=no", path], check=False)
    parts = {}
    for line in p.stdout.splitlines():
        m = ANNOTATED.match(line)
        # Frames above the counted regions show the whole total (or a multiple of it) with no self cost of their
        # own (an artefact of toggling collection inside them): skip them.
        if not m or float(m.group(2)) >= 99.95 or "PROGRAM TOTALS" in line:
            continue
        ir, fn, obj = int(m.group(1).replace(",", "")), m.group(3), os.path.basename(m.group(4) or "?")
        if obj == "uk_transport_bench":
            where = "ukbench harness" if "ukbench::" in fn else "ukeeper (transport, drivers)"
        elif obj.startswith(("libibverbs", "librxe", "libmlx")):
            where = "verbs library + provider (" + obj.split(".")[0] + ")"
        elif obj.startswith("librte_") or "pmds-" in (m.group(4) or ""):
            where = "DPDK libraries and PMD"
        elif obj.startswith(("libc.", "libstdc++", "ld-linux", "libm.")):
            where = "libc, libstdc++ (malloc, memcpy, syscall wrappers)"
        else:
            where = obj
        parts[where] = parts.get(where, 0) + ir
    return {k: round(v / per, 1) for k, v in sorted(parts.items(), key=lambda kv: -kv[1])}


def keep_dumps(dumps, transport, counts, dump_dir):
    """Saves the larger count's leader and follower dumps and returns their breakdowns per exchange."""
    out = {}
    os.makedirs(dump_dir, exist_ok=True)
    n = max(counts)
    for side in ("leader", "follower"):
        text = dumps.get(f"{transport}/{side}/{n}")
        if text is None:
            continue
        path = os.path.join(dump_dir, f"{transport}-{side}-{n}.callgrind")
        open(path, "w").write(text)
        out[side] = breakdown(path, n)
    return out


def count_instructions(binary, transport, counts, dump_dir, extra=(), prefix=()):
    """One process, both endpoints, under callgrind: every region kind at both counts (--collect=all)."""
    with tempfile.TemporaryDirectory() as d:
        outf = os.path.join(d, "cg.out")
        cmd = list(prefix) + ["valgrind", "--tool=callgrind", "--collect-atstart=no", f"--callgrind-out-file={outf}",
                              binary, "--mode=pair", f"--transport={transport}", "--collect=all",
                              "--counts=" + ",".join(map(str, counts)), "--warmup=200"] + list(extra)
        p = sh(cmd, timeout=1800)
        records = [r for r in results_of(p.stdout) if r.get("mode") == "pair"]
        dumps = read_dumps(outf)
    ir = {label: dump_ir(text) for label, text in dumps.items()}
    for r in records:
        log(f"  {transport} callgrind {r['collect']:8} count {r['count']:6}: {ir.get(r['label'])} Ir")
    out = per_exchange(records, ir)
    out["breakdown"] = keep_dumps(dumps, transport, counts, dump_dir)
    return out


# ---- rdma (and tcp for comparison) inside the VM ----------------------------------------------------------------

def vm_dumps(console):
    """The callgrind dumps the guest printed between "UKB_DUMP_BEGIN label" and "UKB_DUMP_END"."""
    dumps, label, lines = {}, None, []
    for line in console.splitlines():
        line = re.sub(r"^\s*vm\| ", "", line)
        if line.startswith("UKB_DUMP_BEGIN "):
            label, lines = line.split()[1], []
        elif line.startswith("UKB_DUMP_END") and label:
            dumps[label] = "\n".join(lines) + "\n"
            label = None
        elif label:
            lines.append(line)
    return dumps


def vm_counts(binary, work, counts, dump_dir):
    """Boots the soft-RoCE VM with valgrind and the bench (vm_bench_init.sh as /init), which prints the pair-mode
    RESULT lines and one "UKB_IR label Ir" line per callgrind dump; returns {transport: per_exchange(...)}."""
    tree = os.path.join(work, "extra-tree")
    shutil.rmtree(tree, ignore_errors=True)
    vg = os.path.join(tree, "usr/libexec/valgrind")
    os.makedirs(vg)
    for f in ("callgrind-amd64-linux", "vgpreload_core-amd64-linux.so", "default.supp"):
        shutil.copy2(os.path.join("/usr/libexec/valgrind", f), vg)
    os.makedirs(os.path.join(tree, "etc"), exist_ok=True)
    with open(os.path.join(tree, "etc/ukb-counts"), "w") as f:
        f.write(",".join(str(c) for c in counts) + "\n")
    cmd = ["bash", os.path.join(ROOT, "tests/rdma/run_vm_test.sh"), "--work", work,
           "--guest-init", os.path.join(HERE, "vm_bench_init.sh"), "--bin", binary, "--bin", "/usr/bin/valgrind.bin",
           "--extra-tree", tree, "--timeout", "1500"]
    log("  booting the soft-RoCE VM (TCG; several minutes)")
    p = sh(cmd, check=False, timeout=1700)
    open(os.path.join(work, "bench-console.txt"), "w").write(p.stdout + p.stderr)
    if p.returncode != 0:
        raise RuntimeError(f"the VM run failed (console in {work}/bench-console.txt):\n{p.stdout[-3000:]}\n{p.stderr}")
    records = [r for r in results_of(p.stdout) if r.get("mode") == "pair"]
    ir = {m.group(1): int(m.group(2)) for m in map(IR_LINE.match, p.stdout.splitlines()) if m}
    dumps = vm_dumps(p.stdout)
    out = {}
    for t in dict.fromkeys(r["transport"] for r in records):
        out[t] = per_exchange([r for r in records if r["transport"] == t], ir)
        out[t]["breakdown"] = keep_dumps(dumps, t, counts, dump_dir)
    functional = [r for r in results_of(p.stdout) if r.get("mode") in ("rtt", "rate")]
    return out, functional


# ---- report -----------------------------------------------------------------------------------------------------

def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2


def table(report):
    lines = [f"# dataplane benchmarks {report['date']}",
             f"# machine: {report['machine']['cpu']}, {report['machine']['cores']} cores, kernel "
             f"{report['machine']['kernel']}, load average before {' '.join(report['machine']['loadavg_before'])}",
             f"# ukeeper {report['machine']['git']}; {report['machine']['valgrind']}",
             f"# {report['machine']['note']}",
             f"# zab sizes (real codecs): {report['sizes']}",
             f"# command: {report['command']}",
             f"# failed attempts (retried): {len(report['failed_attempts'])}"
             + "".join(f"\n#   {f['transport']} attempt {f['attempt']}: " + f["error"].splitlines()[0][:200]
                       for f in report["failed_attempts"]), ""]
    for t, recs in report["timings"].items():
        if isinstance(recs, str):
            lines.append(f"## {t}: not measured: {recs}")
            continue
        rtt = [r for r in recs if r["mode"] == "rtt"]
        if rtt:
            lines.append(f"## {t}: round trip, {rtt[0]['bytes']} B out / {rtt[0]['reply_bytes']} B back, "
                         f"{len(rtt)} runs x {rtt[0]['count']} (median over runs; per run in the JSON)")
            for k in ("p50_us", "p99_us", "p999_us", "max_us"):
                lines.append(f"  {k:8} {median([r[k] for r in rtt]):10.1f}   runs: "
                             + " ".join(f"{r[k]:.1f}" for r in rtt))
        rate = [r for r in recs if r["mode"] == "rate"]
        for size in dict.fromkeys(r["bytes"] for r in rate):
            rs = [r for r in rate if r["bytes"] == size]
            lines.append(f"## {t}: one-way rate, {size} B messages, window {rs[0]['window']}, {len(rs)} runs x "
                         f"{rs[0]['count']}: median {median([r['msgs_per_s'] for r in rs]):.0f} msg/s  runs: "
                         + " ".join(f"{r['msgs_per_s']:.0f}" for r in rs))
        lines.append("")
    for t, c in report.get("cpu_per_exchange", {}).items():
        lines.append(f"## {t}: one process holding both endpoints (pair mode, natively), {len(c['runs'])} runs x "
                     f"{c['count']} exchanges: median wall {median([r['us_each'] for r in c['runs']]):.2f} us, "
                     f"CPU user "
                     f"{median([r['user_us_each'] for r in c['runs']]):.2f} us + system "
                     f"{median([r['sys_us_each'] for r in c['runs']]):.2f} us per exchange (both sides)")
    for where, per in report["instructions"].items():
        for t, c in per.items():
            if isinstance(c, str):
                lines.append(f"## instructions ({where}) {t}: not measured: {c}")
                continue
            lines.append(f"## user-space instructions per exchange ({where}, callgrind) {t}: leader "
                         f"{c['leader']['ir']:.0f} (post PROPOSAL + take ACK), follower {c['follower']['ir']:.0f} "
                         f"(take PROPOSAL + post ACK), sum {c['exchange_ir']:.0f}")
            lines.append(f"  method: delta of counts {c['leader']['counts']}; minus client-request toggles "
                         f"{c['toggle_ir']:.0f}/side; empty polls per exchange leader {c['leader']['empty_polls']:.2f}"
                         f" follower {c['follower']['empty_polls']:.2f} at {c['idle_poll_ir']:.0f} each (idle poll)")
            for side, parts in c.get("breakdown", {}).items():
                lines.append(f"  {side} by where it runs: " + "; ".join(f"{k} {v:.0f}" for k, v in parts.items()))
    for r in report.get("vm_functional", []):
        if r.get("mode") in ("rtt", "rate"):
            lines.append(f"## rdma in the VM, functional only (emulated timings, not figures): {r['mode']} "
                         f"{r['bytes']} B x {r['count']} completed")
    return "\n".join(lines) + "\n"


# ---- main -------------------------------------------------------------------------------------------------------

def plan_args(quick):
    if quick:
        return ["--rtt-runs=3", "--rtt-count=5000", "--warmup=500", "--rate-runs=3", "--rate-count=50000"]
    return ["--rtt-runs=5", "--rtt-count=20000", "--warmup=2000", "--rate-runs=5", "--rate-count=200000"]


def smoke(binary):
    plan = ["--rtt-runs=1", "--rtt-count=200", "--warmup=20", "--rate-runs=1", "--rate-count=2000", "--window=64"]
    recs = two_processes(binary, "tcp", plan, timeout=60)
    assert any(r["mode"] == "rtt" for r in recs) and any(r["mode"] == "rate" for r in recs), recs
    p = sh([binary, "--mode=pair", "--transport=tcp", "--count=200", "--warmup=10"], timeout=60)
    assert any(r.get("mode") == "pair" for r in results_of(p.stdout)), p.stdout
    log("smoke: tcp two processes and pair mode ok")
    if os.geteuid() == 0 and shutil.which("ip") and "dpdk" in p.stdout.split("built: ")[1]:
        with Netns(split=True) as net:
            recs = two_processes(binary, "dpdk", plan, net.prefix(0), net.prefix(1), dpdk_args(net, 0),
                                 dpdk_args(net, 1), timeout=60)
        assert any(r["mode"] == "rate" for r in recs), recs
        with Netns(split=False) as net:
            p = sh(net.prefix(0) + [binary, "--mode=pair", "--transport=dpdk", "--count=200", "--warmup=10"]
                   + dpdk_pair_args(net), timeout=60)
        assert any(r.get("mode") == "pair" for r in results_of(p.stdout)), p.stdout
        log("smoke: dpdk (net_af_packet on a veth pair) two processes and pair mode ok")
    else:
        log("smoke: dpdk skipped (needs root, iproute2 and a dpdk build)")


def reanalyse(base):
    report = json.load(open(base + ".json"))
    for where, per in report["instructions"].items():
        for t, c in per.items():
            if isinstance(c, dict):
                n = max(c["leader"]["counts"])
                dumps = os.path.join(base + ".callgrind", where)
                c["breakdown"] = {side: breakdown(os.path.join(dumps, f"{t}-{side}-{n}.callgrind"), n)
                                  for side in ("leader", "follower")}
    text = table(report)
    redact.write_text(base + ".txt", text)
    redact.write_json(base + ".json", report)
    log(text)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(ROOT, "build/bin/uk_transport_bench"))
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-vm", action="store_true")
    ap.add_argument("--no-timings", action="store_true")
    ap.add_argument("--vm-work", default=os.path.join(ROOT, "build/bench-vm"),
                    help="where the VM's kernel package is cached and its initramfs built")
    ap.add_argument("--counts", default="1000,3000", help="the two exchange counts of the callgrind delta")
    ap.add_argument("--out-dir", default=os.path.join(ROOT, "bench/results"))
    ap.add_argument("--reanalyse", metavar="BASE", help="recompute the breakdowns of BASE.json from BASE.callgrind/ "
                    "and rewrite BASE.txt and BASE.json (BASE: bench/results/<stamp>-dataplane)")
    a = ap.parse_args()
    if a.reanalyse:
        return reanalyse(a.reanalyse)
    binary = os.path.abspath(a.bin)
    if a.smoke:
        smoke(binary)
        return 0
    counts = [int(c) for c in a.counts.split(",")]
    started = datetime.datetime.now(datetime.timezone.utc)
    base = os.path.join(a.out_dir, started.strftime("%Y-%m-%d-%H%M") + "-dataplane")
    dumps = base + ".callgrind"  # the leader and follower dumps behind the breakdowns (callgrind_annotate them)
    sizes = results_of(sh([binary, "--mode=sizes"]).stdout)[0]
    report = {"date": started.strftime("%Y-%m-%dT%H:%M:%SZ"), "machine": machine(), "sizes": sizes,
              "command": " ".join(sys.argv), "timings": {}, "instructions": {"host": {}, "vm": {}}}
    built = sh([binary, "--mode=sizes"]).stdout.split("built: ")[1].split()
    root = os.geteuid() == 0
    plan = plan_args(a.quick)
    report["plan"] = plan
    if not a.no_timings:
        log("timings: tcp, two processes on loopback")
        report["timings"]["tcp"] = two_processes(binary, "tcp", plan)
        if "dpdk" in built and root:
            log("timings: dpdk, two processes, net_af_packet on a veth pair between two namespaces")
            with Netns(split=True) as net:
                report["timings"]["dpdk"] = two_processes(binary, "dpdk", plan, net.prefix(0), net.prefix(1),
                                                          dpdk_args(net, 0), dpdk_args(net, 1))
        else:
            report["timings"]["dpdk"] = "needs root and a dpdk build"
        report["cpu_per_exchange"] = cpu_per_exchange(binary, built, root)
        report["timings"]["rdma"] = ("no RDMA device on the host; inside the TCG VM timings are emulated and mean "
                                     "nothing (instruction counts below)")
    if shutil.which("valgrind") is None:
        report["instructions"]["host"]["all"] = "valgrind not installed (bench/dataplane/setup.sh)"
    else:
        log("instructions: callgrind, pair mode, host")
        report["instructions"]["host"]["tcp"] = count_instructions(binary, "tcp", counts, os.path.join(dumps, "host"))
        if "dpdk" in built and root:
            with Netns(split=False) as net:
                # Under callgrind everything runs ~50x slower: a longer retransmit timeout keeps spurious
                # retransmissions out of the count (they would be the emulator's, not the protocol's).
                report["instructions"]["host"]["dpdk"] = count_instructions(
                    binary, "dpdk", counts, os.path.join(dumps, "host"), dpdk_pair_args(net) + ["--rto-us=1000000"],
                    net.prefix(0))
        if "rdma" in built and not a.no_vm:
            log("instructions: callgrind, pair mode, inside the soft-RoCE VM (tcp and rdma)")
            report["instructions"]["vm"], report["vm_functional"] = vm_counts(binary, os.path.abspath(a.vm_work),
                                                                              counts, os.path.join(dumps, "vm"))
    os.makedirs(a.out_dir, exist_ok=True)
    report["failed_attempts"] = FAILURES
    text = table(report)
    redact.write_text(base + ".txt", text)
    redact.write_json(base + ".json", report)
    log(text)
    log(f"wrote {base}.txt and {base}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
