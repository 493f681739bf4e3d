"""Watches: one-shot, persistent, persistent-recursive, removal, ordering, kazoo watch recipes."""

import queue

import pytest
from kazoo.protocol.states import EventType

import zkproto
from zkproto import (ERR, EV_CHILD, EV_CREATED, EV_DATA, EV_DELETED, STATE_SYNC_CONNECTED, WT_ANY, WT_CHILDREN,
                     WT_DATA, Event, ZKError)


def ev(t, path):
    return Event(t, STATE_SYNC_CONNECTED, path)


class Collector:
    def __init__(self):
        self.q = queue.Queue()

    def __call__(self, event):
        self.q.put(event)

    def get(self, timeout=5.0):
        return self.q.get(timeout=timeout)

    def none(self, wait=0.5):
        try:
            e = self.q.get(timeout=wait)
        except queue.Empty:
            return True
        raise AssertionError("unexpected event %r" % (e,))


# ---------------------------------------------------------------- kazoo one-shot watches

def test_data_watch_fires_once_on_change(zk_factory, base):
    a, b = zk_factory(), zk_factory()
    p = a.create(base + "/d", b"0")
    w = Collector()
    a.get(p, watch=w)
    b.set(p, b"1")
    e = w.get()
    assert (e.type, e.path, e.state) == (EventType.CHANGED, p, "CONNECTED")
    b.set(p, b"2")
    w.none()


def test_data_watch_fires_on_delete(zk_factory, base):
    a, b = zk_factory(), zk_factory()
    p = a.create(base + "/d", b"0")
    w = Collector()
    a.get(p, watch=w)
    b.delete(p)
    e = w.get()
    assert (e.type, e.path) == (EventType.DELETED, p)
    w.none()


def test_exists_watch_on_missing_node_fires_created(zk_factory, base):
    a, b = zk_factory(), zk_factory()
    p = base + "/later"
    w = Collector()
    assert a.exists(p, watch=w) is None
    b.create(p, b"x")
    e = w.get()
    assert (e.type, e.path) == (EventType.CREATED, p)
    # existing node: exists watch fires on data change
    w2 = Collector()
    assert a.exists(p, watch=w2) is not None
    b.set(p, b"y")
    e = w2.get()
    assert (e.type, e.path) == (EventType.CHANGED, p)
    w.none(0.1)


def test_child_watch(zk_factory, base):
    a, b = zk_factory(), zk_factory()
    w = Collector()
    assert a.get_children(base, watch=w) == []
    b.create(base + "/c1")
    e = w.get()
    assert (e.type, e.path) == (EventType.CHILD, base)
    w.none(0.2)
    # data change on a child or on the parent does not fire a child watch
    w2 = Collector()
    a.get_children(base, watch=w2)
    b.set(base + "/c1", b"data")
    b.set(base, b"data")
    w2.none()
    b.delete(base + "/c1")
    e = w2.get()
    assert (e.type, e.path) == (EventType.CHILD, base)
    # child watch on a node that is deleted fires NodeDeleted
    b.create(base + "/gone")
    w3 = Collector()
    a.get_children(base + "/gone", watch=w3)
    b.delete(base + "/gone")
    e = w3.get()
    assert (e.type, e.path) == (EventType.DELETED, base + "/gone")


def test_get_on_missing_node_sets_no_watch(raw, base):
    c, d = raw(), raw()
    p = base + "/absent"
    with pytest.raises(ZKError) as ei:
        c.get(p, watch=True)
    assert ei.value.code == ERR["NONODE"]
    with pytest.raises(ZKError):
        c.get_children(p, watch=True)
    d.create(p)
    d.set(p, b"x")
    d.delete(p)
    assert c.drain_events(0.5) == []


# ---------------------------------------------------------------- raw: exact event sets and order

def test_create_fires_created_and_parent_children_changed(raw, base):
    w, m = raw(), raw()
    p = base + "/n"
    assert w.exists(p, watch=True) is None
    w.get_children(base, watch=True)
    m.create(p)
    evs = w.drain_events()
    assert sorted(evs) == sorted([ev(EV_CREATED, p), ev(EV_CHILD, base)])


def test_delete_fires_deleted_once_per_connection_and_parent_child(raw, base):
    w, m = raw(), raw()
    p = m.create(base + "/n")
    w.get(p, watch=True)
    w.get_children(p, watch=True)
    w.exists(p, watch=True)
    w.get_children(base, watch=True)
    m.delete(p)
    evs = w.drain_events()
    assert sorted(evs) == sorted([ev(EV_DELETED, p), ev(EV_CHILD, base)])


def test_set_acl_fires_nothing(raw, base):
    w, m = raw(), raw()
    p = m.create(base + "/n")
    w.get(p, watch=True)
    m.set_acl(p, zkproto.OPEN_ACL)
    assert w.drain_events(0.5) == []
    m.set(p, b"x")
    assert w.drain_events() == [ev(EV_DATA, p)]


