"""Raw-protocol operations kazoo 2.8 does not expose: multiRead (22), getEphemerals (103),
getAllChildrenNumber (104), setWatches (101) / setWatches2 (105) catch-up, multi result encoding."""

import time

import zkproto
from zkproto import ERR, EV_CHILD, EV_CREATED, EV_DATA, EV_DELETED, STATE_SYNC_CONNECTED, Event, RawClient


def ev(t, path):
    return Event(t, STATE_SYNC_CONNECTED, path)


def test_multi_read(raw):
    c = raw()
    c.create("/mr", b"root")
    c.create("/mr/a", b"A")
    c.create("/mr/b", b"B")
    res = c.multi_read([("getData", "/mr/a"), ("getChildren", "/mr"), ("getData", "/mr/missing"),
                        ("getChildren", "/mr/missing"), ("getData", "/mr")])
    assert len(res) == 5
    kind, (data, st) = res[0]
    assert kind == "getData" and data == b"A" and st == c.exists("/mr/a")
    assert res[1][0] == "getChildren" and sorted(res[1][1]) == ["a", "b"]
    assert res[2] == ("error", ERR["NONODE"])
    assert res[3] == ("error", ERR["NONODE"])
    assert res[4][0] == "getData" and res[4][1][0] == b"root" and res[4][1][1].numChildren == 2
    # empty multiRead
    assert c.multi_read([]) == []


def test_multi_read_respects_acls(raw):
    owner = raw()
    owner.add_auth("digest", b"mr:pw")
    from conftest import digest
    owner.create("/mr-acl", b"secret", acl=[(zkproto.PERM_ALL, "digest", digest("mr", "pw"))])
    owner.create("/mr-open", b"open")
    other = raw()
    res = other.multi_read([("getData", "/mr-acl"), ("getData", "/mr-open")])
    assert res[0] == ("error", ERR["NOAUTH"])
    assert res[1][0] == "getData" and res[1][1][0] == b"open"


def test_multi_result_encoding(raw):
    c = raw()
    c.create("/mx", b"")
    c.create("/mx/del", b"")
    err, res = c.multi([
        ("create", "/mx/a", b"a", 0),
        ("create2", "/mx/b", b"bb", 0),
        ("create", "/mx/s-", b"", zkproto.F_SEQUENTIAL),
        ("setData", "/mx/a", b"a2", 0),
        ("check", "/mx/a", 1),
        ("delete", "/mx/del", 0),
    ])
    assert err == 0
    assert res[0] == ("create", "/mx/a")
    # ZooKeeper 3.8 answers a create2 (15) inside multi with a plain CreateResponse (type 1, no Stat)
    assert res[1] == ("create", "/mx/b")
    st_b = c.exists("/mx/b")
    assert st_b.dataLength == 2 and st_b.version == 0
    assert res[2] == ("create", "/mx/s-0000000003")
    assert res[3][0] == "setData" and res[3][1].version == 1 and res[3][1].dataLength == 2
    assert res[4] == ("check", None)
    assert res[5] == ("delete", None)
    # everything under one zxid
    st_a = c.exists("/mx/a")
    assert st_a.czxid == st_a.mzxid == st_b.czxid == c.exists("/mx").pzxid


def test_multi_failure_encoding(raw):
    c = raw()
    c.create("/mf", b"")
    err, res = c.multi([
        ("create", "/mf/a", b"", 0),
        ("setData", "/mf", b"x", -1),
        ("delete", "/mf/nonexistent", -1),
        ("create", "/mf/b", b"", 0),
        ("check", "/mf", 0),
    ])
    assert err == 0
    assert res == [("error", 0), ("error", 0), ("error", ERR["NONODE"]),
                   ("error", ERR["RUNTIMEINCONSISTENCY"]), ("error", ERR["RUNTIMEINCONSISTENCY"])]
    assert c.exists("/mf/a") is None
    assert c.get("/mf")[1].version == 0
    # empty multi is fine
    assert c.multi([]) == (0, [])


