"""A 3-member ensemble on loopback, of ukeeper or of Apache ZooKeeper 3.8, for bench/compare.

Both kinds get the same zoo.cfg apart from the durability key (ukeeper durability=fsync, ZooKeeper forceSync=yes):
tickTime, initLimit, syncLimit, `server.N=127.0.0.1:quorumPort:electionPort` lines, a clientPort per member and
dataDir/myid, exactly as ZooKeeper's own documentation sets up an ensemble. Every port is a free loopback port
chosen when the ensemble is made (never 2181).

Ownership: an Ensemble's processes are also appended to the `registry` list the caller passes (bench/compare's list
of children), so the caller's clean-up stops them on any exit; kill() and start_member() keep that list current.
Not thread-safe: one thread drives an Ensemble.
"""

import os
import signal
import socket
import subprocess
import time

ZK_CLASSPATH = ("/etc/zookeeper/conf:/usr/share/java/zookeeper.jar:/usr/share/java/zookeeper-jute.jar:"
                "/usr/share/java/*")
SERVING_MODES = ("leader", "follower")


def free_port(taken):
    """A loopback port nobody listens on now, not 2181 and not in `taken` (which it is added to)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port != 2181 and port not in taken:
            taken.add(port)
            return port


def four_letter(port, cmd, timeout=2.0):
    """The answer to a four-letter word, or None if the member does not answer."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(cmd.encode())
            chunks = []
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
            return b"".join(chunks).decode("utf-8", "replace")
    except OSError:
        return None


class Member:
    def __init__(self, ident, directory, client_port):
        self.id = ident
        self.dir = directory
        self.data_dir = os.path.join(directory, "data")
        self.cfg_path = os.path.join(directory, "zoo.cfg")
        self.log_path = os.path.join(directory, "server.log")
        self.port = client_port
        self.proc = None

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


class Ensemble:
    """Three members of one kind ("ukeeper" or "zookeeper") under work/<kind>-3node/member<N>/."""

    def __init__(self, kind, work, ukeeper_bin, registry, taken_ports, tick_ms=2000, init_limit=10, sync_limit=5,
                 size=3, ukeeper_extra=()):
        self.kind, self.ukeeper_bin, self.registry = kind, ukeeper_bin, registry
        self.settings = {"tickTime": tick_ms, "initLimit": init_limit, "syncLimit": sync_limit}
        self.members = {}
        quorum = {i: (free_port(taken_ports), free_port(taken_ports)) for i in range(1, size + 1)}
        for i in quorum:
            m = Member(i, os.path.join(work, "%s-3node" % kind, "member%d" % i), free_port(taken_ports))
            os.makedirs(m.data_dir)
            with open(os.path.join(m.data_dir, "myid"), "w") as f:
                f.write("%d\n" % i)
            lines = ["tickTime=%d" % tick_ms, "initLimit=%d" % init_limit, "syncLimit=%d" % sync_limit,
                     "dataDir=%s" % m.data_dir, "clientPort=%d" % m.port, "clientPortAddress=127.0.0.1",
                     "4lw.commands.whitelist=*", "maxClientCnxns=0"]
            lines += ["durability=fsync"] + list(ukeeper_extra) if kind == "ukeeper" else \
                ["forceSync=yes", "admin.enableServer=false"]
            lines += ["server.%d=127.0.0.1:%d:%d" % (j, q, e) for j, (q, e) in quorum.items()]
            with open(m.cfg_path, "w") as f:
                f.write("\n".join(lines) + "\n")
            self.members[i] = m
        self.ids = sorted(self.members)

    def command(self, m):
        if self.kind == "ukeeper":
            return [self.ukeeper_bin, m.cfg_path]
        # the JVM options of bench/compare's standalone ZooKeeper: the Debian defaults
        return ["java", "-Dzookeeper.log.dir=" + m.dir, "-cp", ZK_CLASSPATH,
                "org.apache.zookeeper.server.quorum.QuorumPeerMain", m.cfg_path]

    # --- lifecycle

    def start_member(self, i):
        m = self.members[i]
        with open(m.log_path, "a") as out:
            m.proc = subprocess.Popen(self.command(m), cwd=m.dir, stdout=out, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL)
        self.registry.append(m.proc)

    def start(self, timeout=90.0):
        for i in self.ids:
            self.start_member(i)
        return self.wait_serving(timeout=timeout)

    def kill(self, i):
        """SIGKILL of member i; returns the monotonic time just before the signal was sent."""
        m = self.members[i]
        t = time.monotonic()
        os.kill(m.proc.pid, signal.SIGKILL)
        m.proc.wait(timeout=30)
        if m.proc in self.registry:
            self.registry.remove(m.proc)
        return t

    # --- observation

    def mode(self, i):
        out = four_letter(self.members[i].port, "srvr")
        for line in (out or "").splitlines():
            if line.startswith("Mode: "):
                return line[6:].strip()
        return None

    def modes(self):
        return {i: (self.mode(i) if self.members[i].alive() else "dead") for i in self.ids}

    def wait_serving(self, timeout=60.0, ids=None):
        """Until every given member (default: all) is leader or follower and there is exactly one leader among
        them; returns the leader's id. Raises RuntimeError (with the modes seen) on time-out or a dead member."""
        ids = ids or self.ids
        deadline = time.monotonic() + timeout
        modes = {}
        while time.monotonic() < deadline:
            for i in ids:
                m = self.members[i]
                if not m.alive():
                    raise RuntimeError("%s member %d exited with status %s; log in %s"
                                       % (self.kind, i, m.proc.returncode, m.log_path))
            modes = {i: self.mode(i) for i in ids}
            leaders = [i for i, md in modes.items() if md == "leader"]
            if all(md in SERVING_MODES for md in modes.values()) and len(leaders) == 1:
                return leaders[0]
            time.sleep(0.05)
        raise RuntimeError("%s ensemble not serving within %.0fs (modes: %s); logs under %s"
                           % (self.kind, timeout, modes, os.path.dirname(self.members[self.ids[0]].dir)))

    def leader(self):
        return self.wait_serving(timeout=30.0)

    def followers(self):
        leader = self.leader()
        return [i for i in self.ids if i != leader]

    def ports(self):
        return {i: m.port for i, m in self.members.items()}

    def pids(self):
        return [m.proc.pid for m in self.members.values() if m.alive()]
