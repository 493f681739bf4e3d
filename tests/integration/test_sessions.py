"""Sessions: timeout negotiation, expiry, reconnect, passwords, closeSession (raw protocol)."""

import socket
import time

import pytest

import zkproto
from conftest import MAX_SESSION_TIMEOUT, MIN_SESSION_TIMEOUT
from zkproto import ConnectionClosed, R, RawClient, wait_until

EXPIRED = (0, 0, b"\0" * 16)


def test_negotiated_timeout_clamped(server):
    for asked, expect in ((100, MIN_SESSION_TIMEOUT), (0, MIN_SESSION_TIMEOUT), (5000, 5000),
                          (MAX_SESSION_TIMEOUT * 10, MAX_SESSION_TIMEOUT), (MIN_SESSION_TIMEOUT, MIN_SESSION_TIMEOUT),
                          (MAX_SESSION_TIMEOUT, MAX_SESSION_TIMEOUT)):
        with RawClient(server.port, timeout_ms=asked) as c:
            assert c.negotiated_timeout == expect, asked
            assert c.session_id != 0 and len(c.passwd) == 16
            c.close_session()


def test_default_session_limits_from_ticktime(server_factory):
    srv = server_factory(name="defaults", default_session_limits=True)
    tick = srv.tick
    for asked, expect in ((1, 2 * tick), (3000, 3000), (10 ** 6, 20 * tick)):
        with RawClient(srv.port, timeout_ms=asked) as c:
            assert c.negotiated_timeout == expect, asked
            c.close_session()


def test_connect_response_read_only_flag_echo(server):
    # client that sends readOnly gets a 37-byte body (with readOnly), an old client a 36-byte body
    with RawClient(server.port, handshake=False) as c:
        c.send_frame(zkproto.connect_request(4000, send_read_only=True))
        body = c.recv_frame()
        assert len(body) == 37
        r = R(body)
        assert r.int() == 0 and r.int() == 4000 and r.long() != 0 and len(r.buffer()) == 16 and r.bool() is False
    with RawClient(server.port, handshake=False) as c:
        c.send_frame(zkproto.connect_request(4000, send_read_only=False))
        body = c.recv_frame()
        assert len(body) == 36
        r = R(body)
        assert r.int() == 0 and r.int() == 4000 and r.long() != 0 and len(r.buffer()) == 16


def test_session_ids_unique(server):
    ids = set()
    for _ in range(20):
        with RawClient(server.port, timeout_ms=4000) as c:
            ids.add(c.session_id)
            c.close_session()
    assert len(ids) == 20


def test_ping(server):
    with RawClient(server.port) as c:
        c.create("/ping-node")
        rep = c.ping()
        assert rep.xid == zkproto.PING_XID and rep.err == 0
        assert rep.zxid >= c.exists("/ping-node").czxid


def test_session_expiry_removes_ephemerals(server, zk):
    c = RawClient(server.port, timeout_ms=MIN_SESSION_TIMEOUT)
    assert c.negotiated_timeout == MIN_SESSION_TIMEOUT
    sid, pw = c.session_id, c.passwd
    c.create("/exp-eph", b"", flags=zkproto.F_EPHEMERAL)
    c.create("/exp-eph2", b"", flags=zkproto.F_EPHEMERAL_SEQUENTIAL)
    assert zk.exists("/exp-eph").ephemeralOwner == sid
    t0 = time.time()
    # go silent (keep the TCP connection open, send nothing)
    wait_until(lambda: zk.exists("/exp-eph") is None, timeout=10, msg="ephemeral removed on expiry")
    elapsed = time.time() - t0
    assert elapsed >= MIN_SESSION_TIMEOUT / 1000.0 * 0.7, elapsed
    assert [ch for ch in zk.get_children("/") if ch.startswith("exp-eph")] == []
    # the server closed the silent connection
    assert c.is_closed_by_peer(5.0)
    c.close()
    # reconnecting to the expired session gets the "expired" answer and a close
    with RawClient(server.port, timeout_ms=4000, session_id=sid, passwd=pw) as r:
        assert (r.negotiated_timeout, r.session_id, r.passwd) == EXPIRED
        assert r.is_closed_by_peer(5.0)


def test_session_kept_alive_by_pings(server, zk):
    c = RawClient(server.port, timeout_ms=MIN_SESSION_TIMEOUT)
    c.create("/alive-eph", b"", flags=zkproto.F_EPHEMERAL)
    deadline = time.time() + 3 * MIN_SESSION_TIMEOUT / 1000.0
    while time.time() < deadline:
        c.ping()
        time.sleep(MIN_SESSION_TIMEOUT / 1000.0 / 4)
    assert zk.exists("/alive-eph") is not None
    c.close_session()
    assert zk.exists("/alive-eph") is None


