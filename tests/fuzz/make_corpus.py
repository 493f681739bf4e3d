#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets: tests/fuzz/corpus/{request,txn,snapshot,wal,zab}/.

Each request seed is one client connection as the server reads it: length-prefixed frames, the first a
ConnectRequest, then RequestHeader + body frames (zookeeper-protocol.md §1-§5). Each txn seed is one encoded Txn
as storage/src/tree/txn.cc writes it. Snapshot and WAL seeds follow the formats in snapshot.h and wal.h, with the
mode byte their targets read first (fuzz_snapshot.cc, fuzz_wal.cc). The seeds only need to be well-formed and varied; the fuzzer does the rest.
Deterministic: running it twice writes identical files. Usage: tests/fuzz/make_corpus.py
"""
import base64
import hashlib
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

# ---------------------------------------------------------------------------------------------------------------
# Jute primitives (big-endian, zookeeper-protocol.md §1).


def i32(v):
    return struct.pack(">i", v)


def i64(v):
    return struct.pack(">q", v)


def boolean(v):
    return b"\x01" if v else b"\x00"


def buf(b):
    if b is None:
        return i32(-1)
    if isinstance(b, str):
        b = b.encode()
    return i32(len(b)) + b


def acl_list(entries):
    out = i32(len(entries))
    for perms, scheme, ident in entries:
        out += i32(perms) + buf(scheme) + buf(ident)
    return out


def digest(user_colon_password):
    """ZooKeeper's digest id: user:base64(sha1(user:password))."""
    user = user_colon_password.split(":", 1)[0]
    return user + ":" + base64.b64encode(hashlib.sha1(user_colon_password.encode()).digest()).decode()


def frame(body):
    return i32(len(body)) + body


OPEN = [(31, "world", "anyone")]

# ---------------------------------------------------------------------------------------------------------------
# Client requests.


def connect(timeout_ms=10000, read_only=True):
    body = i32(0) + i64(0) + i32(timeout_ms) + i64(0) + buf(b"\0" * 16)
    if read_only:
        body += boolean(False)
    return frame(body)


def req(xid, op, body=b""):
    return frame(i32(xid) + i32(op) + body)


def create_body(path, data=b"", flags=0, acl=OPEN, ttl=None):
    b = buf(path) + buf(data) + acl_list(acl) + i32(flags)
    if ttl is not None:
        b += i64(ttl)
    return b


def create(xid, path, data=b"", flags=0, acl=OPEN, op=1):
    return req(xid, op, create_body(path, data, flags, acl))


def create_ttl(xid, path, ttl, flags=5, data=b""):
    return req(xid, 21, create_body(path, data, flags, OPEN, ttl))


def delete(xid, path, version=-1, op=2):
    return req(xid, op, buf(path) + i32(version))


def path_watch(xid, op, path, watch=False):
    return req(xid, op, buf(path) + boolean(watch))


def path_only(xid, op, path):
    return req(xid, op, buf(path))


def set_data(xid, path, data, version=-1):
    return req(xid, 5, buf(path) + buf(data) + i32(version))


def set_acl(xid, path, acl, version=-1):
    return req(xid, 7, buf(path) + acl_list(acl) + i32(version))


def path_int(xid, op, path, value):
    return req(xid, op, buf(path) + i32(value))


def multi_header(op, done=False, err=-1):
    return i32(op) + boolean(done) + i32(err)


def multi(xid, ops, op=14):
    body = b""
    for mop, mbody in ops:
        body += multi_header(mop) + mbody
    body += multi_header(-1, True)
    return req(xid, op, body)


def string_list(items):
    return i32(len(items)) + b"".join(buf(s) for s in items)


def set_watches(xid, rel, data, exist, child, persistent=None, recursive=None):
    body = i64(rel) + string_list(data) + string_list(exist) + string_list(child)
    op = 101
    if persistent is not None:
        body += string_list(persistent) + string_list(recursive or [])
        op = 105
    return req(xid, op, body)


def auth(scheme, cred):
    return req(-4, 100, i32(0) + buf(scheme) + buf(cred))


def ping():
    return req(-2, 11)


def close_session(xid):
    return req(xid, -11)


