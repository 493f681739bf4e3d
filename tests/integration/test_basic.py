"""Basic data-model behaviour through kazoo (and raw protocol where kazoo 2.8 has no API)."""

import time

import pytest
from kazoo.exceptions import (BadArgumentsError, BadVersionError, NoChildrenForEphemeralsError, NodeExistsError,
                              NoNodeError, NotEmptyError, RolledBackError, RuntimeInconsistency)

import zkproto
from zkproto import ERR, ZKError, wait_until

# ZooKeeper stores a marker owner for containers/TTL nodes but reports ephemeralOwner 0 to clients
CONTAINER_OWNER = 0


def test_create_get_set_delete_exists(zk, base):
    p = base + "/node"
    assert zk.exists(p) is None
    assert zk.create(p, b"hello") == p
    data, st = zk.get(p)
    assert data == b"hello"
    assert st.version == 0 and st.cversion == 0 and st.aversion == 0
    assert st.numChildren == 0 and st.dataLength == 5
    assert st.ephemeralOwner == 0
    assert st.czxid == st.mzxid == st.pzxid
    assert st.ctime == st.mtime
    assert abs(st.ctime / 1000.0 - time.time()) < 60
    assert zk.exists(p) == st

    st2 = zk.set(p, b"world!")
    assert st2.version == 1
    assert st2.czxid == st.czxid
    assert st2.mzxid > st.mzxid
    assert st2.pzxid == st.pzxid
    assert st2.mtime >= st.mtime and st2.ctime == st.ctime
    assert st2.dataLength == 6
    assert zk.get(p) == (b"world!", st2)

    st3 = zk.set(p, b"", version=1)
    assert st3.version == 2 and st3.dataLength == 0
    assert zk.get(p)[0] == b""

    zk.delete(p, version=2)
    assert zk.exists(p) is None
    with pytest.raises(NoNodeError):
        zk.get(p)


def test_empty_and_large_data(zk, base):
    p = zk.create(base + "/e")
    assert zk.get(p)[0] == b""
    big = bytes(range(256)) * 2000  # 512000 bytes, below 1 MB
    zk.set(p, big)
    data, st = zk.get(p)
    assert data == big and st.dataLength == len(big)


def test_parent_stat_counters(zk, base):
    _, pst0 = zk.get(base)
    a = zk.create(base + "/a")
    _, ast = zk.get(a)
    _, pst1 = zk.get(base)
    assert pst1.cversion == pst0.cversion + 1
    assert pst1.numChildren == 1
    assert pst1.pzxid == ast.czxid
    assert pst1.version == pst0.version and pst1.mzxid == pst0.mzxid  # data untouched
    zk.create(base + "/b")
    _, pst2 = zk.get(base)
    assert pst2.cversion == pst0.cversion + 2 and pst2.numChildren == 2
    # setData on a child does not touch the parent
    zk.set(a, b"x")
    assert zk.get(base)[1] == pst2
    zk.delete(a)
    _, pst3 = zk.get(base)
    assert pst3.numChildren == 1
    # ZooKeeper reports cversion = child creations + child deletions (internally it counts creations and
    # reports 2*creations - numChildren); the sequential suffix uses the creation count only.
    assert pst3.cversion == pst2.cversion + 1
    assert pst3.pzxid > pst2.pzxid  # but pzxid moves on delete
    assert pst3.mzxid == pst0.mzxid
    # 2 creations so far -> the next sequential suffix is 2 although the reported cversion is 3
    assert zk.create(base + "/s", sequence=True) == base + "/s0000000002"
    assert zk.exists(base).cversion == 4


def test_zxids_increase_and_multi_shares_zxid(zk, base):
    p1 = zk.create(base + "/z1")
    p2 = zk.create(base + "/z2")
    z1 = zk.exists(p1).czxid
    z2 = zk.exists(p2).czxid
    assert z2 > z1
    t = zk.transaction()
    t.create(base + "/m1")
    t.create(base + "/m2")
    t.set_data(p1, b"v")
    assert t.commit() == [base + "/m1", base + "/m2", zk.exists(p1)]
    s1, s2, s3 = zk.exists(base + "/m1"), zk.exists(base + "/m2"), zk.exists(p1)
    assert s1.czxid == s2.czxid == s3.mzxid
    assert s1.czxid > z2


