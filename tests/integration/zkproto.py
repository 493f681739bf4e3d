"""Minimal raw ZooKeeper client protocol (jute) helper for the integration tests.

Only the standard library is used. Everything is synchronous: RawClient.request() sends one
request and reads frames until the reply with the same xid arrives, collecting watch events
(xid -1) that arrive meanwhile into RawClient.events.
"""

import collections
import socket
import struct
import time

# ---------------------------------------------------------------- constants

OP = dict(
    notification=0, create=1, delete=2, exists=3, getData=4, setData=5, getACL=6, setACL=7,
    getChildren=8, sync=9, ping=11, getChildren2=12, check=13, multi=14, create2=15,
    reconfig=16, checkWatches=17, removeWatches=18, createContainer=19, deleteContainer=20,
    createTTL=21, multiRead=22, auth=100, setWatches=101, sasl=102, getEphemerals=103,
    getAllChildrenNumber=104, setWatches2=105, addWatch=106, whoAmI=107, closeSession=-11,
    error=-1,
)

ERR = dict(
    OK=0, SYSTEMERROR=-1, RUNTIMEINCONSISTENCY=-2, DATAINCONSISTENCY=-3, CONNECTIONLOSS=-4,
    MARSHALLINGERROR=-5, UNIMPLEMENTED=-6, OPERATIONTIMEOUT=-7, BADARGUMENTS=-8,
    UNKNOWNSESSION=-12, APIERROR=-100, NONODE=-101, NOAUTH=-102, BADVERSION=-103,
    NOCHILDRENFOREPHEMERALS=-108, NODEEXISTS=-110, NOTEMPTY=-111, SESSIONEXPIRED=-112,
    INVALIDCALLBACK=-113, INVALIDACL=-114, AUTHFAILED=-115, SESSIONMOVED=-118,
    NOTREADONLY=-119, EPHEMERALONLOCALSESSION=-120, NOWATCHER=-121,
)
ERR_NAME = {v: k for k, v in ERR.items()}

# Watch event types / watcher types
EV_NONE, EV_CREATED, EV_DELETED, EV_DATA, EV_CHILD = -1, 1, 2, 3, 4
STATE_SYNC_CONNECTED = 3
WT_CHILDREN, WT_DATA, WT_ANY, WT_PERSISTENT, WT_PERSISTENT_RECURSIVE = 1, 2, 3, 4, 5
ADD_WATCH_PERSISTENT, ADD_WATCH_PERSISTENT_RECURSIVE = 0, 1

PERM_READ, PERM_WRITE, PERM_CREATE, PERM_DELETE, PERM_ADMIN, PERM_ALL = 1, 2, 4, 8, 16, 31
OPEN_ACL = [(PERM_ALL, "world", "anyone")]

# create flags
F_PERSISTENT, F_EPHEMERAL, F_SEQUENTIAL, F_EPHEMERAL_SEQUENTIAL = 0, 1, 2, 3
F_CONTAINER, F_TTL, F_SEQUENTIAL_TTL = 4, 5, 6

PING_XID, WATCH_XID, AUTH_XID, SETWATCHES_XID = -2, -1, -4, -8

Stat = collections.namedtuple(
    "Stat", "czxid mzxid ctime mtime version cversion aversion ephemeralOwner dataLength numChildren pzxid")
Event = collections.namedtuple("Event", "type state path")
Reply = collections.namedtuple("Reply", "xid zxid err body")


class ZKError(Exception):
    def __init__(self, code, what=""):
        self.code = code
        super().__init__("%s (%d) %s" % (ERR_NAME.get(code, "?"), code, what))


class ConnectionClosed(Exception):
    pass


# ---------------------------------------------------------------- jute encoding

class W:
    def __init__(self):
        self.b = bytearray()

    def int(self, v):
        self.b += struct.pack(">i", v)
        return self

    def long(self, v):
        self.b += struct.pack(">q", v)
        return self

    def bool(self, v):
        self.b += b"\x01" if v else b"\x00"
        return self

    def buffer(self, v):
        if v is None:
            return self.int(-1)
        self.int(len(v))
        self.b += v
        return self

    def ustring(self, v):
        return self.buffer(None if v is None else v.encode("utf-8"))

    def strings(self, lst):
        if lst is None:
            return self.int(-1)
        self.int(len(lst))
        for s in lst:
            self.ustring(s)
        return self

    def acls(self, lst):
        if lst is None:
            return self.int(-1)
        self.int(len(lst))
        for perms, scheme, ident in lst:
            self.int(perms).ustring(scheme).ustring(ident)
        return self

    def bytes(self):
        return bytes(self.b)


