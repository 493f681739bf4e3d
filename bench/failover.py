"""Leader fail-over time of a 3-member ensemble, as one writing client sees it (bench/compare, 3-node topology).

One client session writes continuously: synchronous setData of a 100-byte value on one znode, one request at a
time. On connection loss (EOF, reset, refused, or no reply within the request time-out) it reconnects at once to the
next member in turn, round robin over all three, re-attaching its session (session id, password and last zxid seen,
as ZooKeeper's own clients do); only after a whole round of members refused does it sleep, briefly (10 ms), so what
is measured is the servers' recovery, not the client's back-off. A member that says the session expired gets a new
session (counted: with the 30 s session time-out neither server should need it).

The measurement: the leader is SIGKILLed at t_kill (monotonic clock, read just before kill(2)); the fail-over time is
from t_kill to the reply of the first write *sent* after t_kill that succeeded. A write already in flight at the kill
does not count even if it succeeds (it may have committed before the leader died). Before each kill the client is
moved to a follower, so every repetition starts from the same place: a client on a follower whose leader dies.

The client speaks the protocol itself (only the standard library), so the same code measures both servers.
Thread-safety: a Writer runs on its own thread; first_write_after(), move_to(), wait_writes() and stats() are called
from another and synchronize through the writer's lock. The writer time-stamps its own events, so how often the
measuring thread looks at them does not change the figures.
"""

import collections
import socket
import struct
import threading
import time

OP_CREATE, OP_SET_DATA, OP_CLOSE = 1, 5, -11
PING_XID, WATCH_XID = -2, -1
ERR_NODEEXISTS = -110
OPEN_ACL = struct.pack(">ii", 1, 31) + struct.pack(">i", 5) + b"world" + struct.pack(">i", 6) + b"anyone"


class ConnectionLost(Exception):
    pass


def _ustring(s):
    b = s.encode()
    return struct.pack(">i", len(b)) + b


def _buffer(b):
    return struct.pack(">i", len(b)) + b


