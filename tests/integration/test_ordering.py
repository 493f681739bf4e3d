"""Per-connection ordering under pipelining, with ioThreads=1 and ioThreads=2.

ZooKeeper guarantees per client connection: requests are executed and answered in the order they were sent
(FIFO client order); a read sees every write the same connection sent before it (read-your-writes in
pipeline order: a read queued behind a pending write of the same connection waits for it); a client never
sees state older than what it has already seen; and a client receives a watch event before any reply that
shows the change which fired the watch. With reads served on client I/O threads and writes on a pipeline
thread all of these are at risk. Each check below names the reordering it detects:

- test_c_client_ordering: the official C client (tests/compat/zk_c_ordering.c, $UK_C_ORDERING_BIN or
  compiled here) pipelines 20k async ops on each of 3 sessions at once, then runs a watch-order phase.
  Detects: replies out of xid order (the C client drops the connection), a read answered from state older
  than an earlier write of the same connection (stale aget/aexists/aget_children2), versions or sequence
  numbers not following submission order, another session's node going backwards, a data watch event
  delivered after a read that shows the new data.
- test_kazoo_pipeline: the same pattern with kazoo's async API on 2 sessions at once (completion order
  recorded through rawlink callbacks, which kazoo runs in reply order).
- test_kazoo_watch_before_data: kazoo session A re-arms a data watch on every event while pipelining plain
  reads; B writes. The order in which kazoo's single reader thread sees replies and events is recorded
  (wire order); a plain read newer than the armed watch's version before its event is a violation.
- test_raw_pipeline_reply_zxids: one raw-protocol connection pipelines 3000 requests; replies must come
  in xid order, reads must see the previous write, and the zxid in the reply headers never decreases
  (a read served before an earlier write reports an older zxid).
- test_checkers_catch_reordering: runs the checkers through a TCP proxy that reorders on purpose (reads
  overtaking writes with replies put back in order, swapped replies, delayed watch events) and requires
  each checker to fail: proof that the checks above can fail.

The servers run with forceSync=no: ordering does not depend on fsync and the module stays fast.
"""

import collections
import os
import random
import re
import select
import socket
import struct
import subprocess
import threading
import time

import pytest

import zkproto
from conftest import Server, c_program, stop_kazoo

IO_THREADS = [1, 2]


# ------------------------------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module", params=IO_THREADS, ids=lambda n: "ioThreads%d" % n)
def srv(request):
    s = Server(name="ordering-io%d" % request.param,
               cfg={"ioThreads": str(request.param), "forceSync": "no"}).start()
    yield s
    alive = s.alive()
    s.stop()
    assert alive, "server died during the test:\n" + s.log_tail()
    s.cleanup()


@pytest.fixture(scope="module")
def one_server():
    """A single server (ioThreads=1) for the checker self-tests behind the misbehaving proxy."""
    s = Server(name="ordering-proxy", cfg={"ioThreads": "1", "forceSync": "no"}).start()
    yield s
    s.stop()
    s.cleanup()


@pytest.fixture(scope="module")
def c_ordering_bin():
    return c_program("UK_C_ORDERING_BIN", "zk_c_ordering.c")


def kazoo_client(hosts):
    from kazoo.client import KazooClient
    c = KazooClient(hosts=hosts, timeout=10.0)
    c.start(timeout=15)
    return c


_uniq = [0]


def unique(prefix):
    _uniq[0] += 1
    return "/%s_%d_%d_%d" % (prefix, os.getpid(), _uniq[0], int(time.time() * 1000) % 1000000)


# ------------------------------------------------------------------------------------------ checkers

