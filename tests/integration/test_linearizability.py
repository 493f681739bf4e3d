"""Linearizability of concurrent histories: real clients against one real server, checked offline.

8 sessions (raw protocol clients from zkproto, each its own connection and thread) hammer 4 znodes for a few
seconds with a seeded random mix: setData (unique values), compare-and-set (setData with the version last seen),
create / delete, linearizable reads (sync + getData, sent one after the other or pipelined) and plain getData
(also pipelined right behind the session's own write). Every operation's invocation and completion time
(time.monotonic_ns) and result are recorded; an operation with no answer (timeout, connection loss) is
indeterminate: it may or may not have taken effect. 1% of the writes are indeterminate on purpose: the client
drops its connection (FIN or RST) right after sending one, and goes on with a new session.

Then linearizability.py checks, per znode (znodes are independent registers and linearizability is
compositional), that writes + sync reads linearize (WGL search with memoization, register-with-version model),
and, for all reads including plain ones (only sequentially consistent in ZooKeeper), the session guarantees via
the zxids the server reports. The checker itself is tested on hand-made histories, and on corrupted copies of the
first recorded history of each run (a sync read made stale; a plain read that loses the session's own write),
which it must reject.

Parametrized over the server's client I/O threads (config key ioThreads: 1 and 2). The seed is printed;
UK_LIN_SEED replays the mix (not the timing). UK_LIN_SECONDS (default 4) is the workload time per ioThreads
setting, run in rounds of at most 3 s and 300 checked ops per znode on fresh znodes (/lin/r<round>/k0..k3), so
that every checked history stays small: a longer value is an opt-in soak.
"""

import dataclasses
import os
import random
import socket
import struct
import threading
import time

import pytest

import zkproto
from conftest import IS_ZK, Server
from linearizability import Op, check_all, check_register, check_sessions
from zkproto import ERR, OP, OPEN_ACL, W, ConnectionClosed

SEED = int(os.environ.get("UK_LIN_SEED", str(random.randrange(1 << 30))))
SECONDS = float(os.environ.get("UK_LIN_SECONDS", "4"))  # workload time per ioThreads setting
ROUND_SECONDS = 3.0
WORKERS = 8
KEYS = 4
MAX_OPS_PER_KEY = 300   # writes + sync reads per znode and round (the WGL search stays well under a second)
ABANDON = 0.01          # share of the writes sent on a connection that is dropped right after (indeterminate)
OP_TIMEOUT = 8.0        # seconds without an answer: the op is indeterminate and the session is replaced
SESSION_TIMEOUT_MS = 10000
INIT = b"init"

now = time.monotonic_ns


class ProtocolError(Exception):
    pass


class Abandoned(ConnectionClosed):
    """The client dropped its connection with a write in flight (on purpose)."""


class Budget:
    def __init__(self, total):
        self.left = total
        self.lock = threading.Lock()

    def take(self):
        with self.lock:
            self.left -= 1
            return self.left >= 0


