#!/usr/bin/python3
"""Reads on ukeeper's client I/O threads, beside Apache ZooKeeper 3.8, in one run on this machine (issue 6).

usage: bench/reads.py [--quick] [--rounds N] [--duration S] [--warmup S] [--server-warmup S]
                      [--connections 16,64] [--window 4] [--keys 1000] [--value-bytes 100]
                      [--write-rate 2000] [--mix-read-rate 10000] [--mix-connections 16]
                      [--znodes 1000000] [--parts throughput,writes,memory] [--build DIR] [--out DIR] [--keep-data]

Four targets run side by side on loopback, data directories on the same disk under bench/results/tmp/, with
bench/compare's settings (ukeeper durability=fsync, ZooKeeper forceSync=yes, tickTime=2000, maxClientCnxns=0; the
ZooKeeper JVM with the Debian classpath and the JVM's default options, as bench/compare starts it):
  uk0 = ukeeper ioThreads=0 (the pipeline thread serves the clients itself), uk1 = ukeeper ioThreads=1, uk2 =
  ukeeper ioThreads=2, zk = Apache ZooKeeper (Debian package `zookeeper`).

1. throughput: ukbench `read` (getData of --keys znodes of --value-bytes bytes, uniform keys), closed loop, each of
   --connections connections keeping --window requests in flight; throughput and p50/p99/p99.9 per target, the
   ratio to ZooKeeper, the server's CPU per read and (ukeeper) how many reads the I/O threads answered and how many
   went to the pipeline thread (mntr zk_ukeeper_reads_served_on_io_threads / zk_ukeeper_reads_via_pipeline).
2. writes: getData latency with and without a steady write load. Reads: ukbench `read`, open loop at
   --mix-read-rate reads/s in total (latency from the intended send time) over --mix-connections x --window
   (--mix-read-rate 0: closed loop instead); the write load: a second ukbench process doing setData of the same
   keys, open loop at --write-rate/s (4 connections, window 8), started first and running through the whole read
   run. Per target: p50/p99/p99.9 alone, with writes, and the ratio (the issue's goal for ukeeper: p99 <= 2x).
3. memory: a fresh ukeeper (ioThreads=1) and then a fresh ZooKeeper, one at a time; this script's own pipelined
   raw-protocol loader (4 connections x 200 creates in flight) creates --znodes persistent znodes of --value-bytes
   bytes (/readsmem/p<i/1000>/n<i>: 1000 children per parent), durably. ukeeper: VmRSS before/after
   (/proc/PID/status) and mntr zk_ukeeper_bytes_per_znode / tree_memory_bytes. ZooKeeper: heap used after
   `jcmd PID GC.run` (GC.heap_info) before/after, and VmRSS. Bytes per znode = delta / znodes created.

Parts 1 and 2 run --rounds rounds; in each the targets go in alternating order (uk0 uk1 uk2 zk, then zk uk2 uk1 uk0, ...);
figures are the median over rounds with the spread (min-max). Every ukbench process and the loader are on this
machine, on the same cores as the servers: the text says how many cores that is.

Writes DIR/YYYY-MM-DD-HHMM-reads.txt (the report printed) and .json (settings, machine, every run's figures and
command). Every server and ukbench process is stopped on exit, on failure and on Ctrl-C. The binaries (ukeeper,
ukbench from --build, default build/) are copied into the run's directory first. Helpers (server health checks,
CPU sampling, machine description, process clean-up) are bench/compare's, imported unchanged.
"""

import argparse
import datetime
import importlib.machinery
import importlib.util
import json
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no __pycache__ in bench/
sys.path.insert(0, os.path.join(ROOT, "bench"))
import cluster  # noqa: E402
import failover  # noqa: E402
import redact  # noqa: E402