def request_seeds():
    c = connect()
    s = {}
    s["connect_only"] = c
    s["connect_no_readonly"] = connect(read_only=False) + ping()
    s["create_get"] = (c + create(1, "/a", b"hello") + path_watch(2, 4, "/a", True) + path_watch(3, 3, "/a") +
                       set_data(4, "/a", b"world", 0) + path_watch(5, 8, "/", True) + path_watch(6, 12, "/a"))
    s["create_modes"] = (c + create(1, "/p", b"", 0) + create(2, "/p/e", b"x", 1) + create(3, "/p/s-", b"", 2) +
                         create(4, "/p/es-", b"", 3) + create(5, "/c", b"", 4, op=19) + create(6, "/p/s-", op=15, flags=2))
    s["ttl"] = (c + create_ttl(1, "/t", 1) + create_ttl(2, "/ts-", 5000, flags=6) + path_watch(3, 3, "/t") +
                path_watch(4, 8, "/"))
    s["container_reap"] = (c + create(1, "/c", b"", 4, op=19) + create(2, "/c/x", b"") + delete(3, "/c/x") +
                           path_watch(4, 3, "/c", True) + delete(5, "/c", op=20))
    s["delete_versions"] = (c + create(1, "/d", b"1") + delete(2, "/d", 5) + set_data(3, "/d", b"2", 0) +
                            delete(4, "/d", 1) + delete(5, "/d") + delete(6, "/zookeeper"))
    s["nested"] = (c + create(1, "/a") + create(2, "/a/b") + create(3, "/a/b/c", b"deep") + delete(4, "/a") +
                   path_only(5, 104, "/a") + delete(6, "/a/b/c") + delete(7, "/a/b") + delete(8, "/a"))
    s["acl"] = (c + create(1, "/x") + create(2, "/r", b"", 0, [(1, "world", "anyone")]) + create(3, "/r/y") +
                set_acl(4, "/r", OPEN) + set_acl(5, "/x", [(31, "ip", "127.0.0.1")], 0) + create(6, "/x/z") +
                path_only(7, 6, "/x") + set_acl(8, "/x", [(31, "ip", "10.0.0.0/8"), (1, "ip", "127.0.0.0/24")], 1) +
                path_watch(9, 4, "/x") + create(10, "/x/w") + set_acl(11, "/x", OPEN))
    s["acl_ipv6"] = (c + create(1, "/v6", b"", 0, [(31, "ip", "::1"), (1, "ip", "fe80::/10"), (1, "world", "anyone")]) +
                     path_watch(2, 4, "/v6") + set_acl(3, "/v6", OPEN) + create(4, "/bad", acl=[(31, "ip", "1.2.3.4/99")]))
    s["auth_digest"] = (c + auth("digest", "u:p") + create(1, "/u", b"", 0, [(31, "auth", "")]) +
                        create(2, "/v", b"", 0, [(31, "digest", digest("u:p"))]) +
                        path_only(3, 6, "/u") + req(4, 107))
    s["auth_bad"] = c + auth("nosuch", "x") + create(1, "/never")
    s["auth_super"] = (c + create(1, "/locked", b"", 0, [(0, "world", "anyone")]) + auth("digest", "super:secret") +
                       path_only(2, 6, "/zookeeper/config") + set_acl(3, "/locked", OPEN) +
                       set_data(4, "/zookeeper/config", b"x"))
    s["multi_ok"] = (c + multi(1, [(1, create_body("/m")), (15, create_body("/m/n", b"d")),
                                   (13, buf("/m") + i32(0)), (5, buf("/m/n") + buf(b"e") + i32(0)),
                                   (2, buf("/m/n") + i32(-1))]) + path_watch(2, 8, "/m"))
    s["multi_fail"] = (c + create(1, "/f") + multi(2, [(2, buf("/f") + i32(-1)), (13, buf("/f") + i32(0)),
                                                     (1, create_body("/f/g"))]) + multi(3, []))
    s["multi_read"] = (c + create(1, "/r", b"data") + multi(2, [(4, buf("/r") + boolean(True)),
                                                              (8, buf("/") + boolean(False)),
                                                              (4, buf("/missing") + boolean(False))], op=22))
    s["set_watches"] = (c + create(1, "/w", b"") + set_data(2, "/w", b"x") +
                        set_watches(-8, 0, ["/w", "/gone"], ["/w", "/later"], ["/", "/gone"]) + create(3, "/later") +
                        set_watches(-8, 1, ["/w"], [], ["/w"], ["/p"], ["/"]) + create(4, "/p") + delete(5, "/p"))
    s["watch_admin"] = (c + path_int(1, 106, "/", 1) + path_int(2, 106, "/q", 0) + create(3, "/q") +
                        path_int(4, 17, "/q", 4) + path_int(5, 18, "/", 5) + path_int(6, 18, "/q", 3) +
                        path_int(7, 17, "/q", 3) + path_int(8, 106, "/q", 2))
    s["misc"] = (c + path_only(1, 9, "/") + create(2, "/e", b"", 1) + create(3, "/e2", b"", 1) +
                 path_only(4, 103, "/") + path_only(5, 103, "/e2") + path_only(6, 104, "/") + req(7, 107) +
                 req(8, 16, buf("") + buf("") + buf("") + i64(-1)) + req(9, 102, buf(b"")))
    s["close_session"] = (c + create(1, "/eph", b"", 1) + create(2, "/eph2", b"", 3) + path_watch(3, 3, "/eph", True) +
                          close_session(4) + create(5, "/after"))
    s["bad_opcodes"] = c + req(1, 13, buf("/") + i32(0)) + create(2, "/never")
    s["bad_paths"] = (c + create(1, "a") + create(2, "/a/") + create(3, "//") + create(4, "/a/./b") +
                      create(5, "/\u0001") + create(6, "/zookeeper") + create(7, "/") + path_watch(8, 4, ""))
    s["bad_args"] = (c + create(1, "/b", flags=7) + create(2, "/b", flags=4) + create_ttl(3, "/b", 0) +
                     create_ttl(4, "/b", 1, flags=0) + create(5, "/b", acl=[]) + create(6, "/b", acl=[(31, "auth", "")]) +
                     req(7, 1, buf("/b")))
    s["null_data"] = c + create(1, "/n", None) + path_watch(2, 4, "/n") + set_data(3, "/n", None) + set_data(4, "/n", b"")
    s["sequential_many"] = c + create(1, "/s") + b"".join(create(i, "/s/n-", flags=2) for i in range(2, 12))
    s["bad_frame_length"] = c + create(1, "/ok") + i32(-5) + create(2, "/never")
    s["truncated_frame"] = c + create(1, "/ok") + i32(100) + b"\0\0\0\1"
    return s