class Worker(threading.Thread):
    """One client session at a time (a new one after an indeterminate op); records every op it issues."""

    def __init__(self, wid, port, keys, seed, deadline, budget):
        super().__init__(daemon=True, name="lin-worker-%d" % wid)
        self.wid, self.port, self.keys, self.deadline, self.budget = wid, port, keys, deadline, budget
        self.rng = random.Random(seed)
        self.ops, self.errors = [], []
        self.sessions = self.lost_connections = self.abandoned = 0
        self.counter = 0
        self.c = None

    # ------------------------------------------------------------ plumbing
    def connect(self):
        self.c = zkproto.RawClient(self.port, timeout_ms=SESSION_TIMEOUT_MS, sock_timeout=OP_TIMEOUT)
        self.sessions += 1
        self.seq = 0
        self.seen_version = {}

    def new_op(self, key, kind, **kw):
        self.seq += 1
        o = Op(key=key, kind=kind, invoke=0, complete=None, session=self.c.session_id, seq=self.seq,
               worker=self.wid, **kw)
        self.ops.append(o)  # recorded at invocation: stays indeterminate unless an answer arrives
        return o

    def recv(self, xid):
        while True:
            p = self.c.read_packet()
            if isinstance(p, zkproto.Event) or p.xid == zkproto.PING_XID:
                continue
            if p.xid != xid:
                raise ProtocolError("session 0x%x: reply xid %d while %d was the oldest outstanding request"
                                    % (self.c.session_id, p.xid, xid))
            return p

    def unexpected(self, o, rep):
        self.errors.append("unexpected error %s on %r" % (zkproto.ERR_NAME.get(rep.err, rep.err), o))

    def value(self):
        self.counter += 1
        return b"w%d-%d" % (self.wid, self.counter)

    # ------------------------------------------------------------ operations
    @staticmethod
    def body(o):
        if o.kind == "set":
            return OP["setData"], W().ustring(o.key).buffer(o.value).int(o.version).bytes()
        if o.kind == "create":
            return OP["create2"], W().ustring(o.key).buffer(o.value).acls(OPEN_ACL).int(0).bytes()
        if o.kind == "delete":
            return OP["delete"], W().ustring(o.key).int(o.version).bytes()
        return OP["getData"], W().ustring(o.key).bool(False).bytes()

    def version_refusal(self, o, rep):
        """A set or delete refused with BADVERSION or NONODE (NONODE: the session now knows the node is gone)."""
        if rep.err == ERR["BADVERSION"]:
            o.result = ("badversion",)
        elif rep.err == ERR["NONODE"]:
            o.result = ("nonode",)
            self.seen_version[o.key] = None
        else:
            self.unexpected(o, rep)

    def finish(self, o, rep):
        """Fills in o's result from its (last) reply."""
        o.complete = now()
        o.zxid = rep.zxid
        o.replies.append(rep.zxid)
        err = rep.err
        if o.kind == "set":
            if err == 0:
                st = rep.body.stat()
                o.result, o.mzxid = ("ok", st.version), st.mzxid
                self.seen_version[o.key] = st.version
            else:
                self.version_refusal(o, rep)
        elif o.kind == "create":
            if err == 0:
                rep.body.ustring()
                st = rep.body.stat()
                o.result, o.mzxid = ("ok",), st.mzxid
                if st.version != 0:
                    self.errors.append("create returned version %d: %r" % (st.version, o))
                self.seen_version[o.key] = 0
            elif err == ERR["NODEEXISTS"]:
                o.result = ("exists",)
            else:
                self.unexpected(o, rep)
        elif o.kind == "delete":
            if err == 0:
                o.result = ("ok",)
                self.seen_version[o.key] = None
            else:
                self.version_refusal(o, rep)
        else:
            if err == 0:
                data, st = rep.body.buffer(), rep.body.stat()
                o.result, o.mzxid = ("data", data or b"", st.version), st.mzxid
                self.seen_version[o.key] = st.version
            elif err == ERR["NONODE"]:
                o.result = ("nonode",)
                self.seen_version[o.key] = None
            else:
                self.unexpected(o, rep)

    def single(self, o):
        opcode, body = self.body(o)
        o.invoke = now()
        self.finish(o, self.recv(self.c.send_request(opcode, body)))

    def sync_read(self, key, pipelined):
        """sync(path) + getData: ZooKeeper's linearizable read. Pipelined: both sent before either answer
        (the session's FIFO order makes the read follow the sync), as clients usually do."""
        o = self.new_op(key, "read")
        sync_body = W().ustring(key).bytes()
        opcode, body = self.body(o)
        o.invoke = now()
        x1 = self.c.send_request(OP["sync"], sync_body)
        if pipelined:
            x2 = self.c.send_request(opcode, body)
        r1 = self.recv(x1)
        o.replies.append(r1.zxid)
        if r1.err != 0:
            self.unexpected(o, r1)
        if not pipelined:
            x2 = self.c.send_request(opcode, body)
        self.finish(o, self.recv(x2))

    def write_then_read(self, w):
        """A write and a plain getData of the same znode sent back to back: the read must see the write."""
        opcode, body = self.body(w)
        w.invoke = now()
        xw = self.c.send_request(opcode, body)
        r = self.new_op(w.key, "plain")
        opcode, body = self.body(r)
        r.invoke = now()
        xr = self.c.send_request(opcode, body)
        self.finish(w, self.recv(xw))
        self.finish(r, self.recv(xr))

    def abandon(self, w):
        """Sends the write and drops the connection at once (FIN or RST): the write is indeterminate."""
        opcode, body = self.body(w)
        w.invoke = now()
        self.c.send_request(opcode, body)
        if self.rng.random() < 0.5:
            self.c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        raise Abandoned()

    def one(self):
        rng = self.rng
        key = rng.choice(self.keys)
        x = rng.random()
        if x < 0.45 or x >= 0.93:  # a write (and with it, sometimes, a pipelined plain read)
            y = rng.random()
            seen = self.seen_version.get(key, 0)
            if seen is None and rng.random() < 0.7:
                y = 0.9  # the session last saw no znode there: mostly create it again
            if y < 0.42:
                w = self.new_op(key, "set", value=self.value())
            elif y < 0.84:  # compare-and-set with the version this session saw last (stale or not)
                w = self.new_op(key, "set", value=self.value(), version=seen or 0)
            elif y < 0.95:
                w = self.new_op(key, "create", value=self.value())
            else:
                w = self.new_op(key, "delete", version=rng.choice([-1, seen or 0]))
            if rng.random() < ABANDON:
                self.abandon(w)
            elif x >= 0.93:
                self.write_then_read(w)
            else:
                self.single(w)
            return True
        if x < 0.67:
            self.sync_read(key, pipelined=rng.random() < 0.5)
            return True
        self.single(self.new_op(key, "plain"))
        return False

    def run(self):
        try:
            self.connect()
        except (OSError, ConnectionClosed) as e:
            self.errors.append("worker %d cannot connect: %r" % (self.wid, e))
            return
        try:
            while time.monotonic() < self.deadline:
                try:
                    if self.one() and not self.budget.take():
                        return
                except (OSError, ConnectionClosed) as e:
                    # no answer: the op(s) in flight stay indeterminate; carry on with a new session
                    if isinstance(e, Abandoned):
                        self.abandoned += 1
                    else:
                        self.lost_connections += 1
                    self.c.close()
                    if time.monotonic() >= self.deadline:
                        return
                    try:
                        self.connect()
                    except (OSError, ConnectionClosed) as e2:
                        self.errors.append("worker %d cannot reconnect after %r: %r" % (self.wid, e, e2))
                        return
                if self.rng.random() < 0.5:
                    time.sleep(self.rng.random() * 0.002)
        except ProtocolError as e:
            self.errors.append(str(e))
        except Exception as e:  # noqa: BLE001 - any surprise must fail the test, not vanish with the thread
            self.errors.append("worker %d: %r" % (self.wid, e))
        finally:
            if self.c is not None:
                self.c.close()