class R:
    def __init__(self, data, pos=0):
        self.d = data
        self.p = pos

    def _take(self, n):
        if self.p + n > len(self.d):
            raise ValueError("short read: need %d at %d of %d" % (n, self.p, len(self.d)))
        v = self.d[self.p:self.p + n]
        self.p += n
        return v

    def int(self):
        return struct.unpack(">i", self._take(4))[0]

    def long(self):
        return struct.unpack(">q", self._take(8))[0]

    def bool(self):
        return self._take(1) != b"\x00"

    def buffer(self):
        n = self.int()
        if n < 0:
            return None
        return bytes(self._take(n))

    def ustring(self):
        b = self.buffer()
        return None if b is None else b.decode("utf-8")

    def strings(self):
        n = self.int()
        if n < 0:
            return None
        return [self.ustring() for _ in range(n)]

    def stat(self):
        return Stat(self.long(), self.long(), self.long(), self.long(), self.int(), self.int(),
                    self.int(), self.long(), self.int(), self.int(), self.long())

    def acls(self):
        n = self.int()
        if n < 0:
            return None
        return [(self.int(), self.ustring(), self.ustring()) for _ in range(n)]

    def remaining(self):
        return len(self.d) - self.p


def frame(payload):
    return struct.pack(">i", len(payload)) + payload


def connect_request(timeout_ms=10000, session_id=0, passwd=b"\0" * 16, last_zxid=0, read_only=False,
                    send_read_only=True):
    w = W().int(0).long(last_zxid).int(timeout_ms).long(session_id).buffer(passwd)
    if send_read_only:
        w.bool(read_only)
    return w.bytes()


def stat_is_ttl(owner):
    return (owner >> 56) & 0xFF == 0xFF


# ---------------------------------------------------------------- client