def run_c_ordering(binary, hosts, conns=3, ops=20000, window=300, watch_sets=2000, timeout=150):
    r = subprocess.run([binary, hosts, str(conns), str(ops), str(window), str(watch_sets)],
                       capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout + "\n-- stderr --\n" + r.stderr[-20000:]


class Violation(AssertionError):
    pass


def kazoo_pipeline(hosts, nconn=2, ops=3000, window=200, seed=7):
    """Each session pipelines a random mix of async ops on its own node (plus reads of the next session's
    node) with up to `window` outstanding; returns per-session counts, raises Violation on the first
    reordering. What each check detects:
      - completion order: a reply overtaking an earlier one (kazoo also drops the connection on an xid
        mismatch, which surfaces as ConnectionLoss here);
      - get/exists/get_children of the own node vs the sets/creates submitted before it: a read served
        before (or after) a write it is ordered with on the same connection;
      - set versions and sequential names: writes executed out of submission order;
      - the other session's node: a read going back in time on one connection."""
    from kazoo.exceptions import KazooException

    clients = [kazoo_client(hosts) for _ in range(nconn)]
    base = unique("kz_pipe")
    try:
        clients[0].create(base)
        nodes = ["%s/n%d" % (base, i) for i in range(nconn)]
        create_mzxid = []
        for i, c in enumerate(clients):
            c.create(nodes[i], b"0")
            create_mzxid.append(c.exists(nodes[i]).mzxid)
        errors = []
        results = [None] * nconn

        def session(i):
            try:
                results[i] = _kazoo_session(clients[i], i, nodes[i], nodes[(i + 1) % nconn], create_mzxid[i],
                                            ops, window, random.Random(seed + i))
            except BaseException as e:  # noqa: B902 - reported by the main thread
                errors.append((i, e))

        threads = [threading.Thread(target=session, args=(i,)) for i in range(nconn)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        if errors:
            i, e = errors[0]
            if isinstance(e, (Violation, KazooException)):
                raise Violation("session %d: %s: %s" % (i, type(e).__name__, e)) from e
            raise e
        assert all(r is not None for r in results), "a kazoo session did not finish within 120 s"
        return results
    finally:
        stop_kazoo(*clients)


def _kazoo_session(zk, idx, node, other, create_mzxid, nops, window, rng):
    done_order = []  # filled by rawlink callbacks: kazoo runs them in the order the replies are read
    outstanding = collections.deque()
    ops = []
    sets = creates = 0
    for seq in range(nops):
        r = rng.randrange(100)
        if r < 30:
            sets += 1
            kind, res = "set", zk.set_async(node, str(sets).encode())
        elif r < 55:
            kind, res = "get", zk.get_async(node)
        elif r < 65:
            kind, res = "exists", zk.exists_async(node)
        elif r < 70:
            kind, res = "children", zk.get_children_async(node, include_data=True)
        elif r < 78:
            # create_async sets its result from kazoo's completion thread (a wrapper around the real request),
            # so creates are checked by their names, not by callback order
            kind, res = "create", zk.create_async(node + "/c-", b"", sequence=True)
            creates += 1
        elif r < 90:
            kind, res = "get_other", zk.get_async(other)
        else:
            kind, res = "exists_other", zk.exists_async(other)
        op = (seq, kind, sets, creates - (kind == "create"), res)
        ops.append(op)
        if kind != "create":
            res.rawlink(lambda _r, s=seq: done_order.append(s))
        outstanding.append(op)
        while len(outstanding) >= window:
            _wait(outstanding.popleft())
    while outstanding:
        _wait(outstanding.popleft())
    deadline = time.time() + 10
    want = [op[0] for op in ops if op[1] != "create"]
    while len(done_order) < len(want) and time.time() < deadline:
        time.sleep(0.01)
    if done_order != want:
        bad = next((k for k, (x, y) in enumerate(zip(done_order, want)) if x != y), min(len(done_order), len(want)))
        raise Violation("completion order: position %d got op #%s, expected op #%s (ops complete out of "
                        "submission order)" % (bad, done_order[bad] if bad < len(done_order) else None,
                                               want[bad] if bad < len(want) else None))

    # checks in submission order (= completion order, verified above)
    last_set_mzxid = create_mzxid
    other_max = (-1, -1)
    counts = collections.Counter()
    for seq, kind, sets_before, creates_before, res in ops:
        value = res.get(timeout=0)
        counts[kind] += 1
        where = "session %d op #%d (%s)" % (idx, seq, kind)
        if kind == "set":
            if value.version != sets_before or value.mzxid <= last_set_mzxid:
                raise Violation("%s: set number %d returned version %d mzxid %#x (previous set's mzxid %#x): "
                                "writes applied out of order" % (where, sets_before, value.version, value.mzxid,
                                                                 last_set_mzxid))
            last_set_mzxid = value.mzxid
        elif kind in ("get", "exists", "children"):
            if kind == "get":
                data, stat = value
                if data != str(sets_before).encode():
                    raise Violation("%s of own node returned %r, but the last set submitted before it wrote %r: "
                                    "read-your-writes in pipeline order broken" % (where, data, sets_before))
            elif kind == "children":
                kids, stat = value
                expect = sorted("c-%010d" % k for k in range(creates_before))
                if sorted(kids) != expect or stat.cversion != creates_before:
                    raise Violation("%s returned %d children cversion %d, expected %d: a read did not see the "
                                    "creates submitted before it" % (where, len(kids), stat.cversion,
                                                                     creates_before))
            else:
                stat = value
            if stat.version != sets_before or stat.mzxid != last_set_mzxid:
                raise Violation("%s returned version %d mzxid %#x, but %d sets were submitted before it (last "
                                "mzxid %#x): read-your-writes in pipeline order broken"
                                % (where, stat.version, stat.mzxid, sets_before, last_set_mzxid))
        elif kind == "create":
            expect = "%s/c-%010d" % (node, creates_before)
            if value != expect:
                raise Violation("%s returned %s, expected %s: creates out of submission order"
                                % (where, value, expect))
        else:
            if kind == "get_other":
                data, stat = value
                if int(data) != stat.version:
                    raise Violation("%s: data %r but version %d" % (where, data, stat.version))
            else:
                stat = value
            if (stat.version, stat.mzxid) < other_max or stat.mzxid < other_max[1]:
                raise Violation("%s of another session's node went back: version %d mzxid %#x after version %d "
                                "mzxid %#x" % (where, stat.version, stat.mzxid, other_max[0], other_max[1]))
            other_max = (stat.version, stat.mzxid)
    return dict(counts)


def _wait(op):
    seq, kind, _, _, res = op
    try:
        res.get(timeout=30)
    except Exception as e:
        raise Violation("op #%d (%s) failed: %s: %s" % (seq, kind, type(e).__name__, e)) from e


def kazoo_watch_order(hosts, nsets=600, read_window=30, write_window=40):
    """Session A keeps a data watch armed on /w (re-armed from the watch callback with get_async(watch=...))
    and pipelines plain get_async reads; session B pipelines sets. Replies and watch events are logged from
    kazoo's connection thread (one thread, so the log is in wire order). Detects: a plain read returning a
    version newer than the armed watch's version before that watch's NodeDataChanged event (the client
    saw new data before the notification), an event without an armed watch, reads going backwards."""
    from kazoo.handlers.threading import AsyncResult
    from kazoo.protocol.states import EventType

    a = kazoo_client(hosts)
    b = kazoo_client(hosts)
    path = unique("kz_watch")
    log = []  # appended only by A's connection thread
    watched = set()  # ids of the AsyncResults of watched gets
    keep = []  # keeps those objects alive so ids stay unique

    class Stamped(AsyncResult):
        def set(self, value=None):
            log.append(("reply", id(self), value))
            super().set(value)

        def set_exception(self, exception):
            log.append(("error", id(self), exception))
            super().set_exception(exception)

    try:
        b.create(path, b"0")
        handler = a.handler
        handler.async_result = lambda: Stamped(handler)
        orig_dispatch = handler.dispatch_callback

        def dispatch(cb):
            if cb.type == "watch":
                log.append(("event", None, cb.args[0]))
            return orig_dispatch(cb)

        handler.dispatch_callback = dispatch
        rearm_errors = []

        def watcher(ev):
            try:
                arm()
            except Exception as e:  # noqa: B902
                rearm_errors.append(e)

        def arm():
            r = a.get_async(path, watch=watcher)
            keep.append(r)
            watched.add(id(r))
            return r

        arm().get(timeout=15)
        writer_err = []

        def writer():
            try:
                pend = collections.deque()
                for i in range(1, nsets + 1):
                    pend.append(b.set_async(path, str(i).encode()))
                    while len(pend) >= write_window:
                        pend.popleft().get(timeout=30)
                    if i % 32 == 0:
                        time.sleep(0.001)
                while pend:
                    pend.popleft().get(timeout=30)
            except Exception as e:  # noqa: B902
                writer_err.append(e)

        wt = threading.Thread(target=writer)
        wt.start()
        pend = collections.deque()
        reads = 0
        deadline = time.time() + 60
        final_seen = False
        while not final_seen:
            assert time.time() < deadline, "the reader never saw version %d" % nsets
            r = a.get_async(path)
            keep.append(r)
            pend.append(r)
            reads += 1
            while len(pend) >= read_window:
                _, st = pend.popleft().get(timeout=30)
                final_seen = final_seen or st.version >= nsets
        while pend:
            pend.popleft().get(timeout=30)
        wt.join(60)
        assert not writer_err, "writer failed: %r" % writer_err
        # the last set fires the armed watch; wait until the watch is re-armed at the final version
        deadline = time.time() + 10
        while time.time() < deadline:
            replies = [e for e in list(log) if e[0] == "reply" and e[1] in watched]
            if replies and replies[-1][2][1].version == nsets:
                break
            time.sleep(0.02)
        assert not rearm_errors, "re-arming the watch failed: %r" % rearm_errors

        # replay the wire-order log
        armed, watched_version, max_seen = False, -1, -1
        events = while_armed = newer_after_event = 0
        for kind, rid, value in list(log):
            if kind == "error":
                raise Violation("a read failed: %r" % (value,))
            if kind == "event":
                if value.type != EventType.CHANGED:
                    raise Violation("unexpected event %r" % (value,))
                if not armed:
                    raise Violation("NodeDataChanged event while no watch was armed (duplicate event, or the "
                                    "event overtook the reply that set the watch)")
                armed = False
                events += 1
                continue
            version = value[1].version
            if version < max_seen:
                raise Violation("read returned version %d after version %d was seen" % (version, max_seen))
            max_seen = version
            if rid in watched:
                armed, watched_version = True, version
            elif armed:
                while_armed += 1
                if version > watched_version:
                    raise Violation("a plain read returned version %d while the watch armed at version %d had not "
                                    "fired: the client saw the new data before the NodeDataChanged event"
                                    % (version, watched_version))
            elif version > watched_version:
                newer_after_event += 1
        if not (armed and watched_version == nsets):
            raise Violation("the watch was not re-armed at the final version %d (armed=%s at %d): an event is "
                            "missing" % (nsets, armed, watched_version))
        assert events > 0
        return dict(reads=reads, events=events, reads_while_armed=while_armed,
                    reads_newer_after_event=newer_after_event)
    finally:
        stop_kazoo(a, b)


def raw_pipeline(port, nops=3000, seed=3):
    """One raw connection, all requests written by a sender thread without waiting. Detects: replies out of
    xid order, reads not seeing the previous write of the connection (data, version and mzxid), and reply
    header zxids going backwards (a read executed before an earlier write reports an older zxid)."""
    W = zkproto.W
    rng = random.Random(seed)
    c = zkproto.RawClient(port)
    path = unique("raw_pipe")
    try:
        c.create(path, b"0")
        created_mzxid = c.exists(path).mzxid
        reqs = []
        sets = 0
        for _ in range(nops):
            r = rng.randrange(10)
            if r < 4:
                sets += 1
                reqs.append(("set", sets, zkproto.OP["setData"], W().ustring(path).buffer(str(sets).encode())
                             .int(-1).bytes()))
            elif r < 8:
                reqs.append(("get", sets, zkproto.OP["getData"], W().ustring(path).bool(False).bytes()))
            else:
                reqs.append(("exists", sets, zkproto.OP["exists"], W().ustring(path).bool(False).bytes()))
        first_xid = c.xid + 1
        frames = b"".join(zkproto.frame(struct.pack(">ii", first_xid + i, op) + body)
                          for i, (_, _, op, body) in enumerate(reqs))
        c.xid += len(reqs)
        send_err = []

        def sender():
            try:
                for k in range(0, len(frames), 16384):
                    c.sock.sendall(frames[k:k + 16384])
            except OSError as e:
                send_err.append(e)

        t = threading.Thread(target=sender)
        t.start()
        last_zxid = 0
        last_set_mzxid = created_mzxid
        for i, (kind, sets_before, _, _) in enumerate(reqs):
            p = c.read_packet()
            while isinstance(p, zkproto.Event) or p.xid == zkproto.PING_XID:
                p = c.read_packet()
            where = "request #%d (%s, xid %d)" % (i, kind, first_xid + i)
            if p.xid != first_xid + i:
                raise Violation("%s: got the reply for xid %d: replies out of request order" % (where, p.xid))
            if p.err:
                raise Violation("%s failed: %s" % (where, zkproto.ERR_NAME.get(p.err, p.err)))
            if p.zxid < last_zxid:
                raise Violation("%s: reply header zxid %#x is below the previous reply's %#x: the request was "
                                "served from older state than an earlier one" % (where, p.zxid, last_zxid))
            last_zxid = p.zxid
            if kind == "set":
                st = p.body.stat()
                if st.version != sets_before or p.zxid != st.mzxid:
                    raise Violation("%s: version %d (expected %d), header zxid %#x mzxid %#x"
                                    % (where, st.version, sets_before, p.zxid, st.mzxid))
                last_set_mzxid = st.mzxid
            else:
                if kind == "get":
                    data = p.body.buffer()
                    if data != str(sets_before).encode():
                        raise Violation("%s returned %r, expected %r: read-your-writes broken"
                                        % (where, data, sets_before))
                st = p.body.stat()
                if st.version != sets_before or st.mzxid != last_set_mzxid or p.zxid < last_set_mzxid:
                    raise Violation("%s: version %d mzxid %#x header zxid %#x; expected version %d mzxid %#x: "
                                    "read-your-writes broken" % (where, st.version, st.mzxid, p.zxid,
                                                                 sets_before, last_set_mzxid))
        t.join(30)
        assert not send_err, send_err
        return len(reqs)
    finally:
        c.close()


# ------------------------------------------------------------------------------------------ tests

def test_c_client_ordering(srv, c_ordering_bin):
    rc, out = run_c_ordering(c_ordering_bin, srv.hosts)
    assert rc == 0, out
    assert "OK: no ordering violation" in out, out
    print(out)


def test_kazoo_pipeline(srv):
    counts = kazoo_pipeline(srv.hosts)
    print(counts)


def test_kazoo_watch_before_data(srv):
    stats = kazoo_watch_order(srv.hosts)
    print(stats)
    assert stats["reads_while_armed"] > 0, stats


def test_raw_pipeline_reply_zxids(srv):
    assert raw_pipeline(srv.port) == 3000


# ------------------------------------------------------------------------------------------ self-test

WRITE_OPS = {zkproto.OP[k] for k in ("create", "delete", "setData", "create2", "createContainer", "createTTL",
                                     "setACL", "multi")}


class ReorderProxy:
    """A TCP proxy in front of the server that breaks ordering on purpose (mode):
      early_reads  - a read sent right behind a write is forwarded before it (the server executes the read
                     first); the replies are put back in request order, so only the data is wrong;
      swap_replies - two consecutive replies are delivered in swapped order;
      late_events  - a watch event is delivered after the next reply instead of before it."""

    def __init__(self, upstream_port, mode):
        self.mode = mode
        self.upstream = upstream_port
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.hosts = "127.0.0.1:%d" % self.port
        self.closed = False
        self.socks = []
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.closed = True
        for s in [self.lsock] + self.socks:
            try:
                s.close()
            except OSError:
                pass

    def _accept(self):
        while not self.closed:
            try:
                cs, _ = self.lsock.accept()
                ss = socket.create_connection(("127.0.0.1", self.upstream))
            except OSError:
                return
            for s in (cs, ss):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.socks += [cs, ss]
            order = collections.deque()  # xids in the order the client sent them (early_reads)
            lock = threading.Lock()
            threading.Thread(target=self._up, args=(cs, ss, order, lock), daemon=True).start()
            threading.Thread(target=self._down, args=(ss, cs, order, lock), daemon=True).start()

    @staticmethod
    def _frames(buf):
        out = []
        while len(buf) >= 4:
            (n,) = struct.unpack(">i", buf[:4])
            if len(buf) < 4 + n:
                break
            out.append(bytes(buf[:4 + n]))
            del buf[:4 + n]
        return out

    def _pump(self, src, dst, on_frame, flush, idle):
        buf = bytearray()
        first = True
        try:
            while True:
                r, _, _ = select.select([src], [], [], idle)
                if not r:
                    flush(dst)
                    continue
                data = src.recv(65536)
                if not data:
                    break
                buf += data
                for f in self._frames(buf):
                    if first:  # connect request / response: no xid header
                        first = False
                        dst.sendall(f)
                    else:
                        on_frame(f, dst)
                flush_now = not select.select([src], [], [], 0)[0]
                if flush_now and idle is None:
                    flush(dst)
        except (OSError, ValueError):  # ValueError: select on a socket closed by close()
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _up(self, cs, ss, order, lock):
        held = []

        def flush(dst):
            while held:
                dst.sendall(held.pop(0))

        def on_frame(f, dst):
            xid, op = struct.unpack(">ii", f[4:12])
            if xid > 0:
                with lock:
                    order.append(xid)
            if self.mode != "early_reads" or xid <= 0:
                flush(dst)
                dst.sendall(f)
            elif op in WRITE_OPS:
                held.append(f)
            else:
                dst.sendall(f)  # the read overtakes the held writes
                flush(dst)

        self._pump(cs, ss, on_frame, flush, 0.002 if self.mode == "early_reads" else None)

    def _down(self, ss, cs, order, lock):
        pending = {}  # early_reads: replies waiting for their turn
        held = []

        def release(dst):
            while True:
                with lock:
                    if not order or order[0] not in pending:
                        return
                    xid = order.popleft()
                dst.sendall(pending.pop(xid))

        def flush(dst):
            if self.mode == "early_reads":
                release(dst)
            while held:
                dst.sendall(held.pop(0))

        def on_frame(f, dst):
            xid = struct.unpack(">i", f[4:8])[0]
            if self.mode == "early_reads":
                if xid > 0:
                    pending[xid] = f
                    release(dst)
                else:
                    dst.sendall(f)
            elif self.mode == "swap_replies":
                if xid > 0 and not held:
                    held.append(f)
                else:
                    dst.sendall(f)
                    flush(dst)
            else:  # late_events
                if xid == zkproto.WATCH_XID:
                    held.append(f)
                else:
                    dst.sendall(f)
                    if xid > 0:
                        flush(dst)

        self._pump(ss, cs, on_frame, flush, 0.05)


STALE = "read-your-writes|went back|older state"
SELF_TESTS = [
    # (checker, proxy mode, regex expected in the failure)
    ("c", "early_reads", STALE),
    ("c", "swap_replies", "ORDERING VIOLATION"),
    ("c_watch", "late_events", "before the NodeDataChanged event"),
    ("kazoo", "early_reads", STALE),
    ("kazoo", "swap_replies", "ConnectionLoss|xids do not match|completion order"),
    ("kazoo_watch", "late_events", "before the NodeDataChanged event"),
    ("raw", "early_reads", STALE),
    ("raw", "swap_replies", "replies out of request order"),
]


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # kazoo's reader on swaps
@pytest.mark.parametrize("checker,mode,expect", SELF_TESTS, ids=["%s-%s" % t[:2] for t in SELF_TESTS])
def test_checkers_catch_reordering(one_server, c_ordering_bin, checker, mode, expect):
    proxy = ReorderProxy(one_server.port, mode)
    try:
        if checker in ("c", "c_watch"):
            args = dict(conns=1, ops=3000, window=100, watch_sets=10) if checker == "c" else \
                dict(conns=1, ops=50, window=10, watch_sets=400)
            rc, out = run_c_ordering(c_ordering_bin, proxy.hosts, timeout=60, **args)
            assert rc != 0, "the C checker did not notice the proxy's reordering (%s):\n%s" % (mode, out)
            assert re.search(expect, out), out
            print("%s/%s detected: %s" % (checker, mode, [l for l in out.splitlines() if "VIOLATION" in l]))
            if checker == "c_watch":
                assert "pipeline conn0: 50 ops in order" in out, out  # it failed in the watch phase
        else:
            with pytest.raises(Violation) as ei:
                if checker == "kazoo":
                    kazoo_pipeline(proxy.hosts, nconn=1, ops=600, window=50)
                elif checker == "kazoo_watch":
                    kazoo_watch_order(proxy.hosts, nsets=300)
                else:
                    raw_pipeline(proxy.port, nops=600)
            assert re.search(expect, str(ei.value)), str(ei.value)
            print("%s/%s detected: %s" % (checker, mode, ei.value))
    finally:
        proxy.close()
