"""Crash test: real clients write to a real ukeeper while it is killed with SIGKILL at random moments.

After every restart: each acknowledged write is present, each multi is all-or-nothing, and the counters
(versions, cversion, sequential suffixes) continue where the acknowledged history left them. Sessions survive a
restart: a client that comes back within its timeout keeps its session and ephemerals.

Rounds: UK_CRASH_ROUNDS (default 6, a few seconds each); the seed is printed and UK_CRASH_SEED replays it.
"""

import os
import random
import signal
import threading
import time

import pytest

import zkproto
from conftest import IS_ZK, Server
from zkproto import ZKError, ConnectionClosed

ROUNDS = int(os.environ.get("UK_CRASH_ROUNDS", "6"))
WRITERS = 3
ERR_NODEEXISTS = -110


class Writer(threading.Thread):
    """Writes to its own subtree until the server dies; remembers every write the server acknowledged."""

    def __init__(self, port, wid, state, stop):
        super().__init__(daemon=True)
        self.port, self.wid, self.state, self.stop_flag = port, wid, state, stop
        self.root = "/crash/w%d" % wid

    def run(self):
        st = self.state
        try:
            c = zkproto.RawClient(self.port, timeout_ms=10000, sock_timeout=10.0)
        except (OSError, ConnectionClosed):
            return
        try:
            while not self.stop_flag.is_set():
                k = st["next"]
                st["next"] += 1
                kind = k % 4
                if kind == 0:
                    path = "%s/n%d" % (self.root, k)
                    st["inflight"] = ("create", path)
                    c.create(path, b"%d" % k)
                    st["created"].append(path)
                elif kind == 1:
                    v = st["counter"] + 1
                    st["inflight"] = ("set", v)
                    c.set(self.root + "/counter", b"%d" % v, version=v - 1)
                    st["counter"] = v
                elif kind == 2:
                    a, b = "%s/m%da" % (self.root, k), "%s/m%db" % (self.root, k)
                    st["multis"].append((a, b))  # attempted: must be all or nothing
                    err, res = c.multi([("create", a, b"a", 0), ("create", b, b"b", 0)])
                    assert err == 0 and all(r[0] == "create" for r in res), (err, res)
                    st["acked_multis"].append((a, b))
                else:
                    st["inflight"] = ("seq",)
                    name = c.create(self.root + "/s/q-", b"", flags=zkproto.F_SEQUENTIAL)
                    st["seqs"].append(int(name[-10:]))
                st["inflight"] = None
        except (OSError, ConnectionClosed, zkproto.ZKError):
            return  # the server died under us: the in-flight write may or may not have happened
        finally:
            c.close()


def check_round(c, states):
    for wid, st in states.items():
        root = "/crash/w%d" % wid
        for path in st["created"]:
            assert c.exists(path) is not None, "acknowledged create lost: " + path
        data, stat = c.get(root + "/counter")
        # every acknowledged setData survived; at most the one in flight applied on top
        assert stat.version >= st["counter"], (stat.version, st["counter"])
        assert stat.version <= st["counter"] + 1
        assert int(data) == stat.version
        st["counter"] = stat.version  # the writer continues from what is really there
        for a, b in st["multis"]:
            ea, eb = c.exists(a) is not None, c.exists(b) is not None
            assert ea == eb, "multi applied in part: %s=%s %s=%s" % (a, ea, b, eb)
        for a, b in st["acked_multis"]:
            assert c.exists(a) is not None, "acknowledged multi lost: " + a
        children = c.get_children(root + "/s")
        suffixes = sorted(int(n[-10:]) for n in children)
        assert set(st["seqs"]) <= set(suffixes), "acknowledged sequential create lost"
        # the sequence continues: a new sequential name is past every name ever handed out
        name = c.create(root + "/s/q-", b"", flags=zkproto.F_SEQUENTIAL)
        assert int(name[-10:]) > max(suffixes, default=-1)
        st["seqs"].append(int(name[-10:]))
        # no deletes here, so the reported cversion counts the creations
        assert c.exists(root + "/s").cversion == len(suffixes) + 1


