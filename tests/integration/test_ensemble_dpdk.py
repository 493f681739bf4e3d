"""A 3-member ensemble replicating over real DPDK (issue 8): each member's DPDK port is net_af_packet on its own veth,
the veths' other ends joined by a bridge, all inside a network namespace this module creates (no hugepages, no NIC).
Clients and the TCP lane stay on the namespace's loopback. Driven by kazoo: every write commits on every member,
mntr shows each peer's traffic on the dpdk lane and the DPDK frame counters moving, a SIGKILLed follower comes
back and catches up over DPDK, and channels never reconnected on the way from start to DPDK.

Needs root (namespaces, raw sockets), as CI has; without root it fails rather than skips. The module enters the
namespace itself (setns) before any client thread or server process starts, and leaves and deletes it at the end."""

import ctypes
import os
import subprocess
import time

import pytest

from conftest import IS_ZK, any_failed
from ensemble import Ensemble

pytestmark = pytest.mark.skipif(IS_ZK, reason="ukeeper's DPDK lane")

CLONE_NEWNET = 0x40000000
NS = "ukens-%d" % os.getpid()
MEMBERS = (1, 2, 3)


def sh(cmd):
    r = subprocess.run(cmd, shell=True, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s: %s%s" % (cmd, r.stdout, r.stderr))


def setns(fd):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns")


def mac(i):
    return "02:00:00:00:0d:%02x" % i


@pytest.fixture(scope="module")
def netns():
    if os.geteuid() != 0:
        pytest.fail("the DPDK ensemble test needs root (network namespace, veths, raw sockets); CI runs as root")
    sh("ip netns add %s" % NS)
    try:
        run = "ip netns exec %s " % NS
        sh(run + "ip link set lo up")
        sh(run + "ip link add ukbr type bridge")
        for i in MEMBERS:
            sh(run + "ip link add uk%d type veth peer name uk%dbr" % (i, i))
            sh(run + "ip link set uk%d address %s" % (i, mac(i)))
            # No IPv6 on the DPDK ends: the kernel stays quiet on them.
            sh(run + "sysctl -qw net.ipv6.conf.uk%d.disable_ipv6=1" % i)
            sh(run + "ip link set uk%dbr master ukbr" % i)
            sh(run + "ip link set uk%d up" % i)
            sh(run + "ip link set uk%dbr up" % i)
        sh(run + "ip link set ukbr up")
        home = os.open("/proc/self/ns/net", os.O_RDONLY)
        target = os.open("/var/run/netns/%s" % NS, os.O_RDONLY)
        setns(target)
        os.close(target)
        yield NS
        setns(home)
        os.close(home)
    finally:
        subprocess.run("ip netns del %s" % NS, shell=True)


def dpdk_cfg(i):
    cfg = {
        "transport": "dpdk",
        "dpdk.vdev": "net_af_packet%d,iface=uk%d" % (i, i),
        "dpdk.hugepages": "false",
        "dpdk.memoryMb": "128",
        "dpdk.noPci": "true",
        "dpdk.lcores": "0@(0-1)",
        "dpdk.logLevel": "warning",
        "dpdk.filePrefix": "ukens%d-%d" % (os.getpid(), i),
        "dpdk.spinUs": "100",
        "dpdk.idleSleepUs": "200",
    }
    for j in MEMBERS:
        cfg["dpdk.server.%d" % j] = "%s,10.213.0.%d:7400" % (mac(j), j)
    return cfg


@pytest.fixture(scope="module")
def ens(netns):
    e = Ensemble("dpdk3", voters=3, cfg={"snapCount": "300"}, member_cfg=dpdk_cfg).start(timeout=90)
    yield e
    e.stop()
    if not any_failed[0]:
        e.cleanup()


def peers_on(e, i, lane, timeout=20.0):
    """Waits until member i sends to and receives from every other live member over `lane`; returns its mntr."""
    deadline = time.time() + timeout
    m = {}
    while time.time() < deadline:
        m = e.mntr(i)
        others = [j for j in e.ids if j != i and e.members[j].alive()]
        if all(m.get("zk_ukeeper_peer_%d_lane" % j) == lane and m.get("zk_ukeeper_peer_%d_in_lane" % j) == lane
               for j in others):
            return m
        time.sleep(0.1)
    raise AssertionError("member %d: peers not on %s: %s" % (i, lane,
                         {k: v for k, v in m.items() if k.startswith("zk_ukeeper_peer_")}))


def test_every_write_commits_over_dpdk(ens):
    for i in ens.ids:
        peers_on(ens, i, "dpdk")
    before = {i: ens.mntr(i) for i in ens.ids}
    leader = ens.leader()
    clients = {i: ens.client([i]) for i in ens.ids}
    try:
        clients[leader].create("/dpdk", b"")
        n = 0
        for round_ in range(60):
            for i in ens.ids:  # writes through the leader and through each follower
                clients[i].create("/dpdk/n-%d-%d" % (i, round_), b"v" * (round_ * 17))
                n += 1
        clients[leader].set("/dpdk", b"x" * 20000)  # several frames: fragmentation on the way
        for i in ens.ids:
            clients[i].sync("/dpdk")
            assert len(clients[i].get_children("/dpdk")) == n
            assert clients[i].get("/dpdk")[0] == b"x" * 20000
            assert clients[i].get("/dpdk/n-3-59")[0] == b"v" * (59 * 17)
    finally:
        for c in clients.values():
            c.stop()
            c.close()
    after = {i: ens.mntr(i) for i in ens.ids}
    for i in ens.ids:
        assert int(after[i]["zk_ukeeper_dpdk_frames_sent"]) > int(before[i]["zk_ukeeper_dpdk_frames_sent"])
        for j in ens.ids:
            if j == i:
                continue
            key = "zk_ukeeper_peer_%d_dpdk_messages_sent" % j
            tcp = "zk_ukeeper_peer_%d_tcp_messages_sent" % j
            sent = int(after[i][key]) - int(before[i][key])
            # Every proposal, ack and commit of those writes went over DPDK, none over TCP (followers talk only to
            # the leader).
            if i == leader:
                assert sent >= n, (i, j, sent)
            elif j == leader:
                assert sent > 0, (i, j, sent)
            assert int(after[i][tcp]) == int(before[i][tcp]), (i, j)


def test_channels_stayed_up_whichever_lane_came_first(ens):
    # A channel opens over the first lane up (TCP or DPDK, a race at start) and moves to DPDK without a reconnect.
    for i in ens.ids:
        m = peers_on(ens, i, "dpdk")
        for j in ens.ids:
            if j == i:
                continue
            assert m["zk_ukeeper_peer_%d_channel_breaks" % j] == "0", m
            assert int(m["zk_ukeeper_peer_%d_lane_switches" % j]) <= 1, m
        out = ens.members[i].four("srvr")
        assert "Peer " in out and ": dpdk (in dpdk)" in out, out


def test_killed_follower_catches_up_over_dpdk(ens):
    leader = ens.leader()
    victim = [i for i in ens.ids if i != leader][0]
    ens.kill(victim)
    c = ens.client([leader])
    try:
        for k in range(100):
            c.create("/dpdk/after-%d" % k, b"a")
    finally:
        c.stop()
        c.close()
    ens.restart(victim)
    ens.wait_serving(timeout=60)
    peers_on(ens, victim, "dpdk", timeout=30)
    c = ens.client([victim])
    try:
        c.sync("/dpdk")
        assert c.exists("/dpdk/after-99") is not None
        c.create("/dpdk/from-victim", b"z")
    finally:
        c.stop()
        c.close()
    m = ens.mntr(victim)
    assert int(m["zk_ukeeper_peer_%d_dpdk_messages_received" % leader]) > 0, m