class Connection:
    """One TCP connection carrying one session; every call raises ConnectionLost on any transport problem."""

    def __init__(self, port, session_id, passwd, last_zxid, session_timeout_ms, io_timeout_s):
        try:
            self.sock = socket.create_connection(("127.0.0.1", port), timeout=io_timeout_s)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as e:
            raise ConnectionLost("connect: %s" % e) from None
        self.buf = bytearray()
        self.xid = 0
        self.last_zxid = last_zxid
        body = struct.pack(">iqiq", 0, last_zxid, session_timeout_ms, session_id) + _buffer(passwd) + b"\0"
        try:
            self.send(body)
            reply = self.recv_frame()
            _proto, self.timeout_ms, self.session_id = struct.unpack(">iiq", reply[:16])
            (n,) = struct.unpack(">i", reply[16:20])
            self.passwd = bytes(reply[20:20 + n])
        except (struct.error, ValueError) as e:
            self.close()
            raise ConnectionLost("bad handshake reply: %s" % e) from None
        except ConnectionLost:
            self.close()
            raise

    @property
    def expired(self):
        return self.timeout_ms <= 0  # ZooKeeper's answer to a session that no longer exists

    def send(self, payload):
        try:
            self.sock.sendall(struct.pack(">i", len(payload)) + payload)
        except OSError as e:
            raise ConnectionLost("send: %s" % e) from None

    def recv_frame(self):
        while True:
            if len(self.buf) >= 4:
                (n,) = struct.unpack(">i", self.buf[:4])
                if len(self.buf) >= 4 + n:
                    frame = bytes(self.buf[4:4 + n])
                    del self.buf[:4 + n]
                    return frame
            try:
                chunk = self.sock.recv(65536)
            except OSError as e:  # includes socket.timeout: the request time-out
                raise ConnectionLost("recv: %s" % e) from None
            if not chunk:
                raise ConnectionLost("closed by the server")
            self.buf += chunk

    def request(self, op, body):
        """Sends one request and returns the error code of its reply."""
        self.xid += 1
        self.send(struct.pack(">ii", self.xid, op) + body)
        while True:
            frame = self.recv_frame()
            xid, zxid, err = struct.unpack(">iqi", frame[:16])
            if xid in (PING_XID, WATCH_XID):
                continue
            if xid != self.xid:
                raise ConnectionLost("reply xid %d, expected %d" % (xid, self.xid))
            if zxid > self.last_zxid:
                self.last_zxid = zxid
            return err

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Writer(threading.Thread):
    """The writing client. ports: {member id: client port}."""

    def __init__(self, ports, first, path="/bench-failover", value_bytes=100, session_timeout_ms=30000,
                 io_timeout_s=5.0):
        super().__init__(daemon=True)
        self.ports, self.order = ports, sorted(ports)
        self.path, self.value = path, b"v" * value_bytes
        self.session_timeout_ms, self.io_timeout_s = session_timeout_ms, io_timeout_s
        self.lock = threading.Lock()
        self.stop_flag = threading.Event()
        self.target = first  # member to (re)connect to first
        self.moving = False
        self.conn, self.connected_to = None, None  # the current connection and the member it is to
        self.session_id, self.passwd, self.last_zxid = 0, b"\0" * 16, 0
        self.ok, self.errors, self.new_sessions, self.reconnects = 0, 0, 0, 0
        self.events = collections.deque(maxlen=4096)  # ("ok", sent, done, member) and ("lost", when, None, member)
        self.failure = None

    # --- called from the measuring thread

    def stats(self):
        with self.lock:
            return {"writes_ok": self.ok, "write_errors": self.errors, "reconnects": self.reconnects,
                    "new_sessions": self.new_sessions}

    def move_to(self, member, timeout=30.0):
        """Re-attaches the session to `member` and waits until a write has succeeded there."""
        with self.lock:
            self.target, self.moving = member, True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if not self.moving and self.connected_to == member:
                    break
            time.sleep(0.01)
        else:
            raise RuntimeError("fail-over client could not move to member %d within %.0fs" % (member, timeout))
        self.wait_writes(20, timeout)

    def wait_writes(self, n, timeout=30.0):
        start = self.stats()["writes_ok"]
        deadline = time.monotonic() + timeout
        while self.stats()["writes_ok"] < start + n:
            if time.monotonic() > deadline or self.failure:
                raise RuntimeError("fail-over client: fewer than %d writes in %.0fs (%s)" % (n, timeout, self.failure))
            time.sleep(0.01)

    def first_write_after(self, t, timeout):
        """The first successful write sent at or after monotonic time t, waiting up to timeout for it:
        {"failover_s", "detected_s" (first connection loss after t), "served_by"}, or None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.failure:
            with self.lock:
                events = list(self.events)
            detected = next((e[1] for e in events if e[0] == "lost" and e[1] >= t), None)
            for e in events:
                if e[0] == "ok" and e[1] >= t:
                    return {"failover_s": e[2] - t, "detected_s": detected - t if detected is not None else None,
                            "served_by": e[3]}
            time.sleep(0.002)
        return None

    def stop(self):
        self.stop_flag.set()
        self.join(timeout=10)
        if self.conn:
            try:
                self.conn.send(struct.pack(">ii", 1 << 30, OP_CLOSE))
            except ConnectionLost:
                pass
            self.conn.close()

    # --- the writer's own thread

    def connect(self):
        """Connects to self.target, else to the next members in turn; sleeps 10 ms after each whole round."""
        tries = 0
        while not self.stop_flag.is_set():
            with self.lock:
                member = self.target
            try:
                c = Connection(self.ports[member], self.session_id, self.passwd, self.last_zxid,
                               self.session_timeout_ms, self.io_timeout_s)
                if c.expired:
                    c.close()
                    with self.lock:
                        self.new_sessions += 1
                    self.session_id, self.passwd = 0, b"\0" * 16
                    continue
                self.session_id, self.passwd = c.session_id, c.passwd
                with self.lock:
                    self.conn, self.connected_to, self.moving = c, member, False
                return
            except ConnectionLost:
                tries += 1
                with self.lock:
                    if not self.moving:  # when moving, insist on the chosen member
                        self.target = self.order[(self.order.index(member) + 1) % len(self.order)]
                if tries % len(self.order) == 0:
                    time.sleep(0.01)

    def drop(self):
        if self.conn:
            self.last_zxid = max(self.last_zxid, self.conn.last_zxid)
            self.conn.close()
        with self.lock:
            self.conn, self.reconnects = None, self.reconnects + 1
            self.events.append(("lost", time.monotonic(), None, self.connected_to))
            if not self.moving and self.connected_to is not None:
                self.target = self.order[(self.order.index(self.connected_to) + 1) % len(self.order)]
            self.connected_to = None

    def run(self):
        try:
            self.connect()
            err = self.conn.request(OP_CREATE, _ustring(self.path) + _buffer(self.value) + OPEN_ACL +
                                    struct.pack(">i", 0))
            if err not in (0, ERR_NODEEXISTS):
                raise RuntimeError("create %s: error %d" % (self.path, err))
            body = _ustring(self.path) + _buffer(self.value) + struct.pack(">i", -1)
            while not self.stop_flag.is_set():
                with self.lock:
                    move = self.moving
                if move:
                    self.drop()
                    self.connect()
                    continue
                if self.conn is None:
                    self.connect()
                    continue
                sent = time.monotonic()
                try:
                    err = self.conn.request(OP_SET_DATA, body)
                except ConnectionLost:
                    self.drop()
                    continue
                done = time.monotonic()
                with self.lock:
                    if err != 0:
                        self.errors += 1
                        continue
                    self.ok += 1
                    self.events.append(("ok", sent, done, self.connected_to))
        except Exception as e:  # noqa: BLE001 - reported to the measuring thread
            self.failure = "%s: %s" % (type(e).__name__, e)


def measure(ensemble, reps, log, rejoin_timeout=120.0, result_timeout=60.0):
    """reps leader kills with the writer on a follower; restarts the killed member and waits until it is a follower
    again between repetitions. Returns a dict with every repetition and the writer's counters."""
    leader = ensemble.leader()
    follower = [i for i in ensemble.ids if i != leader][0]
    w = Writer(ensemble.ports(), follower)
    w.start()
    runs = []
    try:
        w.wait_writes(50)
        for rep in range(1, reps + 1):
            leader = ensemble.leader()
            follower = [i for i in ensemble.ids if i != leader][0]
            w.move_to(follower)
            w.wait_writes(200)  # steady state: a few hundred ms of writes through the follower
            before = w.stats()
            t_kill = ensemble.kill(leader)
            res = w.first_write_after(t_kill, result_timeout)
            if w.failure:
                raise RuntimeError("fail-over client failed: %s" % w.failure)
            if res is None:
                raise RuntimeError("%s: no successful write within %.0fs of killing leader %d (modes %s)"
                                   % (ensemble.kind, result_timeout, leader, ensemble.modes()))
            t0 = time.monotonic()
            ensemble.start_member(leader)
            new_leader = ensemble.wait_serving(timeout=rejoin_timeout)
            rejoin_s = time.monotonic() - t0
            after = w.stats()
            run = {"rep": rep, "killed_leader": leader, "client_on": follower, "new_leader": new_leader,
                   "failover_s": res["failover_s"], "detected_s": res["detected_s"],
                   "first_write_served_by": res["served_by"], "killed_member_follower_again_s": rejoin_s,
                   "write_errors": after["write_errors"] - before["write_errors"],
                   "reconnects": after["reconnects"] - before["reconnects"],
                   "new_sessions": after["new_sessions"] - before["new_sessions"]}
            runs.append(run)
            log("   %-9s fail-over %d/%d: killed leader %d, first write after %.0f ms (connection lost after %s, "
                "served by %d, new leader %d); member %d follower again %.1fs after restart"
                % (ensemble.kind, rep, reps, leader, run["failover_s"] * 1e3,
                   "%.0f ms" % (run["detected_s"] * 1e3) if run["detected_s"] is not None else "-",
                   res["served_by"], new_leader, leader, rejoin_s))
    finally:
        w.stop()
    return {"runs": runs, "writer": w.stats()}