def run_round(server, rnd, seed, seconds):
    keys = ["/lin/r%d/k%d" % (rnd, i) for i in range(KEYS)]
    inits_z = {}
    with server.raw() as c:
        if c.exists("/lin") is None:
            c.create("/lin")
        c.create("/lin/r%d" % rnd)
        for k in keys:
            _, st = c.create2(k, INIT)
            inits_z[k] = (st.mzxid, (INIT, 0))
    budget = Budget(KEYS * MAX_OPS_PER_KEY)
    deadline = time.monotonic() + seconds
    workers = [Worker(w, server.port, keys, "%d/%d/%d" % (seed, rnd, w), deadline, budget) for w in range(WORKERS)]
    t0 = time.monotonic()
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=seconds + OP_TIMEOUT + 60)
    assert not any(t.is_alive() for t in workers), "a client thread hangs"
    elapsed = time.monotonic() - t0
    errors = [e for t in workers for e in t.errors]
    assert not errors, "\n".join(errors[:20])
    ops = [o for t in workers for o in t.ops]
    stats = "%d sessions, %d dropped on purpose with a write in flight, %d lost" % (
        sum(t.sessions for t in workers), sum(t.abandoned for t in workers), sum(t.lost_connections for t in workers))
    return keys, inits_z, ops, elapsed, stats


