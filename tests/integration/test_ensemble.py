"""Ensembles of real processes on loopback, driven by real clients (kazoo): replication, reads after sync,
global sessions and ephemerals, leader failure under write load, catch-up of a member that fell behind (DIFF and
SNAP), a partitioned minority, observers, 5 members, and garbage on the peer port. Runs against Apache ZooKeeper
too (UK_TEST_SERVER=zookeeper) except where a test needs ukeeper's partition hook or its mntr counters."""

import os
import signal
import socket
import threading
import time

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError

import zkproto
from conftest import IS_ZK, any_failed
from ensemble import Ensemble, log_has

ukeeper_only = pytest.mark.skipif(IS_ZK, reason="needs ukeeper's partition hook or mntr counters")


@pytest.fixture(scope="module")
def ens():
    e = Ensemble("ens3", voters=3, cfg={"snapCount": "400"}).start()
    yield e
    e.stop()
    if not any_failed[0]:
        e.cleanup()


@pytest.fixture
def clients():
    made = []

    def make(e, ids=None, **kw):
        c = e.client(ids, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        try:
            c.stop()
            c.close()
        except Exception:
            pass


def test_one_leader_and_followers(ens):
    modes = ens.modes()
    assert sorted(modes.values()) == ["follower", "follower", "leader"], modes
    if not IS_ZK:
        m = ens.mntr(ens.leader())
        assert m["zk_server_state"] == "leader"
        assert m["zk_followers"] == "2" and m["zk_synced_followers"] == "2", m
        for f in ens.followers():
            assert ens.mntr(f)["zk_server_state"] == "follower"


def test_write_anywhere_read_everywhere_after_sync(ens, clients):
    cs = {i: clients(ens, [i]) for i in ens.ids}
    cs[1].create("/rw", b"from-1")
    for i in ens.ids:
        cs[i].sync("/rw")
        assert cs[i].get("/rw")[0] == b"from-1"
    cs[2].set("/rw", b"from-2")
    cs[3].set("/rw", b"from-3")
    for i in ens.ids:
        cs[i].sync("/rw")
        data, stat = cs[i].get("/rw")
        assert (data, stat.version) == (b"from-3", 2)
    # A write answered by a follower is visible to that client's next read there without a sync.
    for i in ens.ids:
        cs[i].set("/rw", b"own-%d" % i)
        assert cs[i].get("/rw")[0] == b"own-%d" % i


def test_errors_and_multi_through_followers(ens, clients):
    f = ens.followers()[0]
    c = clients(ens, [f])
    c.create("/errs", b"")
    with pytest.raises(NoNodeError):
        c.set("/errs/missing", b"x")
    t = c.transaction()
    t.create("/errs/a", b"1")
    t.create("/errs/b", b"2")
    assert t.commit() == ["/errs/a", "/errs/b"]
    t = c.transaction()
    t.create("/errs/c", b"3")
    t.delete("/errs/missing")
    res = t.commit()
    assert isinstance(res[1], NoNodeError), res
    assert c.exists("/errs/c") is None  # all or nothing
    seq = [c.create("/errs/s-", b"", sequence=True) for _ in range(3)]
    assert seq == ["/errs/s-%010d" % n for n in range(2, 5)]


def test_ephemerals_and_sessions_are_global(ens, clients):
    followers = ens.followers()
    f1, f2 = followers[0], (followers[1] if len(followers) > 1 else ens.leader())
    owner = zkproto.RawClient(ens.members[f1].port, timeout_ms=10000)
    owner.create("/eph", b"e", flags=1)  # ephemeral
    other = clients(ens, [f2])
    other.sync("/")
    assert other.exists("/eph").ephemeralOwner == owner.session_id
    # The client drops its connection without closing the session and comes back through another member.
    sid, passwd = owner.session_id, owner.passwd
    owner.sock.close()
    moved = zkproto.RawClient(ens.members[f2].port, timeout_ms=10000, session_id=sid, passwd=passwd)
    assert moved.session_id == sid
    other.sync("/")
    assert other.exists("/eph") is not None
    # A wrong password is refused by every member alike.
    with pytest.raises((zkproto.ConnectionClosed, zkproto.ZKError, OSError, AssertionError)):
        bad = zkproto.RawClient(ens.members[f1].port, timeout_ms=10000, session_id=sid, passwd=b"x" * 16)
        assert bad.session_id == sid
    moved.close_session()  # through the second member: the ephemeral goes everywhere
    for i in ens.ids:
        c = clients(ens, [i])
        c.sync("/")
        assert c.exists("/eph") is None


def test_session_expiry_is_decided_by_the_leader(ens):
    f = ens.followers()[0]
    raw = zkproto.RawClient(ens.members[f].port, timeout_ms=1000)
    raw.create("/expiring", b"", flags=1)  # ephemeral
    raw.sock.close()  # the client vanishes without closing its session
    deadline = time.time() + 15
    gone = False
    c = KazooClient(hosts=ens.members[ens.leader()].hosts)
    c.start(timeout=10)
    while time.time() < deadline and not gone:
        c.sync("/")
        gone = c.exists("/expiring") is None
        time.sleep(0.1)
    c.stop()
    c.close()
    assert gone, "the ephemeral of an expired session stayed"


class Load:
    """Writes sequentially numbered nodes through a client that fails over between members; remembers every
    write the ensemble acknowledged."""

    def __init__(self, ens, path):
        self.c = ens.client()
        self.path = path
        self.c.ensure_path(path)
        self.acked = []
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self):
        i = 0
        while not self.stop.is_set():
            try:
                self.c.create("%s/n%07d" % (self.path, i), b"x")
                self.acked.append(i)
            except Exception:
                time.sleep(0.01)
            i += 1

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.t.join(timeout=30)

    def check_nothing_lost(self):
        self.c.sync(self.path)
        have = {int(n[1:]) for n in self.c.get_children(self.path)}
        lost = [i for i in self.acked if i not in have]
        assert not lost, "%d acknowledged writes lost, e.g. %s" % (len(lost), lost[:5])
        self.c.stop()
        self.c.close()