@pytest.mark.skipif(IS_ZK, reason="kills and restarts the server under test; run against ukeeper")
def test_sigkill_never_loses_acknowledged_writes():
    seed = int(os.environ.get("UK_CRASH_SEED", str(random.randrange(1 << 30))))
    print("crash test seed %d, %d rounds (UK_CRASH_SEED / UK_CRASH_ROUNDS to change)" % (seed, ROUNDS))
    rng = random.Random(seed)
    # Small snapshots and segments so that the rounds also cross snapshots, purges and segment rolls.
    server = Server(name="crash", cfg={"snapCount": "400", "autopurge.purgeInterval": "1",
                                       "autopurge.snapRetainCount": "3", "preAllocSize": "256"}).start()
    try:
        with server.raw() as c:
            c.create("/crash")
            for w in range(WRITERS):
                c.create("/crash/w%d" % w)
                c.create("/crash/w%d/counter" % w, b"0")
                c.create("/crash/w%d/s" % w)
        states = {w: {"next": 0, "counter": 0, "created": [], "multis": [], "acked_multis": [], "seqs": [],
                      "inflight": None} for w in range(WRITERS)}
        for rnd in range(ROUNDS):
            stop = threading.Event()
            writers = [Writer(server.port, w, states[w], stop) for w in range(WRITERS)]
            for t in writers:
                t.start()
            time.sleep(rng.uniform(0.2, 1.5))
            os.killpg(server.proc.pid, signal.SIGKILL)
            server.proc.wait(timeout=10)
            server._log.close()
            stop.set()
            for t in writers:
                t.join(timeout=20)
            acked = sum(len(s["created"]) + len(s["acked_multis"]) + len(s["seqs"]) for s in states.values())
            server.start()
            with server.raw() as c:
                check_round(c, states)
            print("round %d: ok, %d acknowledged creates so far" % (rnd, acked))
        assert sum(len(s["created"]) for s in states.values()) > 0, "the writers never got a write through"
        # the rounds crossed snapshots, and purging kept only the newest three
        snaps = sorted((server.data_dir / "snap").glob("snapshot-*.snap"))
        assert 1 <= len(snaps) <= 3, snaps
        mntr = server.four("mntr")
        assert "zk_last_snapshot_zxid\t0x0\n" not in mntr, mntr
    finally:
        server.stop()
        server.cleanup()


@pytest.mark.skipif(IS_ZK, reason="restarts the server under test; run against ukeeper")
def test_session_survives_restart():
    server = Server(name="restart").start()
    try:
        c = server.raw(timeout_ms=20000)
        c.create("/eph", b"", flags=zkproto.F_EPHEMERAL)
        sid, pw = c.session_id, c.passwd
        c.create("/persistent", b"p")
        c.set("/persistent", b"p2")
        os.killpg(server.proc.pid, signal.SIGKILL)
        server.proc.wait(timeout=10)
        server._log.close()
        c.close()
        server.start()
        # back within the timeout: same session, same ephemeral
        back = zkproto.RawClient(server.port, timeout_ms=20000, session_id=sid, passwd=pw)
        assert back.session_id == sid
        assert back.exists("/eph").ephemeralOwner == sid
        data, st = back.get("/persistent")
        assert (data, st.version) == (b"p2", 1)
        # a wrong password is still refused after the restart
        bad = zkproto.RawClient(server.port, handshake=False)
        bad.handshake(session_id=sid, passwd=b"x" * 16)
        assert bad.session_id == 0
        back.close_session()
        back.close()
        with server.raw() as d:
            assert d.exists("/eph") is None
        # a clean stop (SIGTERM) keeps everything too
        server.stop()
        server.start()
        with server.raw() as d:
            assert d.get("/persistent")[0] == b"p2"
            assert d.exists("/eph") is None
    finally:
        server.stop()
        server.cleanup()
