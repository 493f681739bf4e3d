"""ACLs and authentication: digest, auth, ip, world, super; getACL/setACL; error classes."""

import pytest
from kazoo.exceptions import (AuthFailedError, BadVersionError, InvalidACLError, NoAuthError, NodeExistsError,
                              NoNodeError)
from kazoo.security import ACL, Id, Permissions, make_acl, make_digest_acl

import zkproto
from conftest import SUPER_PASSWORD, SUPER_USER, digest
from zkproto import ERR, ZKError

OPEN = [make_acl("world", "anyone", all=True)]


def authed(zk_factory, user, password):
    c = zk_factory()
    c.add_auth("digest", "%s:%s" % (user, password))
    return c


def test_digest_acl_enforced(zk_factory, base):
    alice = authed(zk_factory, "alice", "pw-a")
    anon = zk_factory()
    bob = authed(zk_factory, "bob", "pw-b")
    acl = [make_digest_acl("alice", "pw-a", all=True)]
    assert acl[0].id.id == digest("alice", "pw-a")
    p = alice.create(base + "/secret", b"s", acl=acl)
    alice.create(p + "/child", b"c", acl=OPEN)
    for c in (anon, bob):
        # exists needs no permission
        assert c.exists(p) is not None
        with pytest.raises(NoAuthError):
            c.get(p)
        with pytest.raises(NoAuthError):
            c.get_children(p)
        with pytest.raises(NoAuthError):
            c.set(p, b"x")
        with pytest.raises(NoAuthError):
            c.create(p + "/new")
        with pytest.raises(NoAuthError):
            c.delete(p + "/child")
        with pytest.raises(NoAuthError):
            c.set_acls(p, OPEN)
        with pytest.raises(NoAuthError):
            c.get_acls(p)
        # the open child is readable; its own ACL is what counts
        assert c.get(p + "/child")[0] == b"c"
    # alice can do everything
    assert alice.get(p)[0] == b"s"
    alice.set(p, b"s2")
    alice.create(p + "/new")
    alice.delete(p + "/new")
    acls, st = alice.get_acls(p)
    assert acls == acl and st.aversion == 0
    # wrong password is a different identity (digest auth itself never fails)
    mallory = authed(zk_factory, "alice", "wrong")
    with pytest.raises(NoAuthError):
        mallory.get(p)


def test_permission_bits(zk_factory, base):
    anon = zk_factory()
    admin = authed(zk_factory, "admin", "x")
    admin_acl = make_digest_acl("admin", "x", all=True)
    # world may only read
    r = admin.create(base + "/r", b"r", acl=[make_acl("world", "anyone", read=True), admin_acl])
    assert anon.get(r)[0] == b"r"
    assert anon.get_children(r) == []
    with pytest.raises(NoAuthError):
        anon.set(r, b"x")
    with pytest.raises(NoAuthError):
        anon.create(r + "/c")
    # world may create but not delete children
    c = admin.create(base + "/c", acl=[make_acl("world", "anyone", create=True), admin_acl])
    anon.create(c + "/kid")
    with pytest.raises(NoAuthError):
        anon.delete(c + "/kid")
    admin.delete(c + "/kid")
    with pytest.raises(NoAuthError):
        anon.get(c)
    # world may delete but not create
    d = admin.create(base + "/d", acl=[make_acl("world", "anyone", delete=True), admin_acl])
    admin.create(d + "/kid")
    with pytest.raises(NoAuthError):
        anon.create(d + "/kid2")
    anon.delete(d + "/kid")
    # write only
    w = admin.create(base + "/w", b"0", acl=[make_acl("world", "anyone", write=True), admin_acl])
    st = anon.set(w, b"1")
    assert st.version == 1
    with pytest.raises(NoAuthError):
        anon.get(w)
    # setACL needs ADMIN, getACL needs READ or ADMIN
    a = admin.create(base + "/a", acl=[make_acl("world", "anyone", admin=True), admin_acl])
    acls, _ = anon.get_acls(a)
    assert acls == [make_acl("world", "anyone", admin=True), admin_acl]  # caller has ADMIN: nothing redacted
    # READ without ADMIN: digest ids come back redacted as "<user>:x"
    acls, _ = anon.get_acls(r)
    assert acls == [make_acl("world", "anyone", read=True), ACL(Permissions.ALL, Id("digest", "admin:x"))]
    anon.set_acls(a, OPEN)
    assert anon.get_acls(a)[0] == OPEN
    with pytest.raises(NoAuthError):
        anon.set_acls(r, OPEN)