def wait_acked(load, more, timeout=30):
    target = len(load.acked) + more
    deadline = time.time() + timeout
    while len(load.acked) < target and time.time() < deadline:
        time.sleep(0.01)
    assert len(load.acked) >= target, "writes stalled at %d" % len(load.acked)


def test_leader_killed_under_write_load(ens):
    old = ens.leader()
    with Load(ens, "/failover") as load:
        wait_acked(load, 100)
        before = len(load.acked)
        t0 = time.time()
        ens.kill(old)
        wait_acked(load, 1, timeout=30)
        took = time.time() - t0
        wait_acked(load, 100)
    new = ens.wait_serving()
    assert new is not None and new != old
    print("fail-over: first write %.3f s after SIGKILL of the leader (%d writes before)" % (took, before))
    load.check_nothing_lost()
    ens.restart(old)
    ens.wait_serving()
    assert sorted(ens.modes().values()) == ["follower", "follower", "leader"]


def follower_down_while_writing(ens, writes):
    victim = ens.followers()[0]
    ens.kill(victim)
    c = ens.client([i for i in ens.ids if i != victim])
    path = "/behind%d" % writes
    c.create(path, b"")
    for n in range(writes):
        c.create("%s/n%06d" % (path, n), b"v" * 100)
    ens.restart(victim)
    ens.wait_serving()
    v = ens.client([victim])
    v.sync(path)
    assert len(v.get_children(path)) == writes
    assert v.get("%s/n%06d" % (path, writes - 1))[0] == b"v" * 100
    v.stop()
    c.stop()
    return victim


def test_follower_catches_up_by_diff(ens):
    leader = ens.leader()
    before = None if IS_ZK else int(ens.mntr(leader)["zk_ukeeper_sync_diff"])
    follower_down_while_writing(ens, 50)
    if not IS_ZK:
        assert int(ens.mntr(leader)["zk_ukeeper_sync_diff"]) > before


def test_follower_catches_up_by_snapshot(ens):
    # snapCount=400: after 1500 writes the leader keeps only the records since its second-newest snapshot in
    # memory, so the returning follower needs the whole state.
    leader = ens.leader()
    before = None if IS_ZK else int(ens.mntr(leader)["zk_ukeeper_sync_snap"])
    victim = follower_down_while_writing(ens, 1500)
    if not IS_ZK:
        assert int(ens.mntr(leader)["zk_ukeeper_sync_snap"]) > before
        assert log_has(ens.members[victim], "installed the leader's snapshot")


@ukeeper_only
def test_partitioned_minority_refuses_writes_and_majority_continues(ens):
    victim = ens.leader()  # the hardest case: the leader itself ends up alone
    ens.isolate(victim)
    try:
        rest = [i for i in ens.ids if i != victim]
        deadline = time.time() + 20
        while time.time() < deadline and ens.mode(victim) in ("leader", "follower"):
            time.sleep(0.05)
        assert ens.mode(victim) not in ("leader", "follower"), "an isolated member still serves"
        with pytest.raises(Exception):
            lone = KazooClient(hosts=ens.members[victim].hosts, timeout=2)
            try:
                lone.start(timeout=2)
                lone.create("/minority-write", b"")
            finally:
                lone.stop()
                lone.close()
        ens.wait_serving(rest)
        c = ens.client(rest)
        c.create("/majority-write", b"ok")
    finally:
        ens.heal()
    ens.wait_serving()
    v = ens.client([victim])
    v.sync("/")
    assert v.get("/majority-write")[0] == b"ok"
    assert v.exists("/minority-write") is None
    v.stop()
    c.stop()