# ---------------------------------------------------------------------------------------------------------------
# Txns (storage/src/tree/txn.cc).


def txn_op(typ, path="", data=None, acl=(), owner=0, parent_cversion=0, version=0, timeout_ms=0, err=0):
    return (i32(typ) + buf(path) + buf(data) + acl_list(list(acl)) + i64(owner) + i32(parent_cversion) +
            i32(version) + i32(timeout_ms) + i32(err))


def txn(zxid, session, cxid, time_ms, typ, ops, version=1):
    return i32(version) + i64(zxid) + i64(session) + i32(cxid) + i64(time_ms) + i32(typ) + i32(len(ops)) + b"".join(ops)


def txn_seeds():
    t = {}
    t["create"] = txn(1, 1, 1, 1000, 1, [txn_op(1, "/a", b"hello", OPEN, 0, 1)])
    t["create_null"] = txn(2, 1, 2, 1000, 1, [txn_op(1, "/b", None, [(1, "ip", "10.0.0.0/8")], 1, 2)])
    t["delete"] = txn(3, 1, 3, 1000, 2, [txn_op(2, "/a")])
    t["set_data"] = txn(4, 1, 4, 1000, 5, [txn_op(5, "/a", b"x", version=3)])
    t["set_acl"] = txn(5, 1, 5, 1000, 7, [txn_op(7, "/a", None, [(31, "digest", digest("u:p")), (1, "world", "anyone")],
                                                 version=1)])
    t["multi"] = txn(6, 2, 6, 1000, 14, [txn_op(1, "/m", b"", OPEN), txn_op(13, "/m", version=0),
                                         txn_op(5, "/m", b"d", version=1), txn_op(2, "/m")])
    t["session"] = txn(7, 3, 0, 0, -10, [txn_op(-10, timeout_ms=30000)])
    t["close"] = txn(8, 3, 0, 0, -11, [txn_op(-11)])
    t["error"] = txn(9, 3, 9, 0, -1, [txn_op(-1, err=-101)])
    t["empty_multi"] = txn(10, 1, 10, 0, 14, [])
    t["bad_version"] = txn(1, 1, 1, 0, 1, [txn_op(1, "/a")], version=2)
    return t


# ---------------------------------------------------------------------------------------------------------------
# CRC-32C (Castagnoli, reflected 0x82F63B78), as common/crc32c.h.

_CRC_TABLE = []
for _n in range(256):
    _c = _n
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC_TABLE.append(_c)


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = _CRC_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283  # the standard check value