def summarize(ops):
    kinds = {}
    for o in ops:
        if o.result is None:
            label = o.kind + ":indeterminate"
        else:
            label = o.kind + ":" + o.result[0] + ("" if o.kind != "set" or o.version == -1 else "(cas)")
        kinds[label] = kinds.get(label, 0) + 1
    return ", ".join("%s=%d" % kv for kv in sorted(kinds.items()))


def concurrency(ops):
    """(share of the checked ops that overlap another op on the same znode, most ops pending at once)."""
    by_key = {}
    for o in ops:
        if o.kind in ("set", "create", "delete") or (o.kind == "read" and o.complete is not None):
            by_key.setdefault(o.key, []).append(o)
    overlapping = total = width = 0
    for kops in by_key.values():
        ev = sorted([(o.invoke, 1) for o in kops] + [(o.complete or (1 << 62), -1) for o in kops],
                    key=lambda e: (e[0], -e[1]))
        cur = 0
        for _, d in ev:
            cur += d
            width = max(width, cur)
        kops.sort(key=lambda o: o.invoke)
        end = -1
        flagged = set()
        for i, o in enumerate(kops):
            if o.invoke <= end:
                flagged.add(i)
                flagged.add(last)
            if (o.complete or (1 << 62)) > end:
                end, last = o.complete or (1 << 62), i
        overlapping += len(flagged)
        total += len(kops)
    return (overlapping / total if total else 0.0), width


def stale_read_copy(ops, key, init):
    """A copy of ops in which one sync read of key returns an older value: one written by W1 (or the initial
    one) although another successful write W2 started after W1 finished and finished before the read began.
    Values are unique, so no linearization can explain it. Returns (ops copy, description) or None."""
    kops = [o for o in ops if o.key == key]
    writes = sorted((o for o in kops if o.kind in ("set", "create") and o.result and o.result[0] == "ok"),
                    key=lambda o: o.complete)
    initial = Op(key=key, kind="create", invoke=-2, complete=-1, value=init[0], result=("ok",))
    for r in sorted((o for o in kops if o.kind == "read" and o.complete is not None), key=lambda o: -o.invoke):
        w2s = [w for w in writes if w.complete < r.invoke]
        if not w2s:
            continue
        w2 = w2s[-1]
        w1s = [w for w in [initial] + writes
               if w.complete < w2.invoke and (r.result[0] != "data" or w.value != r.result[1])]
        if not w1s:
            continue
        w1 = w1s[-1]
        stale = dataclasses.replace(r, result=("data", w1.value, w1.result[1] if w1.kind == "set" else 0))
        return [stale if o is r else o for o in ops], "read %r made to return %r (written by %r, overwritten by %r)" % (
            r, stale.result, w1, w2)
    return None


def own_write_lost_copy(ops, inits_z):
    """A copy of ops in which a plain read shows the state from before the session's own earlier write."""
    exact = {}
    for o in ops:
        if o.kind in ("set", "create") and o.result and o.result[0] == "ok":
            exact.setdefault(o.key, []).append((o.mzxid, o.value, o.result[1] if o.kind == "set" else 0))
    for k, (z, (v, ver)) in inits_z.items():
        exact.setdefault(k, []).append((z, v, ver))
    by_session = {}
    for o in ops:
        by_session.setdefault(o.session, []).append(o)
    for sops in by_session.values():
        sops.sort(key=lambda o: o.seq)
        last_write = {}
        for o in sops:
            if o.kind in ("set", "create") and o.result and o.result[0] == "ok":
                last_write[o.key] = o
            elif o.kind == "plain" and o.result and o.result[0] == "data" and o.key in last_write:
                w = last_write[o.key]
                older = [e for e in sorted(exact[o.key]) if e[0] < w.mzxid]
                if not older:
                    continue
                m, v, ver = older[-1]
                bad = dataclasses.replace(o, result=("data", v, ver), mzxid=m)
                return [bad if x is o else x for x in ops], "plain read %r made to show mzxid 0x%x, before %r" % (
                    o, m, w)
    return None


