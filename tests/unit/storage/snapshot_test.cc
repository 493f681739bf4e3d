// Snapshots (storage/src/snapshot/snapshot.cc) and the DataTree restore functions they use: round trips of a
// varied tree, rejection of every bit flip and truncation, rejection of well-checksummed but inconsistent
// contents, and the file functions (write, list, load newest valid, purge).
#include "ukeeper/storage/snapshot/snapshot.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ukeeper/common/crc32c.h"
#include "ukeeper/common/jute.h"
#include "ukeeper/storage/tree/path.h"
#include "ukeeper/storage/tree/txn.h"

namespace uk {
namespace {

namespace fs = std::filesystem;

const AclList kOpen = {Acl{perm::kAll, Id{"world", "anyone"}}};

// Applies txns with increasing zxids, taking parent cversions from the tree as the request pipeline would.
class TreeBuilder {
 public:
  DataTree tree;
  Zxid zxid = 0;
  int64_t time_ms = 1'700'000'000'000;

  void create(const std::string& path, std::optional<std::string> data, int64_t owner = 0,
              const AclList& acl = kOpen) {
    const Node* parent = tree.get(path_parent(path));
    ASSERT_NE(parent, nullptr) << path;
    TxnOp op;
    op.type = TxnType::kCreate;
    op.path = path;
    op.data = std::move(data);
    op.acl = acl;
    op.ephemeral_owner = owner;
    op.parent_cversion = parent->stat.cversion + 1;
    apply(op);
  }
  void remove(const std::string& path) {
    TxnOp op;
    op.type = TxnType::kDelete;
    op.path = path;
    apply(op);
  }
  void set_data(const std::string& path, std::optional<std::string> data) {
    TxnOp op;
    op.type = TxnType::kSetData;
    op.path = path;
    op.data = std::move(data);
    op.version = tree.get(path)->stat.version + 1;
    apply(op);
  }
  void set_acl(const std::string& path, const AclList& acl) {
    TxnOp op;
    op.type = TxnType::kSetAcl;
    op.path = path;
    op.acl = acl;
    op.version = tree.get(path)->stat.aversion + 1;
    apply(op);
  }
  void open_session(SessionId s, int32_t timeout_ms) {
    TxnOp op;
    op.type = TxnType::kCreateSession;
    op.timeout_ms = timeout_ms;
    apply(op, s);
  }
  void close_session(SessionId s) {
    TxnOp op;
    op.type = TxnType::kCloseSession;
    apply(op, s);
  }