def test_sequential_names(zk, base):
    zk.create(base + "/plain")  # cversion 0 -> 1
    s1 = zk.create(base + "/seq-", b"", sequence=True)
    assert s1 == base + "/seq-0000000001"
    s2 = zk.create(base + "/seq-", b"", sequence=True)
    assert s2 == base + "/seq-0000000002"
    zk.delete(s1)
    zk.delete(s2)
    # deletes bump the reported cversion but not the sequence counter (creations only)
    assert zk.exists(base).cversion == 5
    s3 = zk.create(base + "/", b"", sequence=True)  # empty prefix
    assert s3 == base + "/0000000003"
    e = zk.create(base + "/eph-", ephemeral=True, sequence=True)
    assert e == base + "/eph-0000000004"
    assert zk.exists(e).ephemeralOwner == zk.client_id[0]
    assert sorted(zk.get_children(base)) == ["0000000003", "eph-0000000004", "plain"]


def test_sequential_suffix_ten_digits_on_fresh_parent(zk, base):
    p = zk.create(base + "/x/y", makepath=True)
    assert p == base + "/x/y"
    assert zk.create(base + "/x/n", sequence=True) == base + "/x/n0000000001"


def test_ephemeral_removed_on_close(zk_factory, base):
    owner = zk_factory()
    other = zk_factory()
    e = owner.create(base + "/eph", b"d", ephemeral=True)
    st = other.exists(e)
    assert st is not None and st.ephemeralOwner == owner.client_id[0] != 0
    with pytest.raises(NoChildrenForEphemeralsError):
        owner.create(e + "/child")
    with pytest.raises(NoChildrenForEphemeralsError):
        other.create(e + "/child")
    owner.stop()
    owner.close()
    # closeSession deletes ephemerals synchronously
    assert other.exists(e) is None
    assert other.get_children(base) == []


def test_errors(zk, base):
    p = zk.create(base + "/n", b"1")
    with pytest.raises(NodeExistsError):
        zk.create(p)
    with pytest.raises(NoNodeError):
        zk.create(base + "/missing/child")
    with pytest.raises(NoNodeError):
        zk.get(base + "/missing")
    with pytest.raises(NoNodeError):
        zk.set(base + "/missing", b"")
    with pytest.raises(NoNodeError):
        zk.delete(base + "/missing")
    with pytest.raises(NoNodeError):
        zk.get_children(base + "/missing")
    with pytest.raises(NoNodeError):
        zk.get_acls(base + "/missing")
    with pytest.raises(BadVersionError):
        zk.set(p, b"2", version=5)
    with pytest.raises(BadVersionError):
        zk.delete(p, version=3)
    zk.create(p + "/c")
    with pytest.raises(NotEmptyError):
        zk.delete(p)
    # BADVERSION is checked before NOTEMPTY
    with pytest.raises(BadVersionError):
        zk.delete(p, version=7)
    with pytest.raises(NoNodeError):
        zk.delete(base + "/missing", version=7)
    # special nodes
    for special in ("/zookeeper", "/zookeeper/quota", "/zookeeper/config"):
        assert zk.exists(special) is not None
    with pytest.raises(BadArgumentsError):
        zk.delete("/zookeeper")
    with pytest.raises(BadArgumentsError):
        zk.delete("/zookeeper/quota")
    # a failed write changes nothing
    assert zk.get(p)[1].version == 0


@pytest.mark.parametrize("path", [
    "", "a", "/v/", "/v/.", "/v/..", "/.", "/..",
    "/nul\x00byte", "/v/nul\x00", "/ctl\x01", "/v/ctl\x1f", "/del\x7f", "/c1\x9f", "/priv\ue000", "/priv\uf8ff",
    "/spec\ufff0", "/spec\uffff",
])
def test_invalid_paths_bad_arguments(raw, path):
    c = raw()
    if c.exists("/v") is None:
        c.create("/v")
    with pytest.raises(ZKError) as ei:
        c.create(path, b"x")
    assert ei.value.code == ERR["BADARGUMENTS"], path
    # the connection stays usable after a BADARGUMENTS reply
    assert c.exists("/") is not None


@pytest.mark.parametrize("path", ["noslash/x", "/missing/", "/v//b", "/v/./b", "/v/../b", "/missing/."])
def test_invalid_path_with_missing_parent_is_nonode(raw, path):
    # ZooKeeper resolves the parent (text before the last '/') before validating the whole path
    c = raw()
    if c.exists("/v") is None:
        c.create("/v")
    with pytest.raises(ZKError) as ei:
        c.create(path, b"x")
    assert ei.value.code == ERR["NONODE"], path