# ---------------------------------------------------------------------------------------------------------------
# Snapshots (storage/include/ukeeper/storage/snapshot/snapshot.h): jute, big-endian.


def stat(czxid=0, mzxid=0, ctime=0, mtime=0, version=0, cversion=0, aversion=0, owner=0, data_length=0,
         num_children=0, pzxid=0):
    return (i64(czxid) + i64(mzxid) + i64(ctime) + i64(mtime) + i32(version) + i32(cversion) + i32(aversion) +
            i64(owner) + i32(data_length) + i32(num_children) + i64(pzxid))


def snap_node(path, data=b"", acl=OPEN, **st):
    if isinstance(data, str):
        data = data.encode()
    st.setdefault("data_length", 0 if data is None else len(data))
    return buf(path) + buf(data) + acl_list(acl) + stat(**st)


def snapshot_body(zxid, sessions, nodes):
    """Header, sessions and nodes (sorted by path here); no trailer."""
    out = b"UKSNAP" + i32(1) + i64(zxid) + i64(len(nodes)) + i64(len(sessions))
    for sid, timeout in sorted(sessions):
        out += i64(sid) + i32(timeout)
    for _, node in sorted(nodes, key=lambda n: n[0].encode()):
        out += node
    return out


def seal(body):
    body += i64(len(body) + 12)
    return body + struct.pack(">I", crc32c(body))


def fresh_nodes(root_children=1, root_data=b"", zk_children=2):
    return [("/", snap_node("/", root_data, num_children=root_children)),
            ("/zookeeper", snap_node("/zookeeper", num_children=zk_children)),
            ("/zookeeper/config", snap_node("/zookeeper/config", acl=[(1, "world", "anyone")])),
            ("/zookeeper/quota", snap_node("/zookeeper/quota"))]


def snapshot_seeds():
    t = {}
    fresh = snapshot_body(0, [], fresh_nodes())
    t["fresh_raw"] = b"\x00" + seal(fresh)
    t["fresh_sealed"] = b"\x01" + fresh
    small = snapshot_body(9, [(0x100000001, 30000), (7, 4000)], fresh_nodes(4, b"root") + [
        ("/a", snap_node("/a", "hello", [(31, "digest", digest("u:p")), (1, "world", "anyone")],
                         czxid=1, mzxid=3, ctime=1000, mtime=1003, version=2, cversion=3, num_children=2, pzxid=6)),
        ("/a/b", snap_node("/a/b", None, czxid=2, mzxid=2, pzxid=2)),
        ("/a/e", snap_node("/a/e", "", czxid=6, mzxid=6, pzxid=6, owner=0x100000001)),
        ("/c", snap_node("/c", None, czxid=7, mzxid=7, pzxid=7, owner=-(1 << 63))),
        ("/t", snap_node("/t", "ttl", [(3, "ip", "10.0.0.0/8")], czxid=8, mzxid=9, pzxid=8,
                         owner=-(1 << 56) | 5000)),
    ])
    t["small_raw"] = b"\x00" + seal(small)
    t["small_sealed"] = b"\x01" + small
    deep = [("/d", snap_node("/d", "x", num_children=1))]
    p = "/d"
    for depth in range(8):
        p += "/%d" % depth
        deep.append((p, snap_node(p, None, num_children=0 if depth == 7 else 1)))
    t["deep_sealed"] = b"\x01" + snapshot_body(20, [], fresh_nodes(2) + deep)
    # Inconsistent on purpose (decode must refuse): a missing parent, a wrong num_children, a huge count.
    t["missing_parent_sealed"] = b"\x01" + snapshot_body(3, [], fresh_nodes(2) + [("/x/y", snap_node("/x/y"))])
    t["bad_children_sealed"] = b"\x01" + snapshot_body(3, [], fresh_nodes(5))
    huge = bytearray(fresh)
    huge[18:26] = i64(1 << 40)
    t["huge_count_sealed"] = b"\x01" + bytes(huge)
    return t

# ---------------------------------------------------------------------------------------------------------------
# WAL records and segments (storage/include/ukeeper/storage/wal/wal.h): little-endian.


def wal_record(zxid, payload):
    head = struct.pack("<IQ", len(payload), zxid)
    crc = crc32c(payload, crc32c(head))
    return struct.pack("<I", 0x55574C52) + head + struct.pack("<II", crc, 0) + payload


def wal_segment_input(first_zxid, flags, area):
    """fuzz_wal mode 1: first zxid, flags, then the records area after the header block."""
    return b"\x01" + struct.pack("<Q", first_zxid) + bytes([flags]) + area