 private:
  void apply(const TxnOp& op, SessionId session = 0x77) {
    Txn t;
    t.zxid = ++zxid;
    t.session = session;
    t.time_ms = (time_ms += 7);
    t.type = op.type;
    t.ops = {op};
    tree.apply(t);
  }
};

// A tree with every kind of content a snapshot must carry.
DataTree varied_tree(int fanout = 8) {
  TreeBuilder b;
  b.open_session(0x100000001, 30000);
  b.open_session(0x100000002, 4000);
  b.open_session(0x100000003, 10000);
  b.open_session(-5, 6000);  // ids are opaque 64-bit values
  b.open_session(INT64_MAX, 1);
  // Nested persistent nodes with assorted data, ACLs and names.
  const AclList digest = {Acl{perm::kAll, Id{"digest", "bob:Ny6+BNPtzHhmUw1rK+q6hjF6kQU="}},
                          Acl{perm::kRead, Id{"world", "anyone"}}};
  const AclList ip = {Acl{perm::kRead | perm::kWrite, Id{"ip", "10.0.0.0/8"}}};
  const AclList many = {Acl{1, Id{"ip", "127.0.0.1"}}, Acl{2, Id{"ip", "::1"}}, Acl{4, Id{"sasl", "svc"}},
                        Acl{8, Id{"x509", "CN=a"}}, Acl{16, Id{"auth", ""}}};
  for (int i = 0; i < fanout; ++i) {
    const std::string a = "/app" + std::to_string(i);
    b.create(a, std::string(static_cast<size_t>(i) * 13, static_cast<char>('a' + i)), 0, i % 2 ? digest : kOpen);
    for (int j = 0; j < fanout; ++j) {
      const std::string c = a + "/n-" + std::to_string(j);
      std::optional<std::string> data;
      if (j % 3 == 1) data = std::string();
      if (j % 3 == 2) data = std::string("\0\xff\x01 binary", 10);
      b.create(c, data, 0, j % 2 ? ip : many);
      for (int k = 0; k < fanout; ++k) {
        b.create(c + "/leaf" + std::to_string(k), std::string(static_cast<size_t>(k) * 101, 'x'));
      }
    }
  }
  b.create("/deep", "d");
  std::string p = "/deep";
  for (int d = 0; d < 20; ++d) {
    p += "/" + std::to_string(d);
    b.create(p, std::nullopt);
  }
  b.create("/unicode-\xc3\xa9\xe2\x82\xac", "utf8");  // é€
  b.create("/a-b", "sorts between /a and /a/b");
  b.create("/a", "a");
  b.create("/a/b", "b");
  // Ephemerals of several sessions, containers (with and without children), TTL nodes.
  b.create("/locks", std::nullopt);
  for (int i = 0; i < fanout; ++i) {
    b.create("/locks/lock-" + std::to_string(i), "owner", 0x100000001 + i % 3);
  }
  b.create("/locks/max", "", INT64_MAX);
  b.create("/c1", std::nullopt, owner::kContainer);
  b.create("/c1/child", "x");
  b.create("/c2", "empty container", owner::kContainer);
  b.create("/ttl1", "t", owner::make_ttl(5000));
  b.create("/ttl2", std::nullopt, owner::make_ttl(owner::kTtlMaxMs));
  // Changes after creation: versions, aversions, cversion != num_children, pzxid from deletes.
  b.set_data("/app0", std::nullopt);
  b.set_data("/app0", "v2");
  b.set_acl("/app1", ip);
  b.create("/app0/gone", "x");
  b.remove("/app0/gone");
  b.remove("/app0/n-0/leaf0");
  // The root and the system nodes carry changes too: restore must overwrite them in place.
  b.set_data("/", "root data");
  b.set_acl("/", digest);
  b.set_data("/zookeeper", "zk");
  b.create("/zookeeper/user", "under a system node");
  b.set_acl("/zookeeper/quota", ip);
  // A closed session: its ephemerals go, the session leaves the table.
  b.open_session(0x200000009, 5000);
  b.create("/locks/short", "", 0x200000009);
  b.close_session(0x200000009);
  return std::move(b.tree);
}

DataTree decode_ok(const std::string& bytes) {
  DataTree t;
  std::string error;
  EXPECT_TRUE(decode_snapshot(bytes, t, error)) << error;
  return t;
}

// Node by node, so a failure names what differs.
void expect_same(const DataTree& want, const DataTree& got) {
  EXPECT_EQ(got.node_count(), want.node_count());
  size_t compared = 0;
  want.for_each([&](const std::string& path, const Node& w) {
    const Node* g = got.get(path);
    ASSERT_NE(g, nullptr) << path;
    EXPECT_EQ(g->data, w.data) << path;
    EXPECT_EQ(g->acl, w.acl) << path;
    EXPECT_EQ(g->stat, w.stat) << path;
    EXPECT_EQ(g->children, w.children) << path;
    compared++;
  });
  EXPECT_EQ(compared, want.node_count());
  EXPECT_EQ(got.ephemerals(), want.ephemerals());
  EXPECT_EQ(got.containers(), want.containers());
  EXPECT_EQ(got.ttl_nodes(), want.ttl_nodes());
  EXPECT_EQ(got.sessions(), want.sessions());
  EXPECT_EQ(got.last_zxid(), want.last_zxid());
  EXPECT_EQ(got.approximate_data_size(), want.approximate_data_size());
  EXPECT_TRUE(got == want);
  std::string why;
  EXPECT_TRUE(got.check_consistency(why)) << why;
}

// Rewrites the trailer (length and crc) of `bytes` after a test changed the body, so only the content checks
// stand between the bytes and the tree.
std::string reseal(std::string bytes) {
  bytes.resize(bytes.size() - 12);
  std::string trailer;
  JuteWriter w(trailer);
  w.put_long(static_cast<int64_t>(bytes.size() + 12));
  bytes += trailer;
  trailer.clear();
  w.put_int(static_cast<int32_t>(crc32c(bytes)));
  return bytes + trailer;
}

// A hand-built snapshot (the format in snapshot.h), for inputs the encoder never writes.
struct RawNode {
  std::string path;
  std::optional<std::string> data;
  Stat stat;
  AclList acl = kOpen;
  enum Null { kNone, kAclList, kScheme } null_field = kNone;  // writes -1 where the encoder never does
};

std::string raw_snapshot(Zxid zxid, const std::vector<std::pair<SessionId, int32_t>>& sessions,
                         const std::vector<RawNode>& nodes, int64_t claimed_nodes = -1, int32_t version = 1) {
  std::string out = "UKSNAP";
  JuteWriter w(out);
  w.put_int(version);
  w.put_long(zxid);
  w.put_long(claimed_nodes >= 0 ? claimed_nodes : static_cast<int64_t>(nodes.size()));
  w.put_long(static_cast<int64_t>(sessions.size()));
  for (const auto& [id, t] : sessions) {
    w.put_long(id);
    w.put_int(t);
  }
  for (const RawNode& n : nodes) {
    w.put_string(n.path);
    w.put_buffer(n.data);
    w.put_int(n.null_field == RawNode::kAclList ? -1 : static_cast<int32_t>(n.acl.size()));
    for (const Acl& a : n.acl) {
      w.put_int(a.perms);
      if (n.null_field == RawNode::kScheme) {
        w.put_null();
      } else {
        w.put_string(a.id.scheme);
      }
      w.put_string(a.id.id);
    }
    const Stat& s = n.stat;
    w.put_long(s.czxid);
    w.put_long(s.mzxid);
    w.put_long(s.ctime_ms);
    w.put_long(s.mtime_ms);
    w.put_int(s.version);
    w.put_int(s.cversion);
    w.put_int(s.aversion);
    w.put_long(s.ephemeral_owner);
    w.put_int(s.data_length);
    w.put_int(s.num_children);
    w.put_long(s.pzxid);
  }
  out.append(12, '\0');
  return reseal(out);
}

// The four nodes of a fresh tree, as a raw snapshot lists them, plus `extra` under the root.
std::vector<RawNode> fresh_nodes(int root_children = 1) {
  RawNode root{"/", std::string(), {}};
  root.stat.num_children = root_children;
  RawNode zk{"/zookeeper", std::string(), {}};
  zk.stat.num_children = 2;
  RawNode config{"/zookeeper/config", std::string(), {}};
  config.acl = {Acl{perm::kRead, Id{"world", "anyone"}}};
  RawNode quota{"/zookeeper/quota", std::string(), {}};
  return {root, zk, config, quota};
}

std::string decode_error(const std::string& bytes) {
  DataTree t;
  std::string error;
  EXPECT_FALSE(decode_snapshot(bytes, t, error));
  EXPECT_FALSE(error.empty());
  return error;
}

// ---------------------------------------------------------------------------------------------------------------
// Encoding and decoding

TEST(SnapshotCodec, FreshTreeRoundTrips) {
  DataTree fresh;
  const std::string bytes = encode_snapshot(fresh);
  EXPECT_EQ(bytes.substr(0, 6), "UKSNAP");
  DataTree back = decode_ok(bytes);
  expect_same(fresh, back);
  // The hand-built equivalent of a fresh tree is byte-identical: the format in snapshot.h is the format.
  EXPECT_EQ(raw_snapshot(0, {}, fresh_nodes()), bytes);
}

TEST(SnapshotCodec, VariedTreeRoundTripsEveryNodeIndexAndSession) {
  const DataTree tree = varied_tree();
  ASSERT_GT(tree.node_count(), 600u);
  ASSERT_EQ(tree.sessions().size(), 5u);
  ASSERT_EQ(tree.ephemerals().size(), 4u);
  ASSERT_EQ(tree.containers().size(), 2u);
  ASSERT_EQ(tree.ttl_nodes().size(), 2u);
  ASSERT_EQ(tree.get("/")->data, std::optional<std::string>("root data"));
  const std::string bytes = encode_snapshot(tree);
  DataTree back = decode_ok(bytes);
  expect_same(tree, back);
  EXPECT_EQ(encode_snapshot(back), bytes);  // deterministic
  SnapshotHeader h;
  std::string error;
  ASSERT_TRUE(decode_snapshot_header(bytes, h, error)) << error;
  EXPECT_EQ(h.version, 1u);
  EXPECT_EQ(h.zxid, tree.last_zxid());
  EXPECT_EQ(h.node_count, static_cast<int64_t>(tree.node_count()));
  EXPECT_EQ(h.session_count, 5);
}

// The server's snapshot thread encodes one published version through a read guard while the writer goes on: the
// bytes are exactly those of the tree as it was when the guard opened, whatever was applied since.
TEST(SnapshotCodec, AVersionEncodesAsTheTreeWasWhenItsGuardOpened) {
  TreeBuilder b;
  b.tree = varied_tree(4);
  b.zxid = b.tree.last_zxid();
  const std::string then = encode_snapshot(b.tree);
  TreeReader reader(b.tree);
  {
    ReadGuard guard = reader.guard();
    TreeVersion version{&guard, b.tree.sessions(), {}};
    // The writer moves on: new nodes, changed data, a session opened and one closed, a node deleted.
    b.create("/later", std::string("x"));
    b.set_data("/later", std::string("y"));
    b.open_session(0x300000001, 5000);
    b.close_session(0x300000001);
    b.remove("/later");
    b.create("/after", std::nullopt);
    EXPECT_NE(encode_snapshot(b.tree), then);
    EXPECT_EQ(encode_snapshot(version), then);
  }
  TreeVersion now_version{nullptr, b.tree.sessions(), {}};
  ReadGuard now = reader.guard();
  now_version.guard = &now;
  EXPECT_EQ(encode_snapshot(now_version), encode_snapshot(b.tree));
}

TEST(SnapshotCodec, RestoredTreeBehavesLikeTheOriginal) {
  // Applying the same txns to the original and the restored tree gives the same results and the same tree:
  // the sequential counter (cversion), the ephemeral index (closeSession) and the sizes carried over.
  DataTree a = varied_tree(3);
  DataTree b = decode_ok(encode_snapshot(a));
  auto both = [&](const Txn& t) {
    ApplyResult ra = a.apply(t);
    ApplyResult rb = b.apply(t);
    ASSERT_EQ(ra.results.size(), rb.results.size());
    for (size_t i = 0; i < ra.results.size(); ++i) {
      EXPECT_EQ(ra.results[i].stat, rb.results[i].stat);
      EXPECT_EQ(ra.results[i].path, rb.results[i].path);
    }
    EXPECT_EQ(ra.events, rb.events);
  };
  Zxid z = a.last_zxid();
  Txn t;
  t.type = TxnType::kCreate;
  t.zxid = ++z;
  TxnOp op;
  op.type = TxnType::kCreate;
  op.path = "/locks/new";
  op.acl = kOpen;
  op.parent_cversion = b.get("/locks")->stat.cversion + 1;
  t.ops = {op};
  both(t);
  Txn close;
  close.type = TxnType::kCloseSession;
  close.zxid = ++z;
  close.session = 0x100000001;
  TxnOp close_op;
  close_op.type = TxnType::kCloseSession;
  close.ops = {close_op};
  both(close);
  EXPECT_EQ(b.ephemerals_of(0x100000001), nullptr);
  expect_same(a, b);
}

TEST(SnapshotCodec, EveryBitFlipAndEveryTruncationIsRejected) {
  TreeBuilder b;
  b.open_session(9, 3000);
  b.create("/x", "12");
  b.create("/x/e", std::nullopt, 9);
  const std::string bytes = encode_snapshot(b.tree);
  ASSERT_LT(bytes.size(), 1000u);
  decode_ok(bytes);
  for (size_t bit = 0; bit < bytes.size() * 8; ++bit) {
    std::string bad = bytes;
    bad[bit / 8] = static_cast<char>(bad[bit / 8] ^ (1 << (bit % 8)));
    DataTree t;
    std::string error;
    EXPECT_FALSE(decode_snapshot(bad, t, error)) << "bit " << bit;
  }
  for (size_t n = 0; n < bytes.size(); ++n) {
    DataTree t;
    std::string error;
    EXPECT_FALSE(decode_snapshot(std::string_view(bytes).substr(0, n), t, error)) << "truncated to " << n;
  }
  EXPECT_NE(decode_error(bytes + '\0').find("length"), std::string::npos);
}

TEST(SnapshotCodec, WellSealedButInconsistentContentIsRejected) {
  // Each input has a valid trailer: only the content checks can refuse it.
  auto nodes = fresh_nodes(2);
  RawNode a{"/a", std::string("hi"), {}};
  a.stat.data_length = 2;
  auto with = [&](std::vector<RawNode> extra, int root_children = 2) {
    auto v = fresh_nodes(root_children);
    v.insert(v.begin() + 1, extra.begin(), extra.end());  // after "/", before "/zookeeper"
    return v;
  };
  EXPECT_TRUE([&] {
    DataTree t;
    std::string e;
    return decode_snapshot(raw_snapshot(5, {{1, 100}}, with({a})), t, e);
  }());

  // Order: a child before its parent, a duplicate, paths out of byte order.
  RawNode ab{"/a/b", std::nullopt, {}};
  RawNode a_with_child = a;
  a_with_child.stat.num_children = 1;
  EXPECT_NE(decode_error(raw_snapshot(5, {}, with({ab, a_with_child}))).find("parent"), std::string::npos);
  RawNode b{"/b", std::nullopt, {}};
  EXPECT_NE(decode_error(raw_snapshot(5, {}, with({b, a}))).find("out of order"), std::string::npos);
  EXPECT_NE(decode_error(raw_snapshot(5, {}, with({a, a}))).find("out of order"), std::string::npos);
  // A missing parent (no "/q" for "/q/r").
  RawNode qr{"/q/r", std::nullopt, {}};
  EXPECT_NE(decode_error(raw_snapshot(5, {}, with({a, qr}))).find("missing or ephemeral parent"), std::string::npos);
  // A child of an ephemeral.
  RawNode eph = a_with_child;
  eph.stat.ephemeral_owner = 1;
  EXPECT_NE(decode_error(raw_snapshot(5, {}, with({eph, ab}))).find("ephemeral"), std::string::npos);
  // Invalid paths.
  for (const char* bad : {"/a/", "a", "/a//b", "/.", ""}) {
    RawNode n{bad, std::nullopt, {}};
    decode_error(raw_snapshot(5, {}, with({n})));
  }
  // data_length not the data's size (longer, shorter, non-zero for null data).
  for (int32_t len : {3, 1, -1}) {
    RawNode n = a;
    n.stat.data_length = len;
    decode_error(raw_snapshot(5, {}, with({n})));
  }
  RawNode null_len{"/a", std::nullopt, {}};
  null_len.stat.data_length = 1;
  decode_error(raw_snapshot(5, {}, with({null_len})));
  // num_children that does not match the children restored (on a new node and on the root).
  EXPECT_NE(decode_error(raw_snapshot(5, {}, with({a_with_child}))).find("num_children"), std::string::npos);
  EXPECT_NE(decode_error(raw_snapshot(5, {}, with({a}, 3))).find("num_children"), std::string::npos);
  // A node of a fresh tree left out: the tree would keep a node the snapshot does not list.
  auto no_quota = with({a});
  no_quota.pop_back();
  no_quota[2].stat.num_children = 1;  // /zookeeper
  EXPECT_NE(decode_error(raw_snapshot(5, {}, no_quota)).find("missing"), std::string::npos);
  // Null where the encoder writes none (a null ACL list, a null scheme): the encoding stays canonical.
  RawNode null_list = a;
  null_list.acl.clear();
  null_list.null_field = RawNode::kAclList;
  decode_error(raw_snapshot(5, {}, with({null_list})));
  RawNode null_scheme = a;
  null_scheme.null_field = RawNode::kScheme;
  decode_error(raw_snapshot(5, {}, with({null_scheme})));
  RawNode empty_list = a;
  empty_list.acl.clear();
  EXPECT_TRUE([&] {
    DataTree t;
    std::string e;
    return decode_snapshot(raw_snapshot(5, {}, with({empty_list})), t, e);
  }());
  // Sessions out of order or repeated.
  EXPECT_NE(decode_error(raw_snapshot(5, {{2, 1}, {1, 1}}, with({a}))).find("session"), std::string::npos);
  EXPECT_NE(decode_error(raw_snapshot(5, {{2, 1}, {2, 1}}, with({a}))).find("session"), std::string::npos);
  // Counts that claim more than the file holds, up to absurd ones: refused before anything is allocated.
  decode_error(raw_snapshot(5, {}, with({a}), 6));  // one more than present: truncated in the last node
  for (int64_t claimed : {int64_t{1000}, int64_t{1} << 40, INT64_MAX}) {
    EXPECT_NE(decode_error(raw_snapshot(5, {}, with({a}), claimed)).find("count"), std::string::npos) << claimed;
  }
  // Fewer nodes claimed than present: the rest is unread.
  EXPECT_NE(decode_error(raw_snapshot(5, {}, with({a}), 4)).find("unread"), std::string::npos);
  // Another format version, another magic.
  EXPECT_NE(decode_error(raw_snapshot(5, {}, with({a}), -1, 2)).find("version"), std::string::npos);
  std::string bad_magic = raw_snapshot(5, {}, with({a}));
  bad_magic[0] = 'X';
  EXPECT_NE(decode_error(reseal(bad_magic)).find("magic"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------------------------
// DataTree restore functions

TEST(DataTreeRestore, RestoreNodeChecksItsInput) {
  DataTree t;
  Node n;
  n.data = "xy";
  n.stat.data_length = 2;
  EXPECT_FALSE(t.restore_node("/missing/child", n));
  EXPECT_FALSE(t.restore_node("/bad/", n));
  Node wrong_len = n;
  wrong_len.stat.data_length = 5;
  EXPECT_FALSE(t.restore_node("/a", wrong_len));
  Node with_children = n;
  with_children.children = {"c"};
  EXPECT_FALSE(t.restore_node("/a", with_children));
  EXPECT_EQ(t.get("/a"), nullptr);

  const int64_t before = t.approximate_data_size();
  Node eph = n;
  eph.stat.ephemeral_owner = 42;
  ASSERT_TRUE(t.restore_node("/a", eph));
  EXPECT_EQ(t.approximate_data_size(), before + 2 + 2);
  ASSERT_NE(t.ephemerals_of(42), nullptr);
  EXPECT_EQ(*t.ephemerals_of(42), std::set<std::string>{"/a"});
  EXPECT_FALSE(t.restore_node("/a/under-ephemeral", n));
  EXPECT_EQ(t.get("/")->children.count("a"), 1u);
  std::string why;
  EXPECT_FALSE(t.check_consistency(why));  // the root's num_children still says 1 (only /zookeeper)
  EXPECT_NE(why.find("num_children"), std::string::npos) << why;
}

TEST(DataTreeRestore, ExistingNodesAreOverwrittenInPlaceKeepingChildren) {
  DataTree t;
  Node root;
  root.data = "new root";
  root.stat.data_length = 8;
  root.stat.num_children = 1;
  root.stat.cversion = 12;
  root.acl = {Acl{perm::kRead, Id{"ip", "1.2.3.4"}}};
  const int64_t before = t.approximate_data_size();
  ASSERT_TRUE(t.restore_node("/", root));
  EXPECT_EQ(t.get("/")->data, std::optional<std::string>("new root"));
  EXPECT_EQ(t.get("/")->acl, root.acl);
  EXPECT_EQ(t.get("/")->stat, root.stat);
  EXPECT_EQ(t.get("/")->children, std::set<std::string>{"zookeeper"});
  EXPECT_EQ(t.approximate_data_size(), before + 8);
  // Turning /zookeeper/quota into a container moves it into the container index, and back.
  Node quota;
  quota.stat.ephemeral_owner = owner::kContainer;
  ASSERT_TRUE(t.restore_node("/zookeeper/quota", quota));
  EXPECT_EQ(t.containers(), std::set<std::string>{"/zookeeper/quota"});
  quota.stat.ephemeral_owner = 0;
  ASSERT_TRUE(t.restore_node("/zookeeper/quota", quota));
  EXPECT_TRUE(t.containers().empty());
  std::string why;
  EXPECT_TRUE(t.check_consistency(why)) << why;
  t.restore_session(7, 1234);
  t.restore_last_zxid(99);
  EXPECT_EQ(t.sessions().at(7), 1234);
  EXPECT_EQ(t.last_zxid(), 99);
}

TEST(DataTreeRestore, CheckConsistencyHoldsAfterApplies) {
  DataTree t = varied_tree(3);
  std::string why;
  EXPECT_TRUE(t.check_consistency(why)) << why;
}

// ---------------------------------------------------------------------------------------------------------------
// Files

class SnapshotFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/uksnap-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    dir_ = root_ + "/snap";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  std::string write(const DataTree& t) {
    std::string path, error;
    EXPECT_TRUE(write_snapshot_file(t, dir_, path, error)) << error;
    return path;
  }

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }

  // Builds trees at increasing zxids and writes a snapshot of each; returns the paths, oldest first.
  std::vector<std::string> write_series(int count, std::vector<DataTree>* trees = nullptr) {
    TreeBuilder b;
    std::vector<std::string> paths;
    for (int i = 0; i < count; ++i) {
      b.create("/n" + std::to_string(i), std::string(static_cast<size_t>(i), 'd'));
      paths.push_back(write(b.tree));
      if (trees != nullptr) trees->push_back(b.tree);
    }
    return paths;
  }

  std::string root_;
  std::string dir_;
};

void flip(const std::string& path, size_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x04);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
}

TEST_F(SnapshotFiles, WriteLeavesNoTmpAndLoadFindsIt) {
  const DataTree tree = varied_tree(3);
  const std::string path = write(tree);
  char want[64];
  std::snprintf(want, sizeof want, "snapshot-%016llx.snap", static_cast<unsigned long long>(tree.last_zxid()));
  EXPECT_EQ(fs::path(path).filename().string(), want);
  EXPECT_EQ(names(), std::vector<std::string>{want});  // no .tmp left behind
  EXPECT_EQ(fs::file_size(path), encode_snapshot(tree).size());

  auto files = list_snapshots(dir_);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].zxid, tree.last_zxid());
  DataTree loaded;
  std::vector<std::string> skipped;
  EXPECT_EQ(load_newest_snapshot(dir_, loaded, skipped), tree.last_zxid());
  EXPECT_TRUE(skipped.empty());
  expect_same(tree, loaded);
  SnapshotHeader h;
  std::string error;
  EXPECT_TRUE(peek_snapshot_file(path, h, error)) << error;
  EXPECT_EQ(h.node_count, static_cast<int64_t>(tree.node_count()));
}