@pytest.mark.parametrize("path", ["/a.b", "/..a", "/a..", "/.a", "/z\u00e9", "/\u4e2d\u6587", "/sp ace", "/a-b_c:d"])
def test_valid_unusual_paths(raw, path):
    c = raw()
    assert c.create(path, b"x") == path
    assert c.get(path)[0] == b"x"
    c.delete(path)


def test_delete_root_bad_arguments(raw):
    c = raw()
    with pytest.raises(ZKError) as ei:
        c.delete("/")
    assert ei.value.code == ERR["BADARGUMENTS"]


def test_get_children_and_include_data(zk, base):
    for n in ("c", "a", "b"):
        zk.create(base + "/" + n, n.encode())
    assert sorted(zk.get_children(base)) == ["a", "b", "c"]
    children, st = zk.get_children(base, include_data=True)
    assert sorted(children) == ["a", "b", "c"]
    assert st == zk.exists(base)
    assert st.numChildren == 3 and st.cversion == 3
    assert zk.get_children(base + "/a") == []
    root = zk.get_children("/")
    assert "zookeeper" in root and base[1:] in root


def test_transaction_success(zk, base):
    p = zk.create(base + "/x", b"0")
    t = zk.transaction()
    t.check(p, 0)
    t.create(base + "/y", b"y")
    t.set_data(p, b"1", version=0)
    t.delete(base + "/y")
    res = t.commit()
    assert res[0] is True
    assert res[1] == base + "/y"
    assert res[2].version == 1 and res[2].dataLength == 1
    assert res[3] is True
    assert zk.exists(base + "/y") is None
    assert zk.get(p)[0] == b"1"


def test_transaction_failure_is_atomic(zk, base):
    p = zk.create(base + "/x", b"0")
    t = zk.transaction()
    t.create(base + "/new1")
    t.set_data(p, b"changed")
    t.check(p, 42)  # fails: version is 0 (before the txn)
    t.create(base + "/new2")
    t.delete(p)
    res = t.commit()
    assert len(res) == 5
    assert isinstance(res[0], RolledBackError)
    assert isinstance(res[1], RolledBackError)
    assert isinstance(res[2], BadVersionError)
    assert isinstance(res[3], RuntimeInconsistency)
    assert isinstance(res[4], RuntimeInconsistency)
    assert zk.exists(base + "/new1") is None
    assert zk.exists(base + "/new2") is None
    data, st = zk.get(p)
    assert data == b"0" and st.version == 0


def test_transaction_failing_first_op(zk, base):
    t = zk.transaction()
    t.delete(base + "/nope")
    t.create(base + "/a")
    res = t.commit()
    assert isinstance(res[0], NoNodeError)
    assert isinstance(res[1], RuntimeInconsistency)
    assert zk.exists(base + "/a") is None


def test_transaction_sees_own_earlier_ops(zk, base):
    t = zk.transaction()
    t.create(base + "/p")
    t.create(base + "/p/c", b"c")
    t.set_data(base + "/p/c", b"cc", version=0)
    t.check(base + "/p/c", 1)
    t.create(base + "/p/s-", sequence=True)
    res = t.commit()
    assert res[0] == base + "/p" and res[1] == base + "/p/c"
    assert res[4] == base + "/p/s-0000000001"
    assert zk.get(base + "/p/c")[0] == b"cc"
    # node-exists inside a multi is detected against earlier ops of the same multi
    t = zk.transaction()
    t.create(base + "/q")
    t.create(base + "/q")
    res = t.commit()
    assert isinstance(res[0], RolledBackError) and isinstance(res[1], NodeExistsError)
    assert zk.exists(base + "/q") is None


def test_sync(zk, base):
    assert zk.sync(base) == base
    assert zk.sync("/") == "/"


def test_create2_stat_raw(raw):
    c = raw()
    path, st = c.create2("/create2-node", b"abc")
    assert path == "/create2-node"
    data, st2 = c.get(path)
    assert data == b"abc" and st == st2
    assert st.dataLength == 3 and st.version == 0 and st.ephemeralOwner == 0
    path, st = c.create2("/create2-node/e", b"", flags=zkproto.F_EPHEMERAL)
    assert st.ephemeralOwner == c.session_id
    path, st = c.create2("/create2-node/s", b"", flags=zkproto.F_SEQUENTIAL)
    assert path == "/create2-node/s0000000001"