def test_get_ephemerals(server):
    a = RawClient(server.port)
    b = RawClient(server.port)
    a.create("/ge")
    a.create("/ge/p")
    a.create("/gex")
    a.create("/ge/e1", b"", flags=zkproto.F_EPHEMERAL)
    a.create("/ge/p/e2", b"", flags=zkproto.F_EPHEMERAL)
    a.create("/gex/e3", b"", flags=zkproto.F_EPHEMERAL)
    seq = a.create("/ge/s-", b"", flags=zkproto.F_EPHEMERAL_SEQUENTIAL)
    b.create("/ge/other", b"", flags=zkproto.F_EPHEMERAL)
    assert sorted(a.get_ephemerals("/")) == sorted(["/ge/e1", "/ge/p/e2", "/gex/e3", seq])
    assert sorted(a.get_ephemerals("/ge/p")) == ["/ge/p/e2"]
    # the prefix is a plain string prefix, not a path component prefix
    assert sorted(a.get_ephemerals("/ge")) == sorted(["/ge/e1", "/ge/p/e2", "/gex/e3", seq])
    assert sorted(a.get_ephemerals("/ge/")) == sorted(["/ge/e1", "/ge/p/e2", seq])
    assert a.get_ephemerals("/nothing") == []
    assert b.get_ephemerals("/") == ["/ge/other"]
    fresh = RawClient(server.port)
    assert fresh.get_ephemerals("/") == []
    for c in (a, b, fresh):
        c.close_session()
        c.close()


def test_get_all_children_number(raw):
    c = raw()
    assert c.get_all_children_number("/zookeeper") == 2  # quota and config
    c.create("/gacn")
    assert c.get_all_children_number("/gacn") == 0
    for p in ("/gacn/a", "/gacn/a/b", "/gacn/a/b/c", "/gacn/d", "/gacn/d/e"):
        c.create(p)
    assert c.get_all_children_number("/gacn") == 5
    assert c.get_all_children_number("/gacn/a") == 2
    c.delete("/gacn/d/e")
    assert c.get_all_children_number("/gacn") == 4


def _setup_setwatches(server, prefix):
    m = RawClient(server.port)
    m.create(prefix)
    for n in ("data-changed", "data-deleted", "data-same", "child-changed", "child-deleted", "child-same",
              "exist-existing"):
        m.create("%s/%s" % (prefix, n))
    m.create(prefix + "/child-deleted/x")
    m.create(prefix + "/child-changed/keep")
    return m


def test_set_watches_catch_up(server):
    p = "/sw"
    m = _setup_setwatches(server, p)
    w = RawClient(server.port)
    w.sync("/")
    rel = w.exists(p + "/data-same").mzxid
    rel = max(rel, w.last_zxid)
    # changes the watcher "missed" while disconnected
    m.set(p + "/data-changed", b"new")
    m.delete(p + "/data-deleted")
    m.create(p + "/exist-created")
    m.create(p + "/child-changed/new")
    m.delete(p + "/child-deleted/x")
    m.delete(p + "/child-deleted")
    w.close()

    # reconnect to the same session on a new TCP connection, then re-register the watches
    r = RawClient(server.port, session_id=w.session_id, passwd=w.passwd, last_zxid=rel)
    assert r.session_id == w.session_id
    r.set_watches(rel,
                  data=[p + "/data-changed", p + "/data-deleted", p + "/data-same"],
                  exist=[p + "/exist-created", p + "/exist-missing", p + "/exist-existing"],
                  child=[p + "/child-changed", p + "/child-deleted", p + "/child-same"])
    got = r.events + r.drain_events(0.5)
    r.events.clear()
    assert sorted(got) == sorted([
        ev(EV_DATA, p + "/data-changed"),
        ev(EV_DELETED, p + "/data-deleted"),
        ev(EV_CREATED, p + "/exist-created"),
        ev(EV_CREATED, p + "/exist-existing"),
        ev(EV_CHILD, p + "/child-changed"),
        ev(EV_DELETED, p + "/child-deleted"),
    ])
    # re-armed watches fire on the next change
    m.set(p + "/data-same", b"x")
    m.create(p + "/exist-missing")
    m.create(p + "/child-same/c")
    got = r.drain_events()
    assert sorted(got) == sorted([ev(EV_DATA, p + "/data-same"), ev(EV_CREATED, p + "/exist-missing"),
                                  ev(EV_CHILD, p + "/child-same")])
    # the fired watches are gone (one-shot)
    m.set(p + "/data-changed", b"again")
    m.create(p + "/exist-created/kid")
    assert r.drain_events(0.4) == []
    r.close()
    m.close()