def test_event_before_reply_on_same_connection(raw, base):
    c = raw()
    p = c.create(base + "/n")
    c.get(p, watch=True)
    c.events.clear()
    xid = c.send_request(zkproto.OP["setData"], zkproto.W().ustring(p).buffer(b"v").int(-1).bytes())
    first = c.read_packet()
    assert first == ev(EV_DATA, p), "watch event must precede the reply of the write that caused it"
    rep = c.read_reply(xid)
    assert rep.err == 0
    # child + delete events also precede the reply
    c.get_children(base, watch=True)
    c.exists(p, watch=True)
    xid = c.send_request(zkproto.OP["delete"], zkproto.W().ustring(p).int(-1).bytes())
    got = [c.read_packet(), c.read_packet()]
    assert sorted(got) == sorted([ev(EV_DELETED, p), ev(EV_CHILD, base)])
    assert c.read_reply(xid).err == 0


def test_event_before_later_reply_on_other_connection(raw, base):
    w, m = raw(), raw()
    p = m.create(base + "/n")
    for i in range(20):
        w.get(p, watch=True)
        w.events.clear()
        m.set(p, b"%d" % i)
        # the write has completed: any later reply on the watcher's connection comes after the event
        w.exists("/")
        assert w.events == [ev(EV_DATA, p)], i


def test_multi_fires_events_for_each_op(raw, base):
    w, m = raw(), raw()
    p = m.create(base + "/x")
    w.get(p, watch=True)
    w.get_children(base, watch=True)
    w.exists(base + "/y", watch=True)
    err, res = m.multi([("setData", p, b"1", -1), ("create", base + "/y", b"", 0)])
    assert err == 0
    evs = w.drain_events()
    assert sorted(evs) == sorted([ev(EV_DATA, p), ev(EV_CHILD, base), ev(EV_CREATED, base + "/y")])


def test_failed_multi_fires_nothing(raw, base):
    w, m = raw(), raw()
    p = m.create(base + "/x")
    w.get(p, watch=True)
    w.get_children(base, watch=True)
    err, res = m.multi([("setData", p, b"1", -1), ("create", base + "/y", b"", 0), ("check", p, 99)])
    assert err == 0
    assert [r[0] for r in res] == ["error"] * 3
    assert [r[1] for r in res] == [0, 0, ERR["BADVERSION"]]
    assert w.drain_events(0.5) == []


# ---------------------------------------------------------------- persistent watches (addWatch 106)

def test_persistent_watch(raw, base):
    w, m = raw(), raw()
    p = m.create(base + "/p")
    w.add_watch(p, zkproto.ADD_WATCH_PERSISTENT)
    m.set(p, b"1")
    m.set(p, b"2")
    m.create(p + "/c")
    m.set(p + "/c", b"child data")  # not watched: exact path only
    m.create(p + "/c/gc")  # grandchild: no event
    m.delete(p + "/c/gc")
    m.delete(p + "/c")
    m.delete(p)
    m.create(p)
    assert w.drain_events() == [ev(EV_DATA, p), ev(EV_DATA, p), ev(EV_CHILD, p), ev(EV_CHILD, p),
                                ev(EV_DELETED, p), ev(EV_CREATED, p)]
    w.check_watches(p, zkproto.WT_ANY)


def test_persistent_watch_on_missing_node(raw, base):
    w, m = raw(), raw()
    p = base + "/notyet"
    w.add_watch(p, zkproto.ADD_WATCH_PERSISTENT)
    m.create(p)
    m.set(p, b"x")
    assert w.drain_events() == [ev(EV_CREATED, p), ev(EV_DATA, p)]


def test_persistent_recursive_watch(raw, base):
    w, m = raw(), raw()
    r = m.create(base + "/r")
    w.add_watch(r, zkproto.ADD_WATCH_PERSISTENT_RECURSIVE)
    m.create(r + "/a")
    m.create(r + "/a/b", b"")
    m.set(r + "/a/b", b"x")
    m.set(r, b"y")
    m.delete(r + "/a/b")
    m.create(base + "/r2")  # sibling with common prefix: not below /r
    m.set(base, b"parent")  # ancestor: not watched
    assert w.drain_events() == [
        ev(EV_CREATED, r + "/a"), ev(EV_CREATED, r + "/a/b"), ev(EV_DATA, r + "/a/b"), ev(EV_DATA, r),
        ev(EV_DELETED, r + "/a/b")]


def test_persistent_recursive_watch_on_root_sees_everything(raw, base):
    w, m = raw(), raw()
    w.add_watch("/", zkproto.ADD_WATCH_PERSISTENT_RECURSIVE)
    p = m.create(base + "/deep")
    m.set(p, b"1")
    m.delete(p)
    evs = w.drain_events()
    assert evs == [ev(EV_CREATED, p), ev(EV_DATA, p), ev(EV_DELETED, p)]