# ---------------------------------------------------------------- the checker on hand-made histories

def h(kind, t0, t1, value=None, version=-1, result=None, key="/k", **kw):
    return Op(key=key, kind=kind, invoke=t0, complete=t1, value=value, version=version, result=result, **kw)


X = (b"x", 0)  # initial state of the hand-made register


def verdict(ops, init=X):
    v = check_register(ops, init)
    assert not v.inconclusive, v
    return v.ok


def test_checker_accepts_linearizable_history():
    ops = [
        h("set", 0, 10, b"a", result=("ok", 1)),
        h("set", 5, 15, b"b", result=("ok", 2)),       # concurrent with the first set and the first read
        h("read", 12, 20, result=("data", b"a", 1)),   # so this read can fall between them
        h("read", 16, 30, result=("data", b"b", 2)),
        h("set", 17, 25, b"c", version=0, result=("badversion",)),  # compare-and-set on a stale version
        h("set", 31, 35, b"d", version=2, result=("ok", 3)),        # and on the current one
        h("delete", 36, 40, version=3, result=("ok",)),
        h("read", 41, 42, result=("nonode",)),
        h("set", 43, 44, b"e", result=("nonode",)),
        h("create", 45, 50, b"f", result=("ok",)),
        h("create", 46, 47, b"g", result=("exists",)),  # so the create linearized first
        h("read", 51, 52, result=("data", b"f", 0)),
    ]
    assert verdict(ops)
    # plain reads are not held to linearizability: a stale plain read changes nothing
    assert verdict(ops + [h("plain", 60, 61, result=("data", b"x", 0))])


def test_checker_rejects_stale_read():
    ops = [h("set", 0, 10, b"a", result=("ok", 1)),
           h("read", 11, 20, result=("data", b"x", 0))]
    v = check_register(ops, X)
    assert not v.ok and not v.inconclusive
    assert "cannot" in v.message
    # the same read overlapping the write is fine
    ops[1] = h("read", 9, 20, result=("data", b"x", 0))
    assert verdict(ops)
    # two reads that see the write, then not
    assert not verdict([h("set", 0, 100, b"a", result=("ok", 1)),
                        h("read", 10, 20, result=("data", b"a", 1)),
                        h("read", 30, 40, result=("data", b"x", 0))])


def test_checker_rejects_wrong_cas_and_versions():
    assert not verdict([h("set", 0, 10, b"a", version=5, result=("ok", 1))])       # CAS on a wrong version won
    assert not verdict([h("set", 0, 10, b"a", version=0, result=("badversion",))])  # right version refused
    assert not verdict([h("set", 0, 10, b"a", result=("ok", 2))])                   # version skipped
    assert not verdict([h("read", 0, 10, result=("data", b"x", 1))])                # value right, version not
    assert not verdict([h("create", 0, 10, b"a", result=("ok",))])                  # create over a znode
    assert not verdict([h("delete", 0, 10, result=("ok",)), h("read", 11, 12, result=("data", b"x", 0))])


def test_checker_indeterminate_write_both_ways():
    lost = h("set", 10, None, b"a")  # no answer: may or may not have happened
    # it happened (seen by a read overlapping it, and later)
    assert verdict([lost, h("read", 15, 20, result=("data", b"a", 1)), h("read", 30, 40, result=("data", b"a", 1))])
    # it never happened (or has not yet: it may still linearize at the end)
    assert verdict([lost, h("read", 20, 30, result=("data", b"x", 0)),
                    h("read", 40, 50, result=("data", b"x", 0)),
                    h("set", 60, 70, b"b", result=("ok", 1))])
    # it happened after a later write: that write's version is 1, and a read sees the lost value with version 2
    assert verdict([lost, h("set", 60, 70, b"b", result=("ok", 1)), h("read", 80, 90, result=("data", b"a", 2))])
    # but it cannot take effect before it was issued...
    assert not verdict([h("read", 0, 5, result=("data", b"a", 1)), lost])
    # ...nor be undone once seen
    assert not verdict([lost, h("read", 15, 20, result=("data", b"a", 1)), h("read", 30, 40, result=("data", b"x", 0))])
    # an indeterminate compare-and-set on a stale version can only have failed
    assert not verdict([h("set", 0, 5, b"b", result=("ok", 1)), h("set", 10, None, b"a", version=0),
                        h("read", 20, 30, result=("data", b"a", 2))])
    # an indeterminate read says nothing
    assert verdict([h("set", 0, 5, b"b", result=("ok", 1)), h("read", 10, None)])