def test_silent_leader_is_replaced(ens):
    """A leader that stops answering without closing its connections (SIGSTOP) is given up by its followers,
    which elect a new one; when it wakes up it rejoins as a follower."""
    old = ens.leader()
    proc = ens.members[old].proc
    os.killpg(proc.pid, signal.SIGSTOP)
    try:
        rest = [i for i in ens.ids if i != old]
        t0 = time.time()
        new = ens.wait_serving(rest, timeout=30)
        took = time.time() - t0
        assert new is not None and new != old
        c = ens.client(rest)
        c.create("/after-silence", b"")
        c.stop()
        print("silent leader replaced after %.3f s (tickTime %s ms)" % (took, ens.members[old].settings["tickTime"]))
    finally:
        os.killpg(proc.pid, signal.SIGCONT)
    ens.wait_serving()
    assert ens.mode(old) == "follower"
    v = ens.client([old])
    v.sync("/")
    assert v.exists("/after-silence") is not None
    v.stop()


@ukeeper_only
def test_member_with_another_member_list_is_refused(ens):
    """A member started with a different server list is refused by the others (the transport's member-list
    check) and serves nothing; the rest go on, and it rejoins once its config matches again."""
    victim = ens.followers()[0]
    srv = ens.members[victim]
    original = srv.cfg_path.read_text()
    ens.kill(victim)
    srv.cfg_path.write_text(original + "server.9=127.0.0.1:1:2\n")
    ens.restart(victim)
    try:
        time.sleep(2.0)
        assert ens.mode(victim) not in ("leader", "follower")
        rest = [i for i in ens.ids if i != victim]
        assert ens.wait_serving(rest) is not None
        c = ens.client(rest)
        c.create("/while-mismatched", b"")
        c.stop()
        assert any(log_has(ens.members[i], "token") for i in ens.ids), "the refusal was not logged"
    finally:
        ens.kill(victim)
        srv.cfg_path.write_text(original)
        ens.restart(victim)
    ens.wait_serving()
    assert ens.mode(victim) == "follower"


@ukeeper_only
def test_garbage_on_the_peer_port_changes_nothing(ens):
    leader = ens.leader()
    port = int(ens.members[leader].settings["server.%d" % leader].split(":")[1])
    for junk in (b"GET / HTTP/1.0\r\n\r\n", b"\xff" * 64, b"UKPR" + b"\x00\x01" + b"\x00" * 20):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(junk)
            s.settimeout(5)
            try:
                s.recv(100)
            except (socket.timeout, ConnectionResetError):
                pass
    assert ens.leader() == leader
    c = ens.client()
    c.create("/after-garbage", b"")
    c.stop()


@ukeeper_only
def test_auto_transport_falls_back_to_tcp_and_says_so(ens):
    """No RDMA device and no DPDK port here: transport=auto (the default) carries every peer over TCP, logs what it
    found, and mntr/srvr name the lane."""
    for i in ens.ids:
        assert log_has(ens.members[i], "transport=auto: this member offers tcp; no rdma"), ens.members[i].log_tail()
        m = ens.mntr(i)
        assert m["zk_ukeeper_peer_transport"] == "auto"
        for j in ens.ids:
            if j != i and ens.members[j].alive():
                assert m["zk_ukeeper_peer_%d_lane" % j] == "tcp", m
        assert "Peer " in ens.members[i].four("srvr")


@ukeeper_only
@pytest.mark.parametrize("transport,message", [
    ("rdma", "transport=rdma: rdma transport: no RDMA device found"),
    ("dpdk", "transport=dpdk: no DPDK port is configured (dpdk.device or dpdk.vdev)"),
])
def test_forced_transport_without_the_hardware_refuses_to_start(ens, transport, message):
    """transport=rdma without an RDMA device, or transport=dpdk without a port, stops the member at start with a
    message naming the key; the others go on."""
    victim = ens.followers()[0]
    srv = ens.members[victim]
    original = srv.cfg_path.read_text()
    ens.kill(victim)
    srv.cfg_path.write_text(original + "transport=%s\n" % transport)
    try:
        with pytest.raises(RuntimeError) as failed:
            ens.restart(victim)
        assert message in str(failed.value), str(failed.value)
    finally:
        srv.cfg_path.write_text(original)
        ens.restart(victim)
    ens.wait_serving()


def test_five_members_with_an_observer():
    e = Ensemble("ens5", voters=5, observers=1).start()
    try:
        modes = e.modes()
        assert list(modes.values()).count("leader") == 1
        assert modes[6] == "observer", modes
        c = e.client([6])  # through the observer
        c.create("/five", b"5")
        for i in e.ids:
            r = e.client([i])
            r.sync("/five")
            assert r.get("/five")[0] == b"5"
            r.stop()
        # Two voters down (a quorum of 3 of 5 remains): still serving, even after the leader is one of them.
        old = e.leader()
        e.kill(old)
        e.kill([i for i in e.ids if i not in (old, 6) and e.members[i].alive()][0])
        e.wait_serving()
        c.set("/five", b"still")
        c.sync("/five")
        assert c.get("/five")[0] == b"still"
        c.stop()
    finally:
        e.stop()
        if not any_failed[0]:
            e.cleanup()