def test_set_watches_with_current_zxid_rearms_only(server):
    p = "/sw2"
    m = _setup_setwatches(server, p)
    m.sync("/")
    rel = m.last_zxid
    r = RawClient(server.port)
    r.set_watches(rel, data=[p + "/data-same"], exist=[p + "/nope"], child=[p + "/child-same"])
    assert r.events + r.drain_events(0.4) == []
    m.set(p + "/data-same", b"1")
    m.create(p + "/nope")
    m.create(p + "/child-same/k")
    assert sorted(r.drain_events()) == sorted([ev(EV_DATA, p + "/data-same"), ev(EV_CREATED, p + "/nope"),
                                               ev(EV_CHILD, p + "/child-same")])
    r.close()
    m.close()


def test_set_watches2_persistent(server):
    p = "/sw3"
    m = RawClient(server.port)
    m.create(p)
    m.create(p + "/r")
    rel = m.last_zxid
    m.set(p, b"missed")  # no catch-up for persistent watches
    r = RawClient(server.port)
    r.set_watches2(rel, persistent=[p], recursive=[p + "/r"])
    assert r.events + r.drain_events(0.4) == []
    m.set(p, b"1")
    m.set(p, b"2")
    m.create(p + "/r/deep")
    m.set(p + "/r/deep", b"d")
    m.create(p + "/kid")  # direct child of the persistent (non-recursive) watch
    assert r.drain_events() == [ev(EV_DATA, p), ev(EV_DATA, p), ev(EV_CREATED, p + "/r/deep"),
                                ev(EV_DATA, p + "/r/deep"), ev(EV_CHILD, p)]
    r.close()
    m.close()


def test_kazoo_watch_recipes_survive_reconnect(zk_factory):
    # kazoo 2.8 fires its one-shot watchers with EventType.NONE on a disconnect; its DataWatch/ChildrenWatch
    # recipes re-register after the reconnect, which must keep working against the same session.
    import queue
    import socket
    from kazoo.protocol.states import KazooState
    from zkproto import wait_until
    a, b = zk_factory(), zk_factory()
    a.ensure_path("/kzre")
    data_seen, kids_seen = queue.Queue(), queue.Queue()
    a.DataWatch("/kzre", lambda data, stat: data_seen.put(data))
    a.ChildrenWatch("/kzre", lambda kids: kids_seen.put(sorted(kids)))
    assert data_seen.get(timeout=5) == b""
    assert kids_seen.get(timeout=5) == []
    sid = a.client_id[0]
    states = []
    a.add_listener(states.append)
    a._connection._socket.shutdown(socket.SHUT_RDWR)
    wait_until(lambda: KazooState.SUSPENDED in states, timeout=10, msg="disconnect noticed")
    wait_until(lambda: a.connected and states[-1] == KazooState.CONNECTED, timeout=10, msg="reconnected")
    assert a.client_id[0] == sid
    b.set("/kzre", b"after")
    b.create("/kzre/kid")

    def drain_until(q, want):
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                if q.get(timeout=0.5) == want:
                    return True
            except queue.Empty:
                pass
        return False

    assert drain_until(data_seen, b"after")
    assert drain_until(kids_seen, ["kid"])