def test_persistent_and_standard_watch_together(raw, base):
    w, m = raw(), raw()
    p = m.create(base + "/both")
    w.add_watch(p, zkproto.ADD_WATCH_PERSISTENT)
    w.get(p, watch=True)
    m.set(p, b"1")
    # one event per connection for the same change
    assert w.drain_events() == [ev(EV_DATA, p)]
    m.set(p, b"2")
    # ZooKeeper 3.8.0 keeps one mode per (path, connection), so the one-shot watch replaced the persistent
    # one and nothing fires here; 3.9 fixed this (ZOOKEEPER-4466). Accept both.
    assert w.drain_events() in ([], [ev(EV_DATA, p)])


# ---------------------------------------------------------------- check/remove watches (17/18)

def test_check_and_remove_watches(raw, base):
    w, m = raw(), raw()
    p = m.create(base + "/n")
    with pytest.raises(ZKError) as ei:
        w.check_watches(p, WT_DATA)
    assert ei.value.code == ERR["NOWATCHER"]
    w.get(p, watch=True)
    w.check_watches(p, WT_DATA)
    w.check_watches(p, WT_ANY)
    with pytest.raises(ZKError) as ei:
        w.check_watches(p, WT_CHILDREN)
    assert ei.value.code == ERR["NOWATCHER"]
    w.get_children(p, watch=True)
    w.check_watches(p, WT_CHILDREN)
    w.remove_watches(p, WT_DATA)
    with pytest.raises(ZKError) as ei:
        w.check_watches(p, WT_DATA)
    assert ei.value.code == ERR["NOWATCHER"]
    m.set(p, b"x")
    assert w.drain_events(0.4) == []
    w.remove_watches(p, WT_ANY)
    with pytest.raises(ZKError) as ei:
        w.remove_watches(p, WT_ANY)
    assert ei.value.code == ERR["NOWATCHER"]
    m.create(p + "/c")
    assert w.drain_events(0.4) == []
    # watches of other connections cannot be removed (ZooKeeper 3.8.0's checkWatches does not look at the
    # connection, so only removeWatches is checked here)
    m.get(p, watch=True)
    with pytest.raises(ZKError) as ei:
        w.remove_watches(p, WT_DATA)
    assert ei.value.code == ERR["NOWATCHER"]
    m.check_watches(p, WT_DATA)
    m.set(p, b"still watched")
    assert m.drain_events() == [ev(EV_DATA, p)]
    # exists watch on a missing node counts as a data watch
    w.exists(base + "/missing", watch=True)
    w.check_watches(base + "/missing", WT_DATA)
    w.remove_watches(base + "/missing", WT_DATA)
    m.create(base + "/missing")
    assert w.drain_events(0.4) == []


def test_remove_watches_any_removes_persistent(raw, base):
    w, m = raw(), raw()
    p = m.create(base + "/n")
    w.add_watch(p, zkproto.ADD_WATCH_PERSISTENT)
    w.check_watches(p, WT_ANY)
    w.remove_watches(p, WT_ANY)
    m.set(p, b"1")
    assert w.drain_events(0.4) == []


# ---------------------------------------------------------------- kazoo recipes

def test_datawatch_recipe(zk_factory, base):
    a, b = zk_factory(), zk_factory()
    p = base + "/dw"
    seen = queue.Queue()

    @a.DataWatch(p)
    def watcher(data, stat, event=None):
        seen.put((data, stat.version if stat else None, event.type if event else None))

    assert seen.get(timeout=5) == (None, None, None)
    b.create(p, b"v0")
    assert seen.get(timeout=5) == (b"v0", 0, EventType.CREATED)
    b.set(p, b"v1")
    assert seen.get(timeout=5) == (b"v1", 1, EventType.CHANGED)
    b.delete(p)
    assert seen.get(timeout=5) == (None, None, EventType.DELETED)


def test_childrenwatch_recipe(zk_factory, base):
    a, b = zk_factory(), zk_factory()
    seen = queue.Queue()

    @a.ChildrenWatch(base)
    def watcher(children):
        seen.put(sorted(children))

    assert seen.get(timeout=5) == []
    b.create(base + "/x")
    assert seen.get(timeout=5) == ["x"]
    b.create(base + "/y")
    assert seen.get(timeout=5) == ["x", "y"]
    b.delete(base + "/x")
    assert seen.get(timeout=5) == ["y"]


def test_many_watchers_all_fire(zk_factory, raw, base):
    p = raw().create(base + "/hot")
    watchers = [raw() for _ in range(20)]
    for w in watchers:
        w.get(p, watch=True)
    raw().set(p, b"go")
    for w in watchers:
        assert w.wait_event(5) == ev(EV_DATA, p)