def test_container_reaped_after_last_child_removed(raw, zk):
    c = raw()
    path, st = c.create_container("/cont1", b"c")
    assert path == "/cont1"
    assert st.ephemeralOwner == CONTAINER_OWNER
    assert zk.exists("/cont1").ephemeralOwner == CONTAINER_OWNER
    never_used, _ = c.create_container("/cont-never-used")
    c.create("/cont1/child1")
    c.create("/cont1/child2")
    c.delete("/cont1/child1")
    time.sleep(1.0)
    assert c.exists("/cont1") is not None  # still has a child
    c.delete("/cont1/child2")
    wait_until(lambda: c.exists("/cont1") is None, timeout=10, msg="container reaped")
    # a container that never had a child is not reaped
    assert c.exists(never_used) is not None
    # containers may hold containers; emptying bottom-up reaps the chain
    c.create_container("/cont2")
    c.create_container("/cont2/inner")
    c.create("/cont2/inner/leaf")
    c.delete("/cont2/inner/leaf")
    wait_until(lambda: c.exists("/cont2") is None, timeout=15, msg="nested containers reaped")


def test_container_in_multi_and_create_flag(raw):
    c = raw()
    # create (op 1) with the container flag is also accepted
    path = c.create("/cont3", b"", flags=zkproto.F_CONTAINER)
    assert path == "/cont3"
    assert c.exists(path).ephemeralOwner == CONTAINER_OWNER
    err, res = c.multi([("createContainer", "/cont4", b"", zkproto.F_CONTAINER), ("create", "/cont4/x", b"", 0)])
    assert err == 0
    assert res[0][0] == "create2" and res[0][1][0] == "/cont4"
    assert res[1] == ("create", "/cont4/x")
    assert c.exists("/cont4").ephemeralOwner == CONTAINER_OWNER
    with pytest.raises(ZKError) as ei:
        c.create_container("/cont3/s", b"")  # fine: containers can nest
        c.create_container("/cont3/s", b"")
    assert ei.value.code == ERR["NODEEXISTS"]


def test_ttl_nodes(raw):
    c = raw()
    path, st = c.create_ttl("/ttl1", 500, b"t")
    assert path == "/ttl1"
    assert st.ephemeralOwner == 0  # the TTL marker owner is not shown to clients
    spath, sst = c.create_ttl("/ttlseq-", 60000, b"", flags=zkproto.F_SEQUENTIAL_TTL)
    assert spath.startswith("/ttlseq-") and len(spath) == len("/ttlseq-") + 10
    # a TTL node with a child is kept
    c.create_ttl("/ttl2", 300)
    c.create("/ttl2/child")
    wait_until(lambda: c.exists("/ttl1") is None, timeout=10, msg="ttl node reaped")
    assert c.exists("/ttl2") is not None
    assert c.exists(spath) is not None  # long ttl: still there
    # invalid TTLs
    for bad in (0, -5, 1 << 41):
        with pytest.raises(ZKError) as ei:
            c.create_ttl("/ttlbad", bad)
        assert ei.value.code == ERR["BADARGUMENTS"], bad
    # createTTL with a non-TTL flag is rejected
    with pytest.raises(ZKError) as ei:
        c.create_ttl("/ttlbad", 1000, flags=zkproto.F_PERSISTENT)
    assert ei.value.code == ERR["BADARGUMENTS"]
    assert c.exists("/ttlbad") is None


def test_whoami(raw):
    c = raw()
    assert c.whoami() == [("ip", "127.0.0.1")]
    c.add_auth("digest", b"alice:secret")
    assert sorted(c.whoami()) == [("digest", "alice"), ("ip", "127.0.0.1")]


def test_get_all_children_number_and_ephemerals(raw):
    c = raw()
    c.create("/cnt")
    c.create("/cnt/a")
    c.create("/cnt/a/b")
    c.create("/cnt/a/b/c")
    c.create("/cnt/d")
    assert c.get_all_children_number("/cnt") == 4
    assert c.get_all_children_number("/cnt/a") == 2
    assert c.get_all_children_number("/cnt/d") == 0
    with pytest.raises(ZKError) as ei:
        c.get_all_children_number("/cnt/missing")
    assert ei.value.code == ERR["NONODE"]