def test_checker_search_is_bounded():
    # 11 concurrent indeterminate writes (any order, any subset) and then a read of a value none of them wrote:
    # the search has to exhaust (subset, last value) pairs before it can say no
    ops = [h("set", 0, 100, b"v%d" % i) for i in range(11)] + [h("read", 101, 102, result=("data", b"nope", 3))]
    t = time.monotonic()
    v = check_register(ops, X)
    assert not v.ok and not v.inconclusive, v
    assert v.steps > 10000, v
    # with a small budget the answer is "inconclusive", never a wrong "linearizable"
    v = check_register(ops, X, max_steps=1000)
    assert not v.ok and v.inconclusive
    print("search: %d steps in %.2fs" % (check_register(ops, X).steps, time.monotonic() - t))


def test_session_checker_hand_made():
    inits = {"/k": (0x5, (b"x", 0))}
    wr = h("set", 0, 10, b"a", result=("ok", 1), session=1, seq=1, zxid=0x10, mzxid=0x10, replies=[0x10])
    good = h("plain", 11, 20, result=("data", b"a", 1), session=1, seq=2, zxid=0x12, mzxid=0x10, replies=[0x12])
    # another session may lag behind (plain reads are sequentially consistent only)
    lag = h("plain", 30, 31, result=("data", b"x", 0), session=2, seq=1, zxid=0x8, mzxid=0x5, replies=[0x8])
    assert check_sessions([wr, good, lag], inits) == []
    # ... but not if it reads with sync: a linearizable read must cover the write acknowledged before it
    lag_sync = dataclasses.replace(lag, kind="read")
    assert check_sessions([wr, good, lag_sync], inits)
    # its own write is lost to the session
    own = dataclasses.replace(good, result=("data", b"x", 0), mzxid=0x5)
    assert any("stale" in m for m in check_sessions([wr, own], inits))
    # pipelined: a read sent right behind the session's own write (before its answer) must see it too
    own_pipe = dataclasses.replace(own, invoke=1)
    assert check_sessions([wr, own_pipe], inits)
    # a session's reads go backwards
    r1 = h("plain", 30, 31, result=("data", b"a", 1), session=3, seq=1, zxid=0x11, mzxid=0x10, replies=[0x11])
    r2 = h("plain", 32, 33, result=("data", b"x", 0), session=3, seq=2, zxid=0x11, mzxid=0x5, replies=[0x11])
    assert any("backwards" in m for m in check_sessions([wr, r1, r2], inits))
    # reply zxids go backwards
    r2 = dataclasses.replace(r1, seq=2, zxid=0x9, replies=[0x9], invoke=32, complete=33)
    assert any("reply zxid went backwards" in m for m in check_sessions([wr, r1, r2], inits))
    # a read shows a value nobody wrote, or the right value with the wrong version
    assert check_sessions([wr, dataclasses.replace(good, result=("data", b"zz", 1))], inits)
    assert check_sessions([wr, dataclasses.replace(good, result=("data", b"a", 7))], inits)
    # an indeterminate write may be seen
    lost = h("set", 0, None, b"q", session=4, seq=1)
    seen = h("plain", 5, 6, result=("data", b"q", 1), session=5, seq=1, zxid=0x7, mzxid=0x6, replies=[0x7])
    assert check_sessions([lost, seen], inits) == []
    # NoNode needs a delete after what the session saw
    gone = h("plain", 40, 41, result=("nonode",), session=1, seq=3, zxid=0x13, replies=[0x13])
    assert check_sessions([wr, good, gone], inits)
    dele = h("delete", 35, 36, result=("ok",), session=6, seq=1, zxid=0x11, replies=[0x11])
    assert check_sessions([wr, good, dele, gone], inits) == []
    # write order against real time
    w2 = h("set", 20, 21, b"b", result=("ok", 2), session=7, seq=1, zxid=0xf, mzxid=0xf, replies=[0xf])
    assert any("real time" in m for m in check_sessions([wr, w2], inits))