def test_reconnect_same_session_keeps_ephemerals(server, zk):
    a = RawClient(server.port, timeout_ms=4000)
    sid, pw = a.session_id, a.passwd
    a.create("/re-eph", b"x", flags=zkproto.F_EPHEMERAL)
    a.get("/re-eph", watch=True)
    last = a.last_zxid
    # a second TCP connection takes over the session (the old one is still open)
    b = RawClient(server.port, timeout_ms=4000, session_id=sid, passwd=pw, last_zxid=last)
    assert b.session_id == sid and b.negotiated_timeout == 4000 and len(b.passwd) == 16
    # the server drops the older connection of the moved session
    assert a.is_closed_by_peer(5.0)
    a.close()
    st = b.exists("/re-eph")
    assert st is not None and st.ephemeralOwner == sid
    assert b.get_ephemerals("/") == ["/re-eph"]
    b.create("/re-eph2", b"", flags=zkproto.F_EPHEMERAL)
    assert zk.exists("/re-eph2").ephemeralOwner == sid
    # silent for longer than nothing, then reconnect once more after closing b's socket abruptly
    b.close()
    time.sleep(0.5)
    c = RawClient(server.port, timeout_ms=4000, session_id=sid, passwd=pw, last_zxid=last)
    assert c.session_id == sid
    assert zk.exists("/re-eph") is not None
    c.close_session()
    assert zk.exists("/re-eph") is None and zk.exists("/re-eph2") is None


def test_wrong_password_refused(server, zk):
    a = RawClient(server.port, timeout_ms=4000)
    a.create("/pw-eph", b"", flags=zkproto.F_EPHEMERAL)
    bad = bytes((x ^ 0xFF) for x in a.passwd)
    with RawClient(server.port, timeout_ms=4000, session_id=a.session_id, passwd=bad) as r:
        assert (r.negotiated_timeout, r.session_id, r.passwd) == EXPIRED
        assert r.is_closed_by_peer(5.0)
    # the session itself is unaffected (ZooKeeper 3.8 does drop the owner's current TCP connection before it
    # checks the password, so the owner reconnects)
    assert zk.exists("/pw-eph").ephemeralOwner == a.session_id
    a.close()
    b = RawClient(server.port, timeout_ms=4000, session_id=a.session_id, passwd=a.passwd)
    assert b.session_id == a.session_id
    assert b.exists("/pw-eph") is not None
    b.close_session()
    assert zk.exists("/pw-eph") is None


def test_unknown_session_refused(server):
    with RawClient(server.port, timeout_ms=4000, session_id=0x123456789ABCDEF, passwd=b"\x01" * 16) as r:
        assert (r.negotiated_timeout, r.session_id, r.passwd) == EXPIRED
        assert r.is_closed_by_peer(5.0)


def test_close_session_deletes_ephemerals_at_once(server, zk):
    c = RawClient(server.port, timeout_ms=30000)
    sid, pw = c.session_id, c.passwd
    for i in range(5):
        c.create("/cs-eph-%d" % i, b"", flags=zkproto.F_EPHEMERAL)
    rep = c.close_session()
    assert rep.err == 0 and rep.xid > 0
    assert c.is_closed_by_peer(5.0)
    assert [ch for ch in zk.get_children("/") if ch.startswith("cs-eph-")] == []
    with RawClient(server.port, timeout_ms=4000, session_id=sid, passwd=pw) as r:
        assert (r.negotiated_timeout, r.session_id, r.passwd) == EXPIRED


def test_client_ahead_of_server_is_refused(server):
    with RawClient(server.port, handshake=False) as c:
        c.send_frame(zkproto.connect_request(4000, last_zxid=1 << 50))
        with pytest.raises(ConnectionClosed):
            c.recv_frame()


def test_abrupt_disconnect_keeps_session_until_timeout(server, zk):
    c = RawClient(server.port, timeout_ms=MIN_SESSION_TIMEOUT * 2)
    c.create("/abrupt-eph", b"", flags=zkproto.F_EPHEMERAL)
    c.close()  # TCP close without closeSession
    time.sleep(0.2)
    assert zk.exists("/abrupt-eph") is not None
    wait_until(lambda: zk.exists("/abrupt-eph") is None, timeout=10, msg="ephemeral removed after timeout")


def test_kazoo_session_events(zk_factory, server):
    from kazoo.protocol.states import KazooState
    c = zk_factory(timeout=4.0)
    states = []
    c.add_listener(lambda s: states.append(s))
    sid = c.client_id[0]
    c.create("/kz-eph", ephemeral=True)
    # a transient disconnect: kazoo reconnects to the same session, ephemeral survives
    sock = getattr(c._connection, "_socket", None)
    if sock is not None:
        sock.shutdown(socket.SHUT_RDWR)
    wait_until(lambda: KazooState.SUSPENDED in states, timeout=10, msg="kazoo noticed the disconnect")
    wait_until(lambda: c.connected and c.client_id[0] == sid, timeout=10, msg="kazoo reconnect")
    def present():
        try:
            return c.exists("/kz-eph") is not None
        except Exception:
            return False
    wait_until(present, timeout=10, msg="ephemeral still present")
    assert c.client_id[0] == sid
    c.stop()
    assert KazooState.LOST in states
