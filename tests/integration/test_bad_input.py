"""Hostile or malformed input against the live server, connection storms and pipelining (raw sockets).

After every abuse the server must still serve a normal kazoo client.
"""

import resource
import socket
import struct
import uuid

import pytest

import zkproto
from conftest import IS_ZK, JUTE_MAXBUFFER, MIN_SESSION_TIMEOUT, Server
from zkproto import ERR, OP, OPEN_ACL, ConnectionClosed, R, RawClient, W


@pytest.fixture
def healthy(server, zk_factory):
    """Call after the abuse: a fresh kazoo client can write and read."""

    def check():
        assert server.alive(), "server process died"
        c = zk_factory()
        p = "/healthy-" + uuid.uuid4().hex
        c.create(p, b"ok")
        assert c.get(p)[0] == b"ok"
        c.delete(p)
        return True

    return check


def closed_without_reply(c, timeout=5.0):
    """True if the server closes the connection without sending anything."""
    c.sock.settimeout(timeout)
    try:
        data = c.sock.recv(65536)
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
    return data == b""


@pytest.mark.parametrize("junk", [
    b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    b"\xff" * 64,
    b"\x00\x00\x00\x05hello",
    struct.pack(">i", 8) + b"\x00" * 8,  # a too-short ConnectRequest
])
def test_garbage_instead_of_handshake(server, healthy, junk):
    c = RawClient(server.port, handshake=False)
    c.send_raw(junk)
    assert closed_without_reply(c)
    c.close()
    healthy()


@pytest.mark.parametrize("length", [JUTE_MAXBUFFER + 1, 0x7FFFFFFF, -1, -2147483648])
def test_bad_frame_length_before_handshake(server, healthy, length):
    c = RawClient(server.port, handshake=False)
    c.send_raw(struct.pack(">i", length))
    assert closed_without_reply(c)
    c.close()
    healthy()


@pytest.mark.parametrize("length", [JUTE_MAXBUFFER + 1, 50 * 1024 * 1024, -1, -100])
def test_bad_frame_length_after_handshake(server, healthy, length):
    c = RawClient(server.port)
    c.send_raw(struct.pack(">i", length))
    assert closed_without_reply(c)
    c.close()
    healthy()


def test_truncated_frame_then_close(server, healthy):
    c = RawClient(server.port)
    c.create("/trunc-eph", b"", flags=zkproto.F_EPHEMERAL)
    c.send_raw(struct.pack(">i", 100) + b"\x00" * 10)
    c.sock.shutdown(socket.SHUT_WR)
    assert closed_without_reply(c)
    c.close()
    healthy()
    # the session survives a dropped connection until it times out (10 s default here): still there
    with RawClient(server.port) as d:
        assert d.exists("/trunc-eph") is not None


def test_truncated_frame_then_silence_keeps_server_responsive(server, healthy):
    c = RawClient(server.port)
    c.send_raw(struct.pack(">i", 1000) + b"\x00" * 10)  # waits forever for the rest
    healthy()
    c.close()


def test_request_before_handshake(server, healthy):
    c = RawClient(server.port, handshake=False)
    c.send_request(OP["exists"], W().ustring("/").bool(False).bytes())
    assert closed_without_reply(c)
    c.close()
    healthy()


@pytest.mark.parametrize("op", [999, 50, 108, -3, 0x7FFFFFFF])
def test_unknown_opcode(server, healthy, op):
    c = RawClient(server.port)
    xid = c.send_request(op, b"\x00" * 8)
    rep = c.read_reply(xid)
    assert rep.err == ERR["UNIMPLEMENTED"]
    assert c.is_closed_by_peer(5.0)
    c.close()
    healthy()


def test_truncated_request_body_is_marshalling_error(server, healthy):
    c = RawClient(server.port)
    xid = c.send_request(OP["exists"], b"\x00\x00")
    rep = c.read_reply(xid)
    assert rep.err == ERR["MARSHALLINGERROR"]
    c.close()
    healthy()


def test_multi_mixing_reads_and_writes(server, healthy):
    c = RawClient(server.port)
    body = (W().int(OP["getData"]).bool(False).int(-1).ustring("/").bool(False)
            .int(OP["create"]).bool(False).int(-1).ustring("/mixed").buffer(b"").acls(OPEN_ACL).int(0)
            .int(-1).bool(True).int(-1).bytes())
    rep = c.request(OP["multi"], body, check=False)
    assert rep.err == ERR["MARSHALLINGERROR"]
    body = (W().int(OP["create"]).bool(False).int(-1).ustring("/mixed").buffer(b"").acls(OPEN_ACL).int(0)
            .int(-1).bool(True).int(-1).bytes())
    rep = c.request(OP["multiRead"], body, check=False)
    assert rep.err == ERR["MARSHALLINGERROR"]
    c.close()
    assert RawClient(server.port).exists("/mixed") is None
    healthy()