def wal_seeds():
    s = {}
    txns = txn_seeds()
    s["record_txn"] = b"\x00" + wal_record(1, txns["create"])
    s["record_empty"] = b"\x00" + wal_record(0x100000001, b"")
    recs = b"".join(wal_record(z, txns[name]) for z, name in
                    [(5, "create"), (6, "set_data"), (7, "multi"), (9, "session"), (10, "close")])
    s["segment_clean"] = wal_segment_input(5, 1, recs + b"\0" * 64)
    s["segment_not_last"] = wal_segment_input(5, 0, recs)
    torn = bytearray(recs)
    torn[-3] ^= 0xFF
    s["segment_torn_tail"] = wal_segment_input(5, 1, bytes(torn) + b"\0" * 16)
    s["segment_zero_gap"] = wal_segment_input(5, 1, wal_record(5, b"a") + b"\0" * 24 + wal_record(6, b"b"))
    s["segment_after_earlier"] = wal_segment_input(5, 3, wal_record(13, b"x") + wal_record(14, b"y"))
    s["segment_out_of_order"] = wal_segment_input(5, 1, wal_record(6, b"a") + wal_record(6, b"b"))
    header = b"UKWALSEG" + struct.pack("<IIQQ", 1, 36, 1, 8192)
    header += struct.pack("<I", crc32c(header))
    s["file_whole"] = b"\x02" + header + b"\0" * (4096 - len(header)) + wal_record(1, b"payload") + b"\0" * 32
    s["file_short"] = b"\x02" + header
    return s


def zab_seeds():
    """Scripts for fuzz_zab.cc: op bytes (0 tick, 1 connect, 2 disconnect, 3 raw, 4 structured message,
    5 persisted, 6 propose, 7 barrier), each followed by a peer byte and the op's own bytes."""
    def structured(peer, mtype, epoch=2, echo=1, zxid=(1, 2), commit=(1, 2), token=1, rnd=1, state=0, leader=2,
                   vote=(1, 2), vote_epoch=1, accepted=1, current=1, ends=0, entries=0, at=(2, 0)):
        return bytes([4, peer, mtype, epoch, echo, 0, zxid[0], zxid[1], commit[0], commit[1], token, rnd, state,
                      leader - 1, vote[0], vote[1], vote_epoch, accepted, current, ends, entries, at[0], at[1]])
    s = {}
    connect = bytes([1, 0, 1, 1])
    s["elect_2_as_follower"] = connect + structured(0, 1, state=0, leader=3, vote=(1, 5), vote_epoch=1) + \
        structured(1, 1, state=0, leader=3, vote=(1, 5), vote_epoch=1) + bytes([0, 0, 10])
    s["follow_and_sync"] = s["elect_2_as_follower"] + structured(1, 3, epoch=2) + structured(1, 5, epoch=2) + \
        structured(1, 8, epoch=2, entries=2, at=(2, 0)) + structured(1, 9, epoch=2, zxid=(2, 2)) + \
        bytes([5, 0, 1]) + structured(1, 11, epoch=2, commit=(2, 2)) + structured(1, 14, epoch=2, commit=(2, 2))
    s["lead"] = connect + structured(0, 1, state=0, leader=2, vote=(1, 0), vote_epoch=0) + \
        structured(1, 1, state=0, leader=2, vote=(1, 0), vote_epoch=0) + bytes([0, 0, 10]) + \
        structured(0, 2, accepted=1) + structured(1, 2, accepted=1) + structured(0, 4, epoch=2, current=1) + \
        bytes([5, 0, 1]) + structured(0, 10, epoch=2) + bytes([6, 0, 6, 0, 7, 0, 3, 0, 0, 5]) + \
        structured(0, 12, epoch=2, zxid=(2, 2)) + structured(0, 15, epoch=2, token=1)
    s["garbage"] = connect + bytes([3, 0, 8]) + b"\x01\x08\xff\xff\xff\xff\xff\xff" + bytes([0, 1, 39])
    return s


def write(kind, seeds):
    d = os.path.join(HERE, "corpus", kind)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for name, data in sorted(seeds.items()):
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    print(f"{d}: {len(seeds)} seeds")


if __name__ == "__main__":
    write("request", request_seeds())
    write("txn", txn_seeds())
    write("snapshot", snapshot_seeds())
    write("wal", wal_seeds())
    write("zab", zab_seeds())