// The server's snapshot thread writes a version and closes its guard as soon as every node is written (before
// the fdatasync): done_reading runs once, and the file is the version's encoding.
TEST_F(SnapshotFiles, AVersionIsWrittenAndLetGoBeforeTheSync) {
  const DataTree tree = varied_tree(3);
  TreeReader reader(tree);
  std::optional<ReadGuard> guard(reader.guard());
  int released = 0;
  TreeVersion version{&*guard, tree.sessions(), [&] {
                        released++;
                        guard.reset();
                      }};
  const std::string expected = encode_snapshot(version);
  std::string path;
  std::string error;
  ASSERT_TRUE(write_snapshot_file(version, dir_, path, error)) << error;
  EXPECT_EQ(released, 1);
  EXPECT_FALSE(guard.has_value());
  std::string bytes(fs::file_size(path), '\0');
  std::ifstream in(path, std::ios::binary);
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  EXPECT_EQ(bytes, expected);
}

TEST_F(SnapshotFiles, NoSnapshotLeavesTheTreeFresh) {
  DataTree t;
  std::vector<std::string> skipped;
  EXPECT_EQ(load_newest_snapshot(dir_, t, skipped), 0);  // the directory does not even exist
  EXPECT_TRUE(skipped.empty());
  EXPECT_TRUE(t == DataTree());
}