def test_reconfig_disabled_in_standalone(server):
    c = RawClient(server.port)
    rep = c.request(OP["reconfig"], W().ustring("").ustring("").ustring("").long(-1).bytes(), check=False)
    assert rep.err == -123  # RECONFIGDISABLED
    assert c.exists("/") is not None
    c.close()


@pytest.mark.parametrize("path", ["bad", "/a//b", "/trailing/", "/x/./y"])
def test_reads_with_invalid_paths_are_nonode(server, path):
    # ZooKeeper does not validate paths of read requests: the lookup just fails
    c = RawClient(server.port)
    for op in ("getData", "getChildren", "getChildren2", "exists"):
        rep = c.request(OP[op], W().ustring(path).bool(False).bytes(), check=False)
        assert rep.err == ERR["NONODE"], (op, path)
    c.close()


def test_invalid_paths_for_writes(server, healthy):
    c = RawClient(server.port)
    for path in ("", "bad"):
        rep = c.request(OP["create"], W().ustring(path).buffer(b"").acls(OPEN_ACL).int(0).bytes(), check=False)
        assert rep.err == ERR["BADARGUMENTS"], path
        rep = c.request(OP["delete"], W().ustring(path).int(-1).bytes(), check=False)
        assert rep.err == ERR["BADARGUMENTS"], path
    rep = c.request(OP["create"], W().ustring("/bad\x01").buffer(b"").acls(OPEN_ACL).int(0).bytes(), check=False)
    assert rep.err == ERR["BADARGUMENTS"]
    c.close()
    healthy()


def test_data_near_and_over_jute_maxbuffer(server, healthy):
    c = RawClient(server.port)
    ok_size = JUTE_MAXBUFFER - 1024
    c.create("/bigdata", b"x" * ok_size)
    data, st = c.get("/bigdata")
    assert st.dataLength == ok_size and data == b"x" * ok_size
    # a frame over jute.maxbuffer closes the connection and writes nothing. The server closes as soon as it has
    # read the length, with the rest of the frame unread, so TCP may report the close as a reset (even while
    # the client is still sending) rather than a clean EOF: any of them is the expected close.
    with pytest.raises((ConnectionClosed, ConnectionResetError, BrokenPipeError)):
        c.send_request(OP["setData"], W().ustring("/bigdata").buffer(b"y" * (JUTE_MAXBUFFER + 10)).int(-1).bytes())
        c.read_reply()
    c.close()
    with RawClient(server.port) as d:
        data, st = d.get("/bigdata")
        assert st.version == 0 and data[:1] == b"x"
        d.delete("/bigdata")
    healthy()


def test_many_concurrent_connections(server, healthy):
    n = 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, 4 * n))
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    if want < n + 100:
        pytest.skip("RLIMIT_NOFILE too low (%d)" % want)
    socks = []
    try:
        # connect and send all handshakes first, then read all answers
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
            s.sendall(zkproto.frame(zkproto.connect_request(MIN_SESSION_TIMEOUT * 10)))
            socks.append(s)
        clients = []
        for s in socks:
            c = RawClient.__new__(RawClient)
            c.sock, c._buf, c.xid, c.events, c.last_zxid = s, bytearray(), 0, [], 0
            r = R(c.recv_frame())
            assert r.int() == 0
            assert r.int() == MIN_SESSION_TIMEOUT * 10
            c.session_id = r.long()
            clients.append(c)
        assert len({c.session_id for c in clients}) == n
        healthy()
        # every connection is usable
        for c in clients:
            c.send_request(OP["exists"], W().ustring("/").bool(False).bytes())
        for c in clients:
            rep = c.read_reply(1)
            assert rep.err == 0 and rep.body.stat().numChildren >= 1
        for c in clients:
            c.send_request(OP["closeSession"])
        for c in clients:
            assert c.read_reply(2).err == 0
    finally:
        for s in socks:
            s.close()
    healthy()