# ---------------------------------------------------------------- the real thing

@pytest.mark.parametrize("io_threads", [1, 2])
def test_concurrent_history_is_linearizable(io_threads):
    print("linearizability seed %d, ioThreads=%d, %.1fs in rounds of up to %.1fs / %d checked ops per znode, "
          "%d sessions on %d znodes (UK_LIN_SEED / UK_LIN_SECONDS to change)"
          % (SEED, io_threads, SECONDS, ROUND_SECONDS, MAX_OPS_PER_KEY, WORKERS, KEYS))
    cfg = {} if IS_ZK else {"ioThreads": str(io_threads)}
    server = Server(name="lin-io%d" % io_threads, cfg=cfg).start()
    print("server %s in %s (kept if the test fails)" % (server.kind, server.dir))
    passed = False
    spent, rnd, all_ops, per_key = 0.0, 0, [], []
    try:
        while rnd == 0 or spent < SECONDS - 0.25:
            seconds = max(0.5, min(ROUND_SECONDS, SECONDS - spent))
            keys, inits_z, ops, elapsed, stats = run_round(server, rnd, SEED, seconds)
            spent += elapsed
            assert server.alive(), "the server died"
            inits = {k: s for k, (z, s) in inits_z.items()}
            t = time.monotonic()
            verdicts = check_all(ops, inits)
            t_lin = time.monotonic() - t
            t = time.monotonic()
            bad = check_sessions(ops, inits_z)
            t_ses = time.monotonic() - t
            share, width = concurrency(ops)
            print("round %d: %d ops in %.1fs (%s), %.0f%% of the checked ops concurrent with another on their "
                  "znode, up to %d at once: %s" % (rnd, len(ops), elapsed, stats, 100 * share, width, summarize(ops)))
            print("  checked in %.2fs (WGL: %s) + %.2fs (sessions)" % (
                t_lin, ", ".join("%s %d ops/%d steps" % (k.rsplit("/", 1)[1], v.ops, v.steps)
                                 for k, v in verdicts.items()), t_ses))
            for k, v in verdicts.items():
                assert v.ok, "seed %d, ioThreads %d, %s: %s" % (SEED, io_threads, k, v.message)
            assert not bad, "seed %d, ioThreads %d: %d session guarantee violations:\n%s" % (
                SEED, io_threads, len(bad), "\n".join(bad[:20]))
            # the checkers reject a corrupted copy of this very history
            if rnd == 0:
                corrupted = None
                for k in keys:
                    corrupted = stale_read_copy(ops, k, inits[k])
                    if corrupted:
                        bad_ops, what = corrupted
                        v = check_register([o for o in bad_ops if o.key == k], inits[k])
                        assert not v.ok and not v.inconclusive, "stale read not caught: %s: %r" % (what, v)
                        break
                assert corrupted, "no read in the history to corrupt"
                lost = own_write_lost_copy(ops, inits_z)
                assert lost, "no plain read after an own write in the history"
                assert check_sessions(lost[0], inits_z), "lost own write not caught: " + lost[1]
            all_ops += ops
            per_key += [v.ops for v in verdicts.values()]
            rnd += 1
        # the run exercised what it should
        assert min(per_key) >= 20, "too few checked operations on a znode: %s" % per_key
        labels = summarize(all_ops)
        for needed in ("set:ok(cas)", "set:badversion(cas)", "read:data", "read:nonode", "plain:data", "create:ok",
                       "delete:ok"):
            assert needed in labels, "the mix never produced %s: %s" % (needed, labels)
        passed = True
    finally:
        server.stop()
        if passed:
            server.cleanup()