class RawClient:
    """One TCP connection speaking the ZooKeeper client protocol."""

    def __init__(self, port, host="127.0.0.1", timeout_ms=10000, session_id=0, passwd=b"\0" * 16,
                 last_zxid=0, handshake=True, sock_timeout=15.0, read_only=False, send_read_only=True):
        self.host, self.port = host, port
        self.sock = socket.create_connection((host, port), timeout=sock_timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.xid = 0
        self.events = []
        self.last_zxid = last_zxid
        self.session_id = None
        self.passwd = None
        self.negotiated_timeout = None
        self.read_only = None
        self._buf = bytearray()
        if handshake:
            self.handshake(timeout_ms, session_id, passwd, last_zxid, read_only, send_read_only)

    # --- low level
    def send_raw(self, data):
        self.sock.sendall(data)

    def send_frame(self, payload):
        self.sock.sendall(frame(payload))

    def _fill(self, n):
        while len(self._buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionClosed("EOF after %d of %d bytes" % (len(self._buf), n))
            self._buf += chunk

    def recv_frame(self):
        self._fill(4)
        (n,) = struct.unpack(">i", self._buf[:4])
        self._fill(4 + n)
        data = bytes(self._buf[4:4 + n])
        del self._buf[:4 + n]
        return data

    def is_closed_by_peer(self, timeout=5.0):
        """True if the peer closes the connection (EOF or reset) within timeout; unread data is discarded."""
        self.sock.settimeout(timeout)
        deadline = time.time() + timeout
        try:
            while time.time() < deadline:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    # --- handshake
    def handshake(self, timeout_ms=10000, session_id=0, passwd=b"\0" * 16, last_zxid=0, read_only=False,
                  send_read_only=True):
        self.send_frame(connect_request(timeout_ms, session_id, passwd, last_zxid, read_only, send_read_only))
        r = R(self.recv_frame())
        proto = r.int()
        assert proto == 0, proto
        self.negotiated_timeout = r.int()
        self.session_id = r.long()
        self.passwd = r.buffer()
        self.read_only = r.bool() if r.remaining() else None
        return self.negotiated_timeout, self.session_id, self.passwd

    # --- request / reply
    def next_xid(self):
        self.xid += 1
        return self.xid

    def send_request(self, op, body=b"", xid=None):
        if xid is None:
            xid = self.next_xid()
        self.send_frame(struct.pack(">ii", xid, op) + body)
        return xid

    def read_packet(self):
        """Reads one server frame; watch events are returned as Event, replies as Reply."""
        data = self.recv_frame()
        r = R(data)
        xid, zxid, err = r.int(), r.long(), r.int()
        if xid == WATCH_XID:
            ev = Event(r.int(), r.int(), r.ustring())
            return ev
        if zxid > self.last_zxid:
            self.last_zxid = zxid
        return Reply(xid, zxid, err, r)

    def read_reply(self, xid=None):
        while True:
            p = self.read_packet()
            if isinstance(p, Event):
                self.events.append(p)
                continue
            if xid is not None and p.xid != xid:
                if p.xid == PING_XID:
                    continue
                raise AssertionError("reply xid %d, expected %d" % (p.xid, xid))
            return p

    def request(self, op, body=b"", check=True):
        xid = self.send_request(op, body)
        rep = self.read_reply(xid)
        if check and rep.err != 0:
            raise ZKError(rep.err, "op %d" % op)
        return rep

    def wait_event(self, timeout=5.0):
        """Returns the next watch event (already buffered or arriving within timeout)."""
        if self.events:
            return self.events.pop(0)
        self.sock.settimeout(timeout)
        try:
            while True:
                p = self.read_packet()
                if isinstance(p, Event):
                    return p
        except socket.timeout:
            return None
        finally:
            self.sock.settimeout(15.0)

    def drain_events(self, quiet=0.3):
        out = []
        while True:
            ev = self.wait_event(quiet)
            if ev is None:
                return out
            out.append(ev)

    # --- operations (raise ZKError on error)
    def ping(self):
        self.send_frame(struct.pack(">ii", PING_XID, OP["ping"]))
        return self.read_reply(PING_XID)

    def create(self, path, data=b"", acl=OPEN_ACL, flags=0):
        rep = self.request(OP["create"], W().ustring(path).buffer(data).acls(acl).int(flags).bytes())
        return rep.body.ustring()

    def create2(self, path, data=b"", acl=OPEN_ACL, flags=0, op="create2"):
        rep = self.request(OP[op], W().ustring(path).buffer(data).acls(acl).int(flags).bytes())
        return rep.body.ustring(), rep.body.stat()

    def create_container(self, path, data=b"", acl=OPEN_ACL):
        return self.create2(path, data, acl, F_CONTAINER, op="createContainer")

    def create_ttl(self, path, ttl, data=b"", acl=OPEN_ACL, flags=F_TTL):
        rep = self.request(OP["createTTL"],
                           W().ustring(path).buffer(data).acls(acl).int(flags).long(ttl).bytes())
        return rep.body.ustring(), rep.body.stat()

    def delete(self, path, version=-1):
        self.request(OP["delete"], W().ustring(path).int(version).bytes())

    def exists(self, path, watch=False):
        rep = self.request(OP["exists"], W().ustring(path).bool(watch).bytes(), check=False)
        if rep.err == ERR["NONODE"]:
            return None
        if rep.err:
            raise ZKError(rep.err)
        return rep.body.stat()

    def get(self, path, watch=False):
        rep = self.request(OP["getData"], W().ustring(path).bool(watch).bytes())
        return rep.body.buffer(), rep.body.stat()

    def set(self, path, data, version=-1):
        rep = self.request(OP["setData"], W().ustring(path).buffer(data).int(version).bytes())
        return rep.body.stat()

    def get_children(self, path, watch=False):
        rep = self.request(OP["getChildren"], W().ustring(path).bool(watch).bytes())
        return rep.body.strings()

    def get_children2(self, path, watch=False):
        rep = self.request(OP["getChildren2"], W().ustring(path).bool(watch).bytes())
        return rep.body.strings(), rep.body.stat()

    def get_acl(self, path):
        rep = self.request(OP["getACL"], W().ustring(path).bytes())
        return rep.body.acls(), rep.body.stat()

    def set_acl(self, path, acl, version=-1):
        rep = self.request(OP["setACL"], W().ustring(path).acls(acl).int(version).bytes())
        return rep.body.stat()

    def sync(self, path):
        return self.request(OP["sync"], W().ustring(path).bytes()).body.ustring()

    def add_auth(self, scheme, auth):
        self.send_frame(struct.pack(">ii", AUTH_XID, OP["auth"]) + W().int(0).ustring(scheme).buffer(auth).bytes())
        rep = self.read_reply(AUTH_XID)
        if rep.err:
            raise ZKError(rep.err)
        return rep

    def add_watch(self, path, mode):
        self.request(OP["addWatch"], W().ustring(path).int(mode).bytes())

    def check_watches(self, path, wtype):
        self.request(OP["checkWatches"], W().ustring(path).int(wtype).bytes())

    def remove_watches(self, path, wtype):
        self.request(OP["removeWatches"], W().ustring(path).int(wtype).bytes())

    def get_ephemerals(self, prefix):
        return self.request(OP["getEphemerals"], W().ustring(prefix).bytes()).body.strings()

    def get_all_children_number(self, path):
        return self.request(OP["getAllChildrenNumber"], W().ustring(path).bytes()).body.int()

    def whoami(self):
        r = self.request(OP["whoAmI"]).body
        n = r.int()
        return [(r.ustring(), r.ustring()) for _ in range(n)]

    def set_watches(self, rel_zxid, data=(), exist=(), child=()):
        body = W().long(rel_zxid).strings(list(data)).strings(list(exist)).strings(list(child)).bytes()
        self.send_frame(struct.pack(">ii", SETWATCHES_XID, OP["setWatches"]) + body)
        rep = self.read_reply(SETWATCHES_XID)
        if rep.err:
            raise ZKError(rep.err)
        return rep

    def set_watches2(self, rel_zxid, data=(), exist=(), child=(), persistent=(), recursive=()):
        body = (W().long(rel_zxid).strings(list(data)).strings(list(exist)).strings(list(child))
                .strings(list(persistent)).strings(list(recursive)).bytes())
        self.send_frame(struct.pack(">ii", SETWATCHES_XID, OP["setWatches2"]) + body)
        rep = self.read_reply(SETWATCHES_XID)
        if rep.err:
            raise ZKError(rep.err)
        return rep

    def multi_read(self, ops):
        """ops: list of ('getData'|'getChildren', path). Returns list of (kind, value-or-errcode)."""
        w = W()
        for kind, path in ops:
            w.int(OP[kind]).bool(False).int(-1).ustring(path).bool(False)
        w.int(-1).bool(True).int(-1)
        rep = self.request(OP["multiRead"], w.bytes())
        return parse_multi_response(rep.body)

    def multi(self, ops):
        """ops: list of tuples: ('create', path, data, flags) | ('delete', path, version) |
        ('setData', path, data, version) | ('check', path, version) | ('create2', path, data, flags).
        Returns (reply_err, results)."""
        w = W()
        for op in ops:
            kind = op[0]
            w.int(OP[kind]).bool(False).int(-1)
            if kind in ("create", "create2", "createContainer"):
                w.ustring(op[1]).buffer(op[2]).acls(OPEN_ACL).int(op[3])
            elif kind == "delete":
                w.ustring(op[1]).int(op[2])
            elif kind == "setData":
                w.ustring(op[1]).buffer(op[2]).int(op[3])
            elif kind == "check":
                w.ustring(op[1]).int(op[2])
            elif kind in ("getData", "getChildren"):
                w.ustring(op[1]).bool(False)
            else:
                raise ValueError(kind)
        w.int(-1).bool(True).int(-1)
        rep = self.request(OP["multi"], w.bytes(), check=False)
        if rep.err:
            return rep.err, None
        return 0, parse_multi_response(rep.body)

    def close_session(self):
        rep = self.request(OP["closeSession"], check=False)
        return rep


def parse_multi_response(r):
    out = []
    while True:
        typ, done = r.int(), r.bool()
        r.int()  # err field of the MultiHeader (per-op errors come as ErrorResponse bodies)
        if done:
            assert typ == -1, typ
            break
        if typ == -1:
            out.append(("error", r.int()))
        elif typ == OP["getData"]:
            out.append(("getData", (r.buffer(), r.stat())))
        elif typ == OP["getChildren"]:
            out.append(("getChildren", r.strings()))
        elif typ == OP["create"]:
            out.append(("create", r.ustring()))
        elif typ in (OP["create2"], OP["createContainer"], OP["createTTL"]):
            out.append(("create2", (r.ustring(), r.stat())))
        elif typ == OP["setData"]:
            out.append(("setData", r.stat()))
        elif typ in (OP["delete"], OP["check"]):
            out.append(("delete" if typ == OP["delete"] else "check", None))
        else:
            raise AssertionError("unexpected multi result type %d" % typ)
    return out


def four_letter(port, cmd, host="127.0.0.1", timeout=10.0):
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(cmd.encode())
        chunks = []
        while True:
            try:
                c = s.recv(65536)
            except ConnectionResetError:
                break
            if not c:
                break
            chunks.append(c)
        return b"".join(chunks).decode("utf-8", "replace")


def mntr(port, host="127.0.0.1", timeout=10.0):
    """The `mntr` four-letter word's keys and values (strings)."""
    out = four_letter(port, "mntr", host=host, timeout=timeout)
    return dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)


def wait_until(pred, timeout=10.0, interval=0.05, msg="condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out after %.1fs waiting for %s (last=%r)" % (timeout, msg, last))