def test_pipelined_requests_replies_in_order(server):
    c = RawClient(server.port)
    c.create("/pipe", b"")
    xids = []
    n = 300
    for i in range(n):
        k = i % 4
        if k == 0:
            xids.append(c.send_request(OP["create"], W().ustring("/pipe/n%04d" % i).buffer(b"%d" % i)
                                       .acls(OPEN_ACL).int(0).bytes()))
        elif k == 1:
            # read of the node the previous (not yet answered) write created: must see it
            xids.append(c.send_request(OP["getData"], W().ustring("/pipe/n%04d" % (i - 1)).bool(False).bytes()))
        elif k == 2:
            xids.append(c.send_request(OP["setData"], W().ustring("/pipe/n%04d" % (i - 2)).buffer(b"s")
                                       .int(0).bytes()))
        else:
            xids.append(c.send_request(OP["exists"], W().ustring("/pipe/n%04d" % (i - 3)).bool(False).bytes()))
    got = []
    last_zxid = 0
    for i in range(n):
        rep = c.read_reply()
        got.append(rep.xid)
        assert rep.err == 0, (i, rep.err)
        assert rep.zxid >= last_zxid
        last_zxid = rep.zxid
        k = i % 4
        if k == 1:
            data, st = rep.body.buffer(), rep.body.stat()
            assert data == b"%d" % (i - 1) and st.version == 0
        elif k == 3:
            assert rep.body.stat().version == 1
    assert got == xids
    # pings interleave in order with other requests
    x1 = c.send_request(OP["exists"], W().ustring("/pipe").bool(False).bytes())
    c.send_frame(struct.pack(">ii", zkproto.PING_XID, OP["ping"]))
    x2 = c.send_request(OP["getChildren"], W().ustring("/pipe").bool(False).bytes())
    assert [c.read_packet().xid for _ in range(3)] == [x1, zkproto.PING_XID, x2]
    c.close()


def test_abrupt_disconnects_with_outstanding_requests(server, healthy):
    for i in range(20):
        c = RawClient(server.port)
        for j in range(20):
            c.send_request(OP["create"], W().ustring("/abrupt-%d-%d" % (i, j)).buffer(b"")
                           .acls(OPEN_ACL).int(zkproto.F_EPHEMERAL).bytes())
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
        c.close()
    healthy()


@pytest.mark.skipif(IS_ZK, reason="ukeeper's cpuAffinity key")
def test_cpu_affinity_pins_or_refuses_with_the_key_named():
    """cpuAffinity pins the process to the CPUs listed; CPUs the machine does not have stop it at start with a
    message naming the key (a typo must not leave a member unpinned and spinning on a shared core)."""
    pinned = Server(name="affinity", cfg={"cpuAffinity": "0"})
    try:
        pinned.start()
        with open("/proc/%d/status" % pinned.proc.pid) as f:
            allowed = [line for line in f if line.startswith("Cpus_allowed_list:")][0].split(":")[1].strip()
        assert allowed == "0"
    finally:
        pinned.stop()
        pinned.cleanup()
    absent = Server(name="affinity-bad", cfg={"cpuAffinity": "1000-1001"})
    try:
        with pytest.raises(RuntimeError) as failed:
            absent.start(timeout=20)
        assert "cpuAffinity: cannot run on those CPUs" in str(failed.value), str(failed.value)
    finally:
        absent.stop()
        absent.cleanup()


@pytest.mark.skipif(IS_ZK, reason="ukeeper's ioThreads key")
def test_io_threads_serve_reads_or_refuse_with_the_key_named():
    """ioThreads=3 starts three client I/O threads that share the connections and answer reads themselves (mntr
    counts them); ioThreads=0 runs the same client I/O on the pipeline thread; a count outside 0..64 stops the
    server at start with a message naming the key."""
    three = Server(name="io-threads", cfg={"ioThreads": "3"})
    try:
        three.start()
        clients = [three.raw() for _ in range(6)]
        clients[0].create("/io", b"x")
        before = int(zkproto.mntr(three.port)["zk_ukeeper_reads_served_on_io_threads"])
        for c in clients:
            for _ in range(10):
                assert c.get("/io")[0] == b"x"
        m = zkproto.mntr(three.port)
        assert m["zk_ukeeper_io_threads"] == "3"
        assert int(m["zk_ukeeper_reads_served_on_io_threads"]) - before >= 60, m
        with open("/proc/%d/status" % three.proc.pid) as f:
            threads = int([line for line in f if line.startswith("Threads:")][0].split(":")[1])
        assert threads >= 4, threads  # the pipeline thread and three I/O threads
        for c in clients:
            c.close()
    finally:
        three.stop()
        three.cleanup()
    inline = Server(name="io-inline", cfg={"ioThreads": "0"})
    try:
        inline.start()
        c = inline.raw()
        c.create("/io", b"y")
        before = int(zkproto.mntr(inline.port)["zk_ukeeper_reads_served_on_io_threads"])
        for _ in range(10):
            assert c.get("/io")[0] == b"y"
        m = zkproto.mntr(inline.port)
        assert m["zk_ukeeper_io_threads"] == "0"
        assert int(m["zk_ukeeper_reads_served_on_io_threads"]) - before >= 10, m
        c.close()
    finally:
        inline.stop()
        inline.cleanup()
    for bad in ("-1", "65", "two"):
        refused = Server(name="io-threads-bad", cfg={"ioThreads": bad})
        try:
            with pytest.raises(RuntimeError) as failed:
                refused.start(timeout=20)
            assert "ioThreads" in str(failed.value), str(failed.value)
        finally:
            refused.stop()
            refused.cleanup()