def test_create_precedence_noauth_before_nodeexists(zk_factory, base):
    admin = authed(zk_factory, "admin", "x")
    anon = zk_factory()
    p = admin.create(base + "/p", acl=[make_acl("world", "anyone", read=True),
                                       make_digest_acl("admin", "x", all=True)])
    admin.create(p + "/exists")
    with pytest.raises(NoAuthError):
        anon.create(p + "/exists")
    with pytest.raises(NodeExistsError):
        admin.create(p + "/exists")
    with pytest.raises(NoNodeError):
        anon.create(p + "/missing/x")


def test_auth_scheme(zk_factory, base):
    anon = zk_factory()
    with pytest.raises(InvalidACLError):
        anon.create(base + "/x", acl=[ACL(Permissions.ALL, Id("auth", ""))])
    assert anon.exists(base + "/x") is None
    carol = authed(zk_factory, "carol", "pc")
    p = carol.create(base + "/x", b"c", acl=[ACL(Permissions.ALL, Id("auth", ""))])
    acls, _ = carol.get_acls(p)
    assert acls == [ACL(Permissions.ALL, Id("digest", digest("carol", "pc")))]
    with pytest.raises(NoAuthError):
        anon.get(p)
    # two authenticated identities: the auth scheme expands to both
    two = authed(zk_factory, "u1", "p1")
    two.add_auth("digest", "u2:p2")
    q = two.create(base + "/y", acl=[ACL(Permissions.READ | Permissions.WRITE, Id("auth", ""))])
    acls, _ = two.get_acls(q)
    # without ADMIN on the node, getACL redacts digest hashes to "<user>:x" (ZooKeeper 3.5.5+, CVE-2019-0201)
    assert sorted(acls) == sorted([ACL(Permissions.READ | Permissions.WRITE, Id("digest", "u1:x")),
                                   ACL(Permissions.READ | Permissions.WRITE, Id("digest", "u2:x"))])
    root = authed(zk_factory, SUPER_USER, SUPER_PASSWORD)
    acls, _ = root.get_acls(q)
    assert sorted(acls) == sorted([ACL(Permissions.READ | Permissions.WRITE, Id("digest", digest("u1", "p1"))),
                                   ACL(Permissions.READ | Permissions.WRITE, Id("digest", digest("u2", "p2")))])
    u2 = authed(zk_factory, "u2", "p2")
    assert u2.get(q)[0] == b""
    # setACL with the auth scheme and no authenticated id is also INVALIDACL
    with pytest.raises(InvalidACLError):
        anon.set_acls(base, [ACL(Permissions.ALL, Id("auth", ""))])


def test_invalid_acls(zk, raw, base):
    c = raw()
    for bad in ([], None):  # empty and null ACL vectors
        with pytest.raises(ZKError) as ei:
            c.create(base + "/e", acl=bad)
        assert ei.value.code == ERR["INVALIDACL"]
    with pytest.raises(ZKError) as ei:
        c.set_acl(base, [])
    assert ei.value.code == ERR["INVALIDACL"]
    with pytest.raises(InvalidACLError):
        zk.create(base + "/e", acl=[ACL(Permissions.ALL, Id("digest", "nocolon"))])
    with pytest.raises(InvalidACLError):
        zk.create(base + "/e", acl=[ACL(Permissions.ALL, Id("nosuchscheme", "x"))])
    with pytest.raises(InvalidACLError):
        zk.create(base + "/e", acl=[ACL(Permissions.ALL, Id("ip", "not.an.ip"))])
    assert zk.exists(base + "/e") is None


