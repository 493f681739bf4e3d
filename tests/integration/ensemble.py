"""Ensembles of real server processes on loopback for the integration tests (ukeeper, or Apache ZooKeeper with
UK_TEST_SERVER=zookeeper): zoo.cfg server.N lines, dataDir/myid, and a partition hook (ukeeper's transport reads
UKEEPER_FAULT_PARTITION_FILE: the peer ids listed there are cut off from that member)."""

import os
import signal
import subprocess
import time

from kazoo.client import KazooClient
from kazoo.retry import KazooRetry

import zkproto
from conftest import IS_ZK, Server, free_port


class Ensemble:
    def __init__(self, name, voters=3, observers=0, cfg=None, member_cfg=None):
        """cfg: settings every member gets; member_cfg(i): a dict of settings for member i only."""
        self.ids = list(range(1, voters + observers + 1))
        self.observers = set(range(voters + 1, voters + observers + 1))
        quorum = {i: (free_port(), free_port()) for i in self.ids}
        lines = {}
        for i in self.ids:
            q, e = quorum[i]
            lines["server.%d" % i] = "127.0.0.1:%d:%d%s" % (q, e, ":observer" if i in self.observers else "")
        self.members = {}
        for i in self.ids:
            settings = {"initLimit": "10", "syncLimit": "5"}
            settings.update(lines)
            if i in self.observers:
                settings["peerType"] = "observer"
            settings.update(cfg or {})
            settings.update(member_cfg(i) if member_cfg else {})
            srv = Server(name="%s-%d" % (name, i), cfg=settings)
            (srv.data_dir / "myid").write_text("%d\n" % i)
            srv.fault_file = srv.dir / "partition"
            srv.extra_env["UKEEPER_FAULT_PARTITION_FILE"] = str(srv.fault_file)
            self.members[i] = srv

    # --- lifecycle ---
    def start(self, timeout=60.0):
        for s in self.members.values():
            s.start(handshake=False, timeout=timeout)
        self.wait_serving(timeout=timeout)
        return self

    def stop(self):
        for s in self.members.values():
            s.stop()

    def cleanup(self):
        for s in self.members.values():
            s.cleanup()

    def kill(self, i):
        s = self.members[i]
        os.killpg(s.proc.pid, signal.SIGKILL)
        s.proc.wait(timeout=10)
        s._log.close()

    def restart(self, i):
        self.members[i].start(handshake=False)

    # --- observation ---
    def mode(self, i):
        try:
            out = zkproto.four_letter(self.members[i].port, "srvr", timeout=2.0)
        except (OSError, zkproto.ConnectionClosed, ValueError):
            return None
        for line in out.splitlines():
            if line.startswith("Mode: "):
                return line[6:].strip()
        return None

    def mntr(self, i):
        return zkproto.mntr(self.members[i].port, timeout=2.0)

    def modes(self, ids=None):
        return {i: self.mode(i) for i in (ids or self.ids)}

    def wait_serving(self, ids=None, timeout=30.0):
        """Until every given member (default: every live one) serves, with exactly one leader among them; returns
        the leader's id."""
        ids = ids or [i for i in self.ids if self.members[i].alive()]
        deadline = time.time() + timeout
        modes = {}
        while time.time() < deadline:
            modes = self.modes(ids)
            if all(m in ("leader", "follower", "observer") for m in modes.values()):
                leaders = [i for i, m in modes.items() if m == "leader"]
                if len(leaders) == 1:
                    return leaders[0]
            time.sleep(0.05)
        raise AssertionError("ensemble not serving within %.0fs: %s" % (timeout, modes))

    def leader(self):
        for i in self.ids:
            if self.members[i].alive() and self.mode(i) == "leader":
                return i
        return None

    def followers(self):
        return [i for i in self.ids if self.members[i].alive() and self.mode(i) == "follower"]

    # --- clients ---
    def hosts(self, ids=None):
        return ",".join(self.members[i].hosts for i in (ids or self.ids))

    def client(self, ids=None, timeout=10.0, **kw):
        retry = KazooRetry(max_tries=-1, delay=0.05, max_delay=0.5)
        c = KazooClient(hosts=self.hosts(ids), timeout=timeout, connection_retry=retry,
                        command_retry=KazooRetry(max_tries=0), **kw)
        c.start(timeout=20)
        return c

    # --- faults ---
    def isolate(self, i):
        """Cuts member i off from every other member (both directions)."""
        others = [j for j in self.ids if j != i]
        self.members[i].fault_file.write_text(" ".join(map(str, others)) + "\n")
        for j in others:
            self.members[j].fault_file.write_text("%d\n" % i)

    def heal(self):
        for s in self.members.values():
            s.fault_file.write_text("")


def log_has(server, text):
    try:
        return text in server.log_path.read_text(errors="replace")
    except OSError:
        return False