TEST_F(SnapshotFiles, ListIsNewestFirstAndIgnoresOtherNames) {
  write_series(4);
  std::ofstream(dir_ + "/snapshot-0000000000000099.snap.tmp") << "partial";
  std::ofstream(dir_ + "/snapshot-00000000000000zz.snap") << "x";
  std::ofstream(dir_ + "/notes.txt") << "x";
  auto files = list_snapshots(dir_);
  ASSERT_EQ(files.size(), 4u);
  for (size_t i = 0; i < files.size(); ++i) EXPECT_EQ(files[i].zxid, static_cast<Zxid>(4 - i));
}

TEST_F(SnapshotFiles, CorruptNewestIsSkippedForTheOlderOne) {
  std::vector<DataTree> trees;
  auto paths = write_series(4, &trees);
  flip(paths[3], fs::file_size(paths[3]) / 2);  // bit rot in the newest
  fs::resize_file(paths[2], fs::file_size(paths[2]) - 5);  // a torn copy of the next
  // A valid snapshot under the wrong name (it holds zxid 1): newer by name, refused by content.
  fs::copy_file(paths[0], dir_ + "/snapshot-0000000000000005.snap");
  DataTree t;
  std::vector<std::string> skipped;
  EXPECT_EQ(load_newest_snapshot(dir_, t, skipped), 2);
  ASSERT_EQ(skipped.size(), 3u);
  EXPECT_NE(skipped[0].find("the name says zxid 0x5"), std::string::npos) << skipped[0];
  EXPECT_NE(skipped[1].find(paths[3]), std::string::npos) << skipped[1];
  EXPECT_NE(skipped[1].find("crc"), std::string::npos) << skipped[1];
  EXPECT_NE(skipped[2].find(paths[2]), std::string::npos) << skipped[2];
  expect_same(trees[1], t);
}