def test_ip_scheme(zk_factory, base):
    c = zk_factory()
    admin = authed(zk_factory, "admin", "x")
    admin_acl = make_digest_acl("admin", "x", all=True)
    p = admin.create(base + "/ip", b"ip", acl=[ACL(Permissions.READ, Id("ip", "127.0.0.1")), admin_acl])
    assert c.get(p)[0] == b"ip"
    with pytest.raises(NoAuthError):
        c.set(p, b"no")
    q = admin.create(base + "/cidr", b"cidr", acl=[ACL(Permissions.ALL, Id("ip", "127.0.0.0/8"))])
    assert c.get(q)[0] == b"cidr"
    c.set(q, b"ok")
    n = admin.create(base + "/other", b"o", acl=[ACL(Permissions.ALL, Id("ip", "10.1.2.3")), admin_acl])
    with pytest.raises(NoAuthError):
        c.get(n)
    m = admin.create(base + "/othernet", b"o", acl=[ACL(Permissions.ALL, Id("ip", "10.0.0.0/8")), admin_acl])
    with pytest.raises(NoAuthError):
        c.get(m)


def test_super_digest_bypasses_acls(zk_factory, base):
    owner = authed(zk_factory, "owner", "o")
    p = owner.create(base + "/locked", b"L", acl=[make_digest_acl("owner", "o", read=True)])
    owner.create(base + "/locked2", acl=[make_digest_acl("owner", "o", all=True)])
    root = authed(zk_factory, SUPER_USER, SUPER_PASSWORD)
    assert root.get(p)[0] == b"L"
    root.set(p, b"S")
    root.create(p + "/child")
    root.delete(p + "/child")
    assert root.get_acls(p)[0] == [make_digest_acl("owner", "o", read=True)]
    root.set_acls(p, OPEN)
    anon = zk_factory()
    assert anon.get(p)[0] == b"S"
    root.delete(p)
    wrong = authed(zk_factory, SUPER_USER, "not-the-password")
    with pytest.raises(NoAuthError):
        wrong.get(base + "/locked2")


def test_set_acl_versions(zk, base):
    p = zk.create(base + "/v")
    acls, st = zk.get_acls(p)
    assert acls == OPEN and st.aversion == 0
    st = zk.set_acls(p, [make_acl("world", "anyone", read=True, write=True, create=True, delete=True,
                                  admin=True)], version=0)
    assert st.aversion == 1 and st.version == 0 and st.cversion == 0
    with pytest.raises(BadVersionError):
        zk.set_acls(p, OPEN, version=0)
    st2 = zk.set_acls(p, OPEN, version=-1)
    assert st2.aversion == 2
    assert st2.mzxid == st.mzxid  # setACL does not change mzxid
    _, st3 = zk.get_acls(p)
    assert st3 == zk.exists(p) and st3.aversion == 2
    with pytest.raises(NoNodeError):
        zk.set_acls(base + "/missing", OPEN)
    # a single set does not bump aversion
    zk.set(p, b"data")
    assert zk.exists(p).aversion == 2


def test_auth_failed_for_unknown_scheme(zk_factory):
    c = zk_factory()
    with pytest.raises(AuthFailedError):
        c.add_auth("nosuchscheme", "whatever")


def test_auth_failed_raw_closes_connection(server, raw):
    c = raw()
    c.send_frame(zkproto.struct.pack(">ii", zkproto.AUTH_XID, zkproto.OP["auth"]) +
                 zkproto.W().int(0).ustring("nosuchscheme").buffer(b"x").bytes())
    rep = c.read_reply(zkproto.AUTH_XID)
    assert rep.err == ERR["AUTHFAILED"]
    assert c.is_closed_by_peer(5.0)
    # server still serves others
    d = raw()
    assert d.exists("/") is not None


def test_digest_auth_raw_and_whoami(raw, base):
    c = raw()
    c.add_auth("digest", b"dave:pw")
    path = c.create(base + "/raw", b"r", acl=[(zkproto.PERM_ALL, "digest", digest("dave", "pw"))])
    assert c.get_acl(path)[0] == [(31, "digest", digest("dave", "pw"))]
    d = raw()
    with pytest.raises(ZKError) as ei:
        d.get(path)
    assert ei.value.code == ERR["NOAUTH"]
    s = raw()
    s.add_auth("digest", ("%s:%s" % (SUPER_USER, SUPER_PASSWORD)).encode())
    assert ("digest", SUPER_USER) in s.whoami()
    assert s.get(path)[0] == b"r"