def _load_compare():
    loader = importlib.machinery.SourceFileLoader("bench_compare", os.path.join(ROOT, "bench", "compare"))
    spec = importlib.util.spec_from_loader("bench_compare", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


compare = _load_compare()
log = compare.log
children = compare.children  # every process started here too; compare.stop_all() stops them

TARGETS = ("uk0", "uk1", "uk2", "zk")
NAMES = {"uk0": "ukeeper ioThreads=0", "uk1": "ukeeper ioThreads=1", "uk2": "ukeeper ioThreads=2", "zk": "ZooKeeper"}
IO_THREADS = {"uk0": 0, "uk1": 1, "uk2": 2}
TOOLS = ("ukeeper", "ukbench")
MNTR_KEYS = ("zk_ukeeper_reads_served_on_io_threads", "zk_ukeeper_reads_via_pipeline",
             "zk_ukeeper_requests_to_pipeline", "zk_packets_received")


LOADS = []  # the 1-minute load average at the start of every ukbench run and load


def load1():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


# ------------------------------------------------------------------------------------------------------------------
# Servers


def start_server(target, work, bindir, port, io_threads=1, extra=""):
    """Starts one server (target zk or mem-zk: ZooKeeper, else ukeeper) with bench/compare's settings; returns
    (Popen, data dir). io_threads None: ukeeper's config leaves ioThreads at the server's default."""
    kind = "zookeeper" if target in ("zk", "mem-zk") else "ukeeper"
    d = os.path.join(work, target)
    data = os.path.join(d, "data")
    os.makedirs(data)
    cfg = os.path.join(d, "zoo.cfg")
    common = ("tickTime=2000\ndataDir=%s\nclientPort=%d\nclientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\n"
              "maxClientCnxns=0\n" % (data, port))
    with open(cfg, "w") as f:
        if kind == "ukeeper":
            threads = "" if io_threads is None else "ioThreads=%d\n" % io_threads
            f.write(common + "durability=fsync\n" + threads + extra)
        else:
            f.write(common + "admin.enableServer=false\nforceSync=yes\n")
    if kind == "ukeeper":
        cmd = [os.path.join(bindir, "ukeeper"), cfg]
    else:  # bench/compare's standalone ZooKeeper: the Debian classpath, the JVM's default options
        cmd = ["java", "-Dzookeeper.log.dir=" + d, "-cp", cluster.ZK_CLASSPATH,
               "org.apache.zookeeper.server.quorum.QuorumPeerMain", cfg]
    with open(os.path.join(d, "server.log"), "w") as out:
        p = subprocess.Popen(cmd, cwd=d, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    children.append(p)
    deadline = time.time() + 60
    while not (compare.ruok(port) and compare.session_ok(port)):
        if p.poll() is not None:
            raise RuntimeError("%s exited with status %s; log in %s" % (target, p.returncode, d))
        if time.time() > deadline:
            raise RuntimeError("%s on port %d did not answer ruok and accept a session in 60 s" % (target, port))
        time.sleep(0.2)
    log("# %s up on 127.0.0.1:%d (pid %d)" % (NAMES.get(target, target), port, p.pid))
    return p, data


def stop_server(p):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if p in children:
        children.remove(p)


def mntr(port):
    out = cluster.four_letter(port, "mntr", timeout=5.0) or ""
    d = {}
    for line in out.splitlines():
        k, _, v = line.partition("\t")
        try:
            d[k] = int(v)
        except ValueError:
            d[k] = v
    return d


def vm_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def jvm_heap_used_kib(pid):
    """Heap used after a full collection (jcmd GC.run, then GC.heap_info): (used KiB, committed KiB, raw text)."""
    subprocess.run(["jcmd", str(pid), "GC.run"], capture_output=True, text=True, timeout=120)
    time.sleep(0.5)
    out = subprocess.run(["jcmd", str(pid), "GC.heap_info"], capture_output=True, text=True, timeout=60).stdout
    used = total = 0
    found = False
    for line in out.splitlines():
        if re.search(r"Metaspace|class space", line):
            continue
        m = re.search(r"total (\d+)K, used (\d+)K", line)
        if m:
            total += int(m.group(1))
            used += int(m.group(2))
            found = True
    if not found:
        raise RuntimeError("jcmd %d GC.heap_info: no heap figures in %r" % (pid, out[:300]))
    return used, total, out.strip()


def jvm_flags(pid):
    out = subprocess.run(["jcmd", str(pid), "VM.flags"], capture_output=True, text=True, timeout=60).stdout
    flags = {}
    for key in ("MaxHeapSize", "InitialHeapSize"):
        m = re.search(r"-XX:%s=(\d+)" % key, out)
        if m:
            flags[key] = int(m.group(1))
    m = re.search(r"-XX:\+Use(\w+GC)\b", out)
    flags["gc"] = m.group(1) if m else "?"
    return flags


# ------------------------------------------------------------------------------------------------------------------
# ukbench


def trim(report):
    """A ukbench report without the percentile curves (the JSON stays readable)."""
    r = json.loads(json.dumps(report))
    for run in r.get("runs", []):
        for op in run.get("ops", []):
            op.pop("curve", None)
    return r


def op_row(report, name):
    for o in report["runs"][0]["ops"]:
        if o["op"] == name:
            return o
    return None


def ukbench_cmd(bindir, port, workload, conns, window, warmup, duration, json_path, label, rate=0, threads=0,
                keys=1000, value_bytes=100):
    cmd = [os.path.join(bindir, "ukbench"), "--port", str(port), "--workload", workload, "--connections", str(conns),
           "--window", str(window), "--znodes", str(keys), "--value-bytes", str(value_bytes), "--warmup",
           str(warmup), "--duration", str(duration), "--label", label, "--json", json_path]
    if rate:
        cmd += ["--rate", str(rate)]
    if threads:
        cmd += ["--threads", str(threads)]
    return cmd


def run_ukbench(cmd, pid, warmup, duration, target):
    """Runs one ukbench command to the end; returns (report, cpu dict) with the server's (pid) CPU time in the
    measured window (bench/compare's CpuSampler and its reading of ukbench's progress lines)."""
    json_path = cmd[cmd.index("--json") + 1]
    LOADS.append(load1())
    starts = []
    with compare.CpuSampler([pid]) as cpu:
        t_launch = time.monotonic()
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, bufsize=1)
        children.append(p)
        err = []
        for line in p.stderr:
            m = compare.PROGRESS.match(line)
            if m:
                starts.append(time.monotonic() - float(m.group(1)))
            else:
                err.append(line)
        rc = p.wait()
        t_end = time.monotonic()
        children.remove(p)
    if rc != 0:
        raise RuntimeError("ukbench against %s failed (%d): %s" % (target, rc, "".join(err).strip()[-800:]))
    with open(json_path) as f:
        report = json.load(f)
    ops = op_row(report, "all")["count"]
    if starts:
        t0 = min(starts) + warmup
        used = cpu.at(t0 + duration) - cpu.at(t0)
    else:
        used = cpu.at(t_end) - cpu.at(t_launch)
    return report, {"cpu_s": used, "us_per_op": used * 1e6 / ops if ops else None, "cores_busy": used / duration}


class Writer:
    """The steady write load of part 2: a second ukbench (setData, open loop) whose run covers the read run."""

    def __init__(self, cmd, log_path):
        self.cmd, self.log_path = cmd, log_path
        self.json_path = cmd[cmd.index("--json") + 1]
        with open(log_path, "w") as err:
            self.p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL)
        children.append(self.p)

    def wait_writing(self, timeout=30.0):
        """Until ukbench's first progress line: setup done, writes flowing for a second."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.p.poll() is not None:
                break
            with open(self.log_path) as f:
                if any(compare.PROGRESS.match(line) for line in f):
                    return
            time.sleep(0.05)
        raise RuntimeError("write-load ukbench did not start writing: %s" % open(self.log_path).read()[-500:])

    def finish(self):
        rc = self.p.wait()
        children.remove(self.p)
        if rc != 0:
            raise RuntimeError("write-load ukbench failed (%d): %s" % (rc, open(self.log_path).read()[-800:]))
        with open(self.json_path) as f:
            return json.load(f)


# ------------------------------------------------------------------------------------------------------------------
# Part 3's loader: pipelined creates on the raw protocol (standard library only, so it drives both servers)


def _connect(port, timeout=30.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    body = struct.pack(">iqiqi16s?", 0, 0, 30000, 0, 16, b"\0" * 16, False)
    s.sendall(struct.pack(">i", len(body)) + body)
    n = struct.unpack(">i", compare.recv_exact(s, 4))[0]
    reply = compare.recv_exact(s, n)
    if struct.unpack(">iiq", reply[:16])[2] == 0:
        raise RuntimeError("no session from port %d" % port)
    return s


def _create_tail(value):
    # data buffer, ACL world:anyone ALL (bench/failover's encoding), flags 0 (persistent)
    return struct.pack(">i", len(value)) + value + failover.OPEN_ACL + struct.pack(">i", 0)


def pipelined_creates(port, paths, tail, window, result, index):
    """Creates `paths` (bytes) in order on one session, keeping up to `window` requests in flight. result[index]
    gets (ok, errors by code)."""
    try:
        s = _connect(port)
        n, sent, done, ok, errors = len(paths), 0, 0, 0, {}
        buf = bytearray()
        pack = struct.Struct(">iiii").pack
        hdr = struct.Struct(">iqi").unpack_from
        flen = struct.Struct(">i").unpack_from
        fixed = 12 + len(tail)
        while done < n:
            if sent < n and sent - done <= window // 2:
                k = min(n - sent, window - (sent - done))
                s.sendall(b"".join(pack(fixed + len(p), sent + j + 1, 1, len(p)) + p + tail
                                   for j, p in enumerate(paths[sent:sent + k])))
                sent += k
            chunk = s.recv(1 << 20)
            if not chunk:
                raise RuntimeError("connection closed by the server after %d replies" % done)
            buf += chunk
            pos, end = 0, len(buf)
            while end - pos >= 4:
                (ln,) = flen(buf, pos)
                if end - pos - 4 < ln:
                    break
                xid, _zxid, err = hdr(buf, pos + 4)
                pos += 4 + ln
                if xid < 0:  # ping or watch event: none expected, skip
                    continue
                done += 1
                if err == 0:
                    ok += 1
                else:
                    errors[err] = errors.get(err, 0) + 1
            del buf[:pos]
        s.sendall(struct.pack(">iii", 8, n + 1, -11))  # closeSession
        s.close()
        result[index] = (ok, errors)
    except Exception as e:  # noqa: BLE001 - reported by the caller
        result[index] = e


def load_znodes(port, count, value_bytes, connections, window):
    """Creates /readsmem, its parents and `count` znodes; returns (seconds for the znodes, created)."""
    tail = _create_tail(b"v" * value_bytes)
    empty = _create_tail(b"")
    parents = [b"/readsmem"] + [("/readsmem/p%d" % j).encode() for j in range((count + 999) // 1000)]
    res = [None]
    pipelined_creates(port, parents, empty, window, res, 0)
    if isinstance(res[0], Exception) or res[0][1]:
        raise RuntimeError("creating the parents failed: %s" % (res[0],))
    paths = [("/readsmem/p%d/n%d" % (i // 1000, i)).encode() for i in range(count)]
    per = (count + connections - 1) // connections
    res = [None] * connections
    threads = [threading.Thread(target=pipelined_creates,
                                args=(port, paths[c * per:(c + 1) * per], tail, window, res, c), daemon=True)
               for c in range(connections)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    created, errors = 0, {}
    for r in res:
        if isinstance(r, Exception) or r is None:
            raise RuntimeError("loader connection failed: %s" % r)
        created += r[0]
        for k, v in r[1].items():
            errors[k] = errors.get(k, 0) + v
    if errors:
        raise RuntimeError("loader: %d created, errors by code %s" % (created, errors))
    return elapsed, created, len(parents)


# ------------------------------------------------------------------------------------------------------------------
# The parts


def warm_up(args, bindir, raw, ports, pids):
    for t in TARGETS:
        log("# warming %s: mixed:50/50, 16 connections, %.0fs" % (NAMES[t], args.server_warmup))
        cmd = ukbench_cmd(bindir, ports[t], "mixed:50/50", 16, 1, 0, args.server_warmup,
                          os.path.join(raw, "warm-%s.json" % t), "warm-" + t, keys=args.keys,
                          value_bytes=args.value_bytes)
        run_ukbench(cmd, pids[t], 0, args.server_warmup, t)


def round_order(rnd):
    return TARGETS if rnd % 2 == 1 else TARGETS[::-1]


def io_counters(port):
    m = mntr(port)
    return {k: m.get(k) for k in MNTR_KEYS}


def counter_delta(before, after):
    return {k.replace("zk_ukeeper_", "").replace("zk_", ""): (after[k] - before[k])
            if isinstance(after.get(k), int) and isinstance(before.get(k), int) else None for k in MNTR_KEYS}


def part_throughput(args, bindir, raw, ports, pids):
    runs = []
    for rnd in range(1, args.rounds + 1):
        order = round_order(rnd)
        log("## part 1 (read throughput) round %d: %s" % (rnd, " ".join(order)))
        for conns in args.connection_list:
            for t in order:
                jp = os.path.join(raw, "p1-r%d-%s-c%d.json" % (rnd, t, conns))
                cmd = ukbench_cmd(bindir, ports[t], "read", conns, args.window, args.warmup, args.duration, jp,
                                  "%s r%d" % (t, rnd), keys=args.keys, value_bytes=args.value_bytes)
                before = io_counters(ports[t]) if t != "zk" else None
                rep, cpu = run_ukbench(cmd, pids[t], args.warmup, args.duration, t)
                io = counter_delta(before, io_counters(ports[t])) if t != "zk" else None
                a = op_row(rep, "all")
                log("   %-20s x%-3d %9.0f reads/s  p50 %7.1f  p99 %8.1f  p99.9 %8.1f us  CPU %5.1f us/read%s"
                    % (NAMES[t], conns, a["throughput_per_s"], a["p50_us"], a["p99_us"], a["p99_9_us"],
                       cpu["us_per_op"] or 0, "" if io is None else "  io-thread reads %s, via pipeline %s"
                       % (io["reads_served_on_io_threads"], io["reads_via_pipeline"])))
                runs.append({"round": rnd, "target": t, "connections": conns, "window": args.window,
                             "command": shlex.join(cmd), "cpu": cpu, "mntr_delta": io, "errors":
                             rep["runs"][0]["errors"], "ukbench": trim(rep)})
    return runs


def part_writes(args, bindir, raw, ports, pids):
    runs = []
    rd_total = args.warmup + args.duration
    for rnd in range(1, args.rounds + 1):
        order = round_order(rnd)
        log("## part 2 (getData with/without writes) round %d: %s" % (rnd, " ".join(order)))
        for idx, t in enumerate(order):
            conds = ("alone", "writes") if (rnd + idx) % 2 == 1 else ("writes", "alone")
            for cond in conds:
                jp = os.path.join(raw, "p2-r%d-%s-%s.json" % (rnd, t, cond))
                cmd = ukbench_cmd(bindir, ports[t], "read", args.mix_connections, args.window, args.warmup,
                                  args.duration, jp, "%s r%d %s" % (t, rnd, cond), rate=args.mix_read_rate,
                                  keys=args.keys, value_bytes=args.value_bytes)
                writer = None
                if cond == "writes":
                    wj = os.path.join(raw, "p2-r%d-%s-writer.json" % (rnd, t))
                    wcmd = ukbench_cmd(bindir, ports[t], "write", 4, 8, 1, rd_total + 2.0, wj, "writer %s r%d"
                                       % (t, rnd), rate=args.write_rate, threads=1, keys=args.keys,
                                       value_bytes=args.value_bytes)
                    writer = Writer(wcmd, os.path.join(raw, "p2-r%d-%s-writer.log" % (rnd, t)))
                    writer.wait_writing()
                before = io_counters(ports[t]) if t != "zk" else None
                rep, cpu = run_ukbench(cmd, pids[t], args.warmup, args.duration, t)
                io = counter_delta(before, io_counters(ports[t])) if t != "zk" else None
                wrep = writer.finish() if writer else None
                a = op_row(rep, "all")
                w = op_row(wrep, "setData") if wrep else None
                log("   %-20s %-6s %8.0f reads/s  p50 %7.1f  p99 %8.1f  p99.9 %8.1f us  unsent %d%s"
                    % (NAMES[t], cond, a["throughput_per_s"], a["p50_us"], a["p99_us"], a["p99_9_us"],
                       rep["runs"][0]["unsent"], "" if not w else "  writes %.0f/s p99 %.0f us"
                       % (w["throughput_per_s"], w["p99_us"])))
                runs.append({"round": rnd, "target": t, "condition": cond, "command": shlex.join(cmd),
                             "writer_command": shlex.join(writer.cmd) if writer else None, "cpu": cpu,
                             "mntr_delta": io, "errors": rep["runs"][0]["errors"],
                             "unsent": rep["runs"][0]["unsent"], "ukbench": trim(rep),
                             "writer": trim(wrep) if wrep else None})
    return runs


def part_memory(args, work, bindir, ports):
    """A fresh server of each kind, one at a time; returns {kind: figures}."""
    out = {}
    # ukeeper twice: as configured by default (a snapshot every 50k-100k txns, written from a read guard while the
    # load goes on, so the store keeps what the writer replaces meanwhile), and with no snapshot during the load
    # (snapCount above the load): the store's steady state.
    for kind in ("ukeeper", "ukeeper-nosnap", "zookeeper"):
        t = {"ukeeper": "mem-uk", "ukeeper-nosnap": "mem-uk-nosnap", "zookeeper": "mem-zk"}[kind]
        port = ports[t]
        extra = "snapCount=%d\n" % (4 * args.znodes + 1000000) if kind == "ukeeper-nosnap" else ""
        p, _data = start_server(t, work, bindir, port, io_threads=1, extra=extra)
        try:
            r = {"port": port, "pid": p.pid}
            time.sleep(1.0)
            m0 = mntr(port)
            r["znode_count_before"] = m0.get("zk_znode_count")
            if kind == "zookeeper":
                r["jvm_flags"] = jvm_flags(p.pid)
                r["heap_used_before_kib"], r["heap_committed_before_kib"], _ = jvm_heap_used_kib(p.pid)
            else:
                r["tree_memory_bytes_before"] = m0.get("zk_ukeeper_tree_memory_bytes")
            r["rss_before_kib"] = vm_rss_kib(p.pid)
            log("# part 3: %s: creating %d znodes of %d bytes (%d connections x %d in flight)"
                % (kind, args.znodes, args.value_bytes, args.load_connections, args.load_window))
            LOADS.append(load1())
            elapsed, created, parents = load_znodes(port, args.znodes, args.value_bytes, args.load_connections,
                                                    args.load_window)
            r.update({"load_s": elapsed, "created": created, "parents": parents,
                      "creates_per_s": created / elapsed if elapsed > 0 else None})
            log("   %s: %d znodes in %.1fs (%.0f creates/s); settling %.0fs"
                % (kind, created, elapsed, created / elapsed, args.settle))
            time.sleep(args.settle)
            m1 = mntr(port)
            r["znode_count_after"] = m1.get("zk_znode_count")
            if kind == "zookeeper":
                r["heap_used_after_kib"], r["heap_committed_after_kib"], r["heap_info_after"] = \
                    jvm_heap_used_kib(p.pid)
                r["heap_delta_bytes_per_znode"] = (r["heap_used_after_kib"] - r["heap_used_before_kib"]) * 1024 \
                    / created
            else:
                for k in ("zk_ukeeper_tree_memory_bytes", "zk_ukeeper_tree_retired_bytes",
                          "zk_ukeeper_bytes_per_znode"):
                    r[k.replace("zk_ukeeper_", "") + "_after"] = m1.get(k)
                if isinstance(m1.get("zk_ukeeper_tree_memory_bytes"), int) and \
                        isinstance(r["tree_memory_bytes_before"], int):
                    r["tree_delta_bytes_per_znode"] = (m1["zk_ukeeper_tree_memory_bytes"] -
                                                       r["tree_memory_bytes_before"]) / created
            r["rss_after_kib"] = vm_rss_kib(p.pid)
            r["rss_delta_bytes_per_znode"] = (r["rss_after_kib"] - r["rss_before_kib"]) * 1024 / created
            log("   %s: RSS %d -> %d KiB (%.0f B/znode)%s"
                % (kind, r["rss_before_kib"], r["rss_after_kib"], r["rss_delta_bytes_per_znode"],
                   "; heap used %d -> %d KiB (%.0f B/znode)" % (r["heap_used_before_kib"], r["heap_used_after_kib"],
                                                               r["heap_delta_bytes_per_znode"])
                   if kind == "zookeeper" else "; mntr bytes_per_znode %s" % r.get("bytes_per_znode_after")))
            out[kind] = r
        finally:
            stop_server(p)
    return out


# ------------------------------------------------------------------------------------------------------------------
# Report


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def spread(xs, f="%.0f"):
    xs = [x for x in xs if x is not None]
    if len(xs) < 2:
        return ""
    return "[" + (f % min(xs)) + "-" + (f % max(xs)) + "]"


def short_cmd(cmd):
    """A run's command line without the run directory's path to the binary."""
    cmd = re.sub(r"^\S*/bin/ukbench", "ukbench", cmd)
    return re.sub(r"\S*/reports/", "<run dir>/reports/", cmd)


def num(v, f="%.0f"):
    return "-" if v is None else f % v


def ratio(a, b):
    return "%.2fx" % (a / b) if a and b else "-"


def header(meta, args, load_after):
    m = meta
    return [
        "# bench/reads.py %s" % m["date_utc"],
        "# machine: %s, nproc %d, CPU %s, %s memory, kernel %s" % (m["hostname"], m["cores"], m["cpu"], m["memory"],
                                                                   m["kernel"]),
        "# load average (1/5/15 min) before: %s; after: %s; 1-min load at the start of each run: %s"
        % (m["loadavg_before"], load_after, "%.1f-%.1f (median %.1f)" % (min(LOADS), max(LOADS),
                                                                        statistics.median(LOADS)) if LOADS else "-"),
        "# ALL clients (ukbench, the write-load ukbench, part 3's loader) and ALL servers share these %d cores: "
        "figures are ratios" % m["cores"],
        "#   between servers measured in the same run on a shared (and, with other people's jobs, busy) machine, "
        "not capacities.",
        "# data dirs: %s (%s, rotational: %s) under bench/results/tmp/" % (m["data_disk"], m["data_fs"],
                                                                         m["data_disk_rotational"]),
        "# ukeeper %s, durability=fsync; binary %s" % (m["ukeeper_commit"], m["ukeeper_binary"]),
        "# Apache ZooKeeper %s (Debian), forceSync=yes, %s; JVM with the JVM's default options (bench/compare's)%s"
        % (m["zookeeper_version"], m["java_version"], ("; in part 3: %s" % m["zk_jvm"]) if m.get("zk_jvm") else ""),
        "# both: tickTime=2000, maxClientCnxns=0, standalone on 127.0.0.1; uk0/uk1/uk2 = ukeeper ioThreads=0/1/2, "
        "zk = ZooKeeper (all four up side by side in parts 1-2)",
        "# command: %s" % shlex.join(["bench/reads.py"] + sys.argv[1:]),
        "# runs: parts %s; %d round(s) of parts 1-2, target order alternating per round (%s / %s); per ukbench run "
        "%.1fs warm-up + %.1fs measured; servers warmed %.0fs each first (mixed:50/50, 16 connections)"
        % (",".join(args.part_list), args.rounds, " ".join(TARGETS), " ".join(TARGETS[::-1]), args.warmup,
           args.duration, args.server_warmup),
        "# figures: median over rounds, [min-max] over rounds; latencies in us",
    ]


def throughput_lines(runs, args):
    lines = ["", "## 1. read throughput: ukbench read (getData), closed loop, window %d per connection, %d znodes x "
             "%d B, uniform keys" % (args.window, args.keys, args.value_bytes),
             "##    vs ZK: ops/s ratio target/ZooKeeper, latency ratio ZooKeeper/target (>1 = better than "
             "ZooKeeper); io/pipe: reads answered on I/O threads / via the pipeline thread (mntr, all rounds)"]
    lines.append("##    each run (port, label, --connections and --json vary): %s" % short_cmd(runs[0]["command"]))
    for conns in args.connection_list:
        lines.append("")
        lines.append("  %d connections x window %d" % (conns, args.window))
        lines.append("  %-20s %9s %-15s %7s %7s %8s %8s  %6s %6s %6s  %7s  %s" % (
            "target", "reads/s", "[min-max]", "p50", "p99", "p99.9", "[p99 min-max]", "vs ZK", "p99", "p99.9",
            "CPU/op", "io/pipe"))
        agg = {}
        for t in TARGETS:
            rs = [r for r in runs if r["target"] == t and r["connections"] == conns]
            rows = [op_row(r["ukbench"], "all") for r in rs]
            agg[t] = {k: med([x[k] for x in rows]) for k in ("throughput_per_s", "p50_us", "p99_us", "p99_9_us")}
            agg[t]["thr_all"] = [x["throughput_per_s"] for x in rows]
            agg[t]["p99_all"] = [x["p99_us"] for x in rows]
            agg[t]["cpu"] = med([r["cpu"]["us_per_op"] for r in rs])
            io = [r["mntr_delta"] for r in rs if r["mntr_delta"]]
            agg[t]["io"] = "%d/%d" % (sum(x["reads_served_on_io_threads"] or 0 for x in io),
                                      sum(x["reads_via_pipeline"] or 0 for x in io)) if io else "-"
        z = agg["zk"]
        for t in TARGETS:
            a = agg[t]
            lines.append("  %-20s %9s %-15s %7s %7s %8s %-13s  %6s %6s %6s  %7s  %s" % (
                NAMES[t], num(a["throughput_per_s"]), spread(a["thr_all"]), num(a["p50_us"]), num(a["p99_us"]),
                num(a["p99_9_us"]), spread(a["p99_all"]),
                ratio(a["throughput_per_s"], z["throughput_per_s"]), ratio(z["p99_us"], a["p99_us"]),
                ratio(z["p99_9_us"], a["p99_9_us"]), num(a["cpu"], "%.1f"), a["io"]))
    errs = sum(r["errors"] for r in runs)
    if errs:
        lines.append("  errors (all runs): %d" % errs)
    return lines


def writes_lines(runs, args):
    load = ("open loop at %d reads/s in total (latency from the intended send time)" % args.mix_read_rate
            if args.mix_read_rate else "closed loop")
    lines = ["", "## 2. getData latency with and without a steady write load",
             "##    reads: ukbench read, %s, %d connections x window %d, %d znodes x %d B"
             % (load, args.mix_connections, args.window, args.keys, args.value_bytes),
             "##    writes: a second ukbench process, setData of the same keys, open loop at %d/s (4 connections x "
             "window 8, 1 thread), durable," % args.write_rate,
             "##    started first and running through the whole read run; ratio = with writes / alone (the issue's "
             "goal for ukeeper: p99 <= 2x)",
             "##    reads: %s" % short_cmd(runs[0]["command"]),
             "##    writes: %s" % short_cmd(next(r["writer_command"] for r in runs if r["writer_command"])), ""]
    lines.append("  %-20s %-7s %9s %7s %7s %8s %-13s %7s  %11s %9s  %s" % (
        "target", "", "reads/s", "p50", "p99", "p99.9", "[p99 min-max]", "unsent", "writes/s", "write p99",
        "io/pipe"))
    summary = []
    for t in TARGETS:
        agg = {}
        for cond in ("alone", "writes"):
            rs = [r for r in runs if r["target"] == t and r["condition"] == cond]
            rows = [op_row(r["ukbench"], "all") for r in rs]
            w = [op_row(r["writer"], "setData") for r in rs if r["writer"]]
            io = [r["mntr_delta"] for r in rs if r["mntr_delta"]]
            agg[cond] = {k: med([x[k] for x in rows]) for k in ("throughput_per_s", "p50_us", "p99_us", "p99_9_us")}
            lines.append("  %-20s %-7s %9s %7s %7s %8s %-13s %7s  %11s %9s  %s" % (
                NAMES[t], cond, num(agg[cond]["throughput_per_s"]), num(agg[cond]["p50_us"]),
                num(agg[cond]["p99_us"]), num(agg[cond]["p99_9_us"]), spread([x["p99_us"] for x in rows]),
                num(med([r["unsent"] for r in rs])), num(med([x["throughput_per_s"] for x in w])) if w else "",
                num(med([x["p99_us"] for x in w])) if w else "",
                "%d/%d" % (sum(x["reads_served_on_io_threads"] or 0 for x in io),
                           sum(x["reads_via_pipeline"] or 0 for x in io)) if io else "-"))
        r99 = agg["writes"]["p99_us"] / agg["alone"]["p99_us"] if agg["alone"]["p99_us"] else None
        r999 = agg["writes"]["p99_9_us"] / agg["alone"]["p99_9_us"] if agg["alone"]["p99_9_us"] else None
        r50 = agg["writes"]["p50_us"] / agg["alone"]["p50_us"] if agg["alone"]["p50_us"] else None
        per_round = []
        for rnd in sorted({r["round"] for r in runs}):
            a = [op_row(r["ukbench"], "all")["p99_us"] for r in runs
                 if r["target"] == t and r["round"] == rnd and r["condition"] == "alone"]
            w = [op_row(r["ukbench"], "all")["p99_us"] for r in runs
                 if r["target"] == t and r["round"] == rnd and r["condition"] == "writes"]
            if a and w and a[0]:
                per_round.append(w[0] / a[0])
        goal = ""
        if t != "zk" and r99 is not None:
            goal = "  goal p99 <= 2x: %s" % ("met" if r99 <= 2.0 else "NOT met")
        summary.append("  %-20s with/alone: p50 %s  p99 %s  p99.9 %s  (p99 ratio per round: %s)%s" % (
            NAMES[t], num(r50, "%.2fx"), num(r99, "%.2fx"), num(r999, "%.2fx"),
            " ".join("%.2fx" % x for x in per_round) or "-", goal))
    lines.append("")
    lines += summary
    errs = sum(r["errors"] for r in runs)
    if errs:
        lines.append("  read errors (all runs): %d" % errs)
    return lines


def memory_lines(mem, args):
    u, n, z = mem.get("ukeeper"), mem.get("ukeeper-nosnap"), mem.get("zookeeper")
    lines = ["", "## 3. memory: %d znodes x %d B created in a fresh server of each kind (one at a time), paths "
             "/readsmem/p<i/1000>/n<i>," % (args.znodes, args.value_bytes),
             "##    by this script's pipelined loader (%d sessions x %d creates in flight), durable (ukeeper "
             "durability=fsync, ioThreads=1; ZooKeeper forceSync=yes);"
             % (args.load_connections, args.load_window),
             "##    measured %.0fs after the last create; ZooKeeper's heap after jcmd GC.run; per znode = delta / "
             "znodes created" % args.settle, ""]
    lines.append("  (ukeeper: default snapCount, snapshots written during the load; no-snap: snapCount above the load)")
    lines.append("  %-50s %16s %16s %16s" % ("figure", "ukeeper", "ukeeper no-snap", "ZooKeeper"))

    def row(title, uv, zv, nv=None):
        if nv is None:
            nv = "" if uv == "" else "-"
        lines.append("  %-50s %16s %16s %16s" % (title, uv, nv, zv))

    def g(r, k, f="%.0f", scale=1.0):
        return num(r[k] * scale, f) if r and r.get(k) is not None else "-"

    def created(r):
        return "%s (+%s)" % (g(r, "created"), g(r, "parents")) if r else "-"

    def counts(r):
        return "%s -> %s" % (g(r, "znode_count_before"), g(r, "znode_count_after"))

    def load(r):
        return "%s (%s)" % (g(r, "load_s", "%.1f"), g(r, "creates_per_s"))

    def rss(r):
        return "%s -> %s" % (g(r, "rss_before_kib", "%.0f", 1 / 1024), g(r, "rss_after_kib", "%.0f", 1 / 1024))

    row("znodes created (+ parents)", created(u), created(z), created(n))
    row("zk_znode_count before -> after", counts(u), counts(z), counts(n))
    row("load time s (creates/s)", load(u), load(z), load(n))
    row("VmRSS before -> after, MiB", rss(u), rss(z), rss(n))
    row("VmRSS delta per znode, B", g(u, "rss_delta_bytes_per_znode"), g(z, "rss_delta_bytes_per_znode"),
        g(n, "rss_delta_bytes_per_znode"))
    row("JVM heap used (after GC.run) before -> after, MiB", "",
        "%s -> %s" % (g(z, "heap_used_before_kib", "%.0f", 1 / 1024), g(z, "heap_used_after_kib", "%.0f", 1 / 1024)))
    row("JVM heap used delta per znode, B", "", g(z, "heap_delta_bytes_per_znode"))
    row("JVM heap committed after, MiB", "", g(z, "heap_committed_after_kib", "%.0f", 1 / 1024))
    row("mntr zk_ukeeper_tree_memory_bytes after, MiB", g(u, "tree_memory_bytes_after", "%.0f", 1 / 2 ** 20), "",
        g(n, "tree_memory_bytes_after", "%.0f", 1 / 2 ** 20))
    row("mntr tree_memory delta per znode, B", g(u, "tree_delta_bytes_per_znode"), "",
        g(n, "tree_delta_bytes_per_znode"))
    row("mntr zk_ukeeper_bytes_per_znode", g(u, "bytes_per_znode_after"), "", g(n, "bytes_per_znode_after"))
    row("mntr zk_ukeeper_tree_retired_bytes after", g(u, "tree_retired_bytes_after"), "",
        g(n, "tree_retired_bytes_after"))
    if u and z and u.get("rss_delta_bytes_per_znode") and z.get("heap_delta_bytes_per_znode"):
        lines.append("")
        lines.append("  ZooKeeper heap-per-znode / ukeeper RSS-per-znode: %s; ZooKeeper RSS-per-znode / ukeeper "
                     "RSS-per-znode: %s" % (ratio(z["heap_delta_bytes_per_znode"], u["rss_delta_bytes_per_znode"]),
                                            ratio(z["rss_delta_bytes_per_znode"], u["rss_delta_bytes_per_znode"])))
    if n and z and n.get("rss_delta_bytes_per_znode") and z.get("heap_delta_bytes_per_znode"):
        lines.append("  no-snap: ZooKeeper heap-per-znode / ukeeper RSS-per-znode: %s; ZooKeeper RSS-per-znode / "
                     "ukeeper RSS-per-znode: %s" % (ratio(z["heap_delta_bytes_per_znode"], n["rss_delta_bytes_per_znode"]),
                                                     ratio(z["rss_delta_bytes_per_znode"], n["rss_delta_bytes_per_znode"])))
    return lines


# ------------------------------------------------------------------------------------------------------------------


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 round, 2 s runs, 100000 znodes "
                    "(about 1.5-2 minutes on a 2-core machine)")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--duration", type=float, help="measured seconds per ukbench run")
    ap.add_argument("--warmup", type=float, help="ukbench warm-up seconds per run")
    ap.add_argument("--server-warmup", type=float, help="seconds of warm-up load against each server first")
    ap.add_argument("--connections", default="16,64", help="part 1: connection counts (one table each)")
    ap.add_argument("--window", type=int, default=4, help="requests in flight per connection (parts 1 and 2)")
    ap.add_argument("--keys", type=int, default=1000, help="parts 1-2: znodes read (ukbench --znodes)")
    ap.add_argument("--value-bytes", type=int, default=100)
    ap.add_argument("--write-rate", type=int, default=2000, help="part 2: setData/s of the write load")
    ap.add_argument("--mix-read-rate", type=int, default=10000, help="part 2: reads/s in total, open loop "
                    "(0: closed loop)")
    ap.add_argument("--mix-connections", type=int, default=16, help="part 2: read connections")
    ap.add_argument("--znodes", type=int, help="part 3: znodes to create (default 1000000; --quick 100000)")
    ap.add_argument("--load-connections", type=int, default=4, help="part 3: loader sessions")
    ap.add_argument("--load-window", type=int, default=200, help="part 3: creates in flight per loader session")
    ap.add_argument("--settle", type=float, default=5.0, help="part 3: seconds between the last create and the "
                    "measurement")
    ap.add_argument("--parts", default="throughput,writes,memory")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results"))
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="build dir with bin/ukeeper, bin/ukbench")
    ap.add_argument("--keep-data", action="store_true", help="keep the data directories, logs and raw reports")
    args = ap.parse_args()
    q = args.quick
    args.rounds = args.rounds or (1 if q else 3)
    args.duration = args.duration or (2.0 if q else 5.0)
    args.warmup = args.warmup if args.warmup is not None else (0.5 if q else 1.0)
    args.server_warmup = args.server_warmup if args.server_warmup is not None else (5.0 if q else 15.0)
    args.znodes = args.znodes or (100000 if q else 1000000)
    args.connection_list = [int(x) for x in args.connections.split(",") if x]
    args.part_list = [p for p in args.parts.split(",") if p]
    if not set(args.part_list) <= {"throughput", "writes", "memory"} or not args.part_list:
        sys.exit("bench/reads.py: --parts takes throughput, writes and/or memory")
    return args


def main():
    args = parse_args()
    build_bindir = os.path.join(args.build, "bin")
    for tool in TOOLS:
        if not os.access(os.path.join(build_bindir, tool), os.X_OK):
            sys.exit("bench/reads.py: %s/%s missing: build the release build first" % (build_bindir, tool))
    if not os.path.exists("/usr/share/java/zookeeper.jar"):
        sys.exit("bench/reads.py: Apache ZooKeeper is not installed (tools/setup.sh, or apt-get install -y zookeeper)")
    if "memory" in args.part_list and not shutil.which("jcmd"):
        sys.exit("bench/reads.py: jcmd (JDK) missing: part 3 reads ZooKeeper's heap with it")
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, compare.on_signal)
    tmp_parent = os.path.join(ROOT, "bench", "results", "tmp")
    os.makedirs(tmp_parent, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y-%m-%d-%H%M")
    work = os.path.join(tmp_parent, "reads-%s-%d" % (stamp, os.getpid()))
    os.makedirs(work)
    ok = False
    t_start = time.monotonic()
    try:
        bindir = os.path.join(work, "bin")
        os.makedirs(bindir)
        for tool in TOOLS:
            shutil.copy2(os.path.join(build_bindir, tool), os.path.join(bindir, tool))
        meta = compare.describe(work, bindir, build_bindir)
        raw = os.path.join(work, "reports")
        os.makedirs(raw)
        taken = set()
        ports = {t: cluster.free_port(taken) for t in TARGETS + ("mem-uk", "mem-uk-nosnap", "mem-zk")}
        log("# bench/reads.py: ukeeper %s vs ZooKeeper %s, parts %s, %d round(s), data under %s"
            % (meta["ukeeper_commit"], meta["zookeeper_version"], ",".join(args.part_list), args.rounds, work))
        results = {}
        if "throughput" in args.part_list or "writes" in args.part_list:
            procs = {}
            for t in TARGETS:
                procs[t], _ = start_server(t, work, bindir, ports[t], io_threads=IO_THREADS.get(t, 1))
            pids = {t: procs[t].pid for t in TARGETS}
            for t in IO_THREADS:
                m = mntr(ports[t])
                if m.get("zk_ukeeper_io_threads") != IO_THREADS[t]:
                    raise RuntimeError("%s reports zk_ukeeper_io_threads=%s" % (t, m.get("zk_ukeeper_io_threads")))
            warm_up(args, bindir, raw, ports, pids)
            if "throughput" in args.part_list:
                t0 = time.monotonic()
                results["throughput"] = part_throughput(args, bindir, raw, ports, pids)
                log("# part 1 done in %.0fs" % (time.monotonic() - t0))
            if "writes" in args.part_list:
                t0 = time.monotonic()
                results["writes"] = part_writes(args, bindir, raw, ports, pids)
                log("# part 2 done in %.0fs" % (time.monotonic() - t0))
            for t in TARGETS:
                stop_server(procs[t])
        if "memory" in args.part_list:
            t0 = time.monotonic()
            results["memory"] = part_memory(args, work, bindir, ports)
            log("# part 3 done in %.0fs" % (time.monotonic() - t0))
            zf = results["memory"].get("zookeeper", {}).get("jvm_flags")
            if zf:
                meta["zk_jvm"] = "%s, MaxHeapSize %d MiB (JVM default), InitialHeapSize %d MiB" % (
                    zf.get("gc"), zf.get("MaxHeapSize", 0) // 2 ** 20, zf.get("InitialHeapSize", 0) // 2 ** 20)
        meta["run_seconds"] = round(time.monotonic() - t_start)
        load_after = compare.sh("cut -d' ' -f1-3 /proc/loadavg")
        meta["loadavg_after"] = load_after
        meta["load1_at_each_run"] = LOADS
        lines = header(meta, args, load_after)
        if "throughput" in results:
            lines += throughput_lines(results["throughput"], args)
        if "writes" in results:
            lines += writes_lines(results["writes"], args)
        if "memory" in results:
            lines += memory_lines(results["memory"], args)
        lines += ["", "# run took %d s" % meta["run_seconds"]]
        text = "\n".join(lines) + "\n"
        print(text, end="", flush=True)
        os.makedirs(args.out, exist_ok=True)
        base = os.path.join(args.out, stamp + "-reads")
        redact.write_text(base + ".txt", text)
        doc = {"tool": "bench/reads.py", "machine": meta,
               "settings": {k: v for k, v in vars(args).items() if k not in ("out", "build")},
               "command": shlex.join(["bench/reads.py"] + sys.argv[1:]),
               "servers": {"ukeeper": "durability=fsync, tickTime=2000, maxClientCnxns=0; uk0/uk1/uk2 "
                           "ioThreads=0/1/2, memory part ioThreads=1",
                           "zookeeper": "forceSync=yes, tickTime=2000, maxClientCnxns=0, admin.enableServer=false; "
                           "JVM default options, Debian classpath"},
               "results": results}
        redact.write_json(base + ".json", doc)
        log("# wrote %s.txt and .json" % os.path.relpath(base, ROOT))
        ok = True
    finally:
        compare.stop_all()
        if args.keep_data or not ok:
            log("# data dirs, logs and raw reports kept in %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RuntimeError as e:
        log("bench/reads.py: %s" % e)
        sys.exit(1)
    except subprocess.CalledProcessError as e:
        log("bench/reads.py: %s failed: %s" % (e.cmd[0], (e.stderr or "").strip()))
        sys.exit(1)