TEST_F(SnapshotFiles, PurgeKeepsTheNewestAndRemovesTmpFiles) {
  auto paths = write_series(6);
  std::ofstream(dir_ + "/snapshot-0000000000000007.snap.tmp") << "from a crashed writer";
  std::vector<std::string> removed;
  EXPECT_EQ(purge_snapshots(dir_, 3, removed), 4);
  EXPECT_EQ(removed.size(), 4u);  // three old snapshots and the .tmp
  auto files = list_snapshots(dir_);
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files.back().zxid, 4);
  EXPECT_EQ(names().size(), 3u);
  // Nothing more to do at the same count; retain 0 counts as 1.
  removed.clear();
  EXPECT_EQ(purge_snapshots(dir_, 3, removed), 4);
  EXPECT_TRUE(removed.empty());
  EXPECT_EQ(purge_snapshots(dir_, 0, removed), 6);
  EXPECT_EQ(list_snapshots(dir_).size(), 1u);
  EXPECT_EQ(purge_snapshots(root_ + "/nowhere", 3, removed), 0);
}

TEST_F(SnapshotFiles, PurgeCountsOnlySnapshotsThatLookValid) {
  auto paths = write_series(5);
  fs::resize_file(paths[4], fs::file_size(paths[4]) - 1);  // the newest is truncated
  std::vector<std::string> removed;
  EXPECT_EQ(purge_snapshots(dir_, 2, removed), 3);  // keeps 4 and 3 (and the broken 5); removes 1 and 2
  EXPECT_EQ(removed.size(), 2u);
  EXPECT_EQ(list_snapshots(dir_).size(), 3u);
  // Fewer valid snapshots than asked for: none is removed, the oldest valid one bounds the log.
  removed.clear();
  EXPECT_EQ(purge_snapshots(dir_, 5, removed), 3);
  EXPECT_TRUE(removed.empty());
}

TEST_F(SnapshotFiles, WriteFailureNamesTheFileAndLeavesNothing) {
  std::ofstream(root_ + "/file") << "not a directory";
  std::string path, error;
  EXPECT_FALSE(write_snapshot_file(DataTree(), root_ + "/file/snap", path, error));
  EXPECT_NE(error.find(root_ + "/file"), std::string::npos) << error;
  EXPECT_TRUE(path.empty());
}

}  // namespace
}  // namespace uk
