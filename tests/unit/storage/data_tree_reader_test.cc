// The read side of the znode store on one thread (storage/src/tree/tree_reader.cc, trie.cc, child_set.cc,
// epoch.cc): a guard is a snapshot, retired memory waits for open guards, children of a big parent stay sorted
// and cheap to change, and the memory accounting returns to where it started. The many-thread checks are in
// tree_concurrency_test.cc.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "ukeeper/storage/tree/data_tree.h"

namespace uk {
namespace {

const AclList kOpen = {Acl{perm::kAll, Id{"world", "anyone"}}};

TxnOp create_op(const std::string& path, std::string data, int32_t parent_cversion) {
  return create_txn_op(path, std::move(data), kOpen, parent_cversion);
}

TEST(DataTreeReader, AGuardIsASnapshot) {
  DataTree t;
  t.apply(single_op_txn(1, create_op("/a", "one", 1)));
  TreeReader reader(t);
  ReadGuard before = reader.guard();
  // Every write under the open guard adds to what the writer must keep for it.
  int64_t retired = t.retired_bytes();
  for (const Txn& txn : {single_op_txn(2, set_data_txn_op("/a", "two", 1)), single_op_txn(3, create_op("/b", "", 2)),
                         single_op_txn(4, delete_txn_op("/b")), single_op_txn(5, create_op("/c", "", 3))}) {
    t.apply(txn);
    EXPECT_GT(t.retired_bytes(), retired) << "zxid " << txn.zxid;
    retired = t.retired_bytes();
  }
  t.reclaim();  // the guard is still open: nothing it may hold is freed
  EXPECT_EQ(t.retired_bytes(), retired);

  // The old guard still sees zxid 1, complete and unchanged.
  EXPECT_EQ(before.last_zxid(), 1);
  ASSERT_NE(before.get("/a"), nullptr);
  EXPECT_EQ(before.get("/a")->data, std::optional<std::string>("one"));
  EXPECT_FALSE(before.exists("/c"));
  EXPECT_EQ(*before.children("/"), (std::set<std::string>{"a", "zookeeper"}));
  EXPECT_EQ(before.node_count(), 5u);
  EXPECT_EQ(t.retired_bytes(), retired);  // the writer keeps what the old guard may hold

  {
    ReadGuard now = reader.guard();  // nested: a newer snapshot under the same protection
    EXPECT_EQ(now.last_zxid(), 5);
    EXPECT_EQ(now.get("/a")->data, std::optional<std::string>("two"));
    EXPECT_EQ(now.get("/a")->stat.version, 1);
    EXPECT_EQ(*now.children("/"), (std::set<std::string>{"a", "c", "zookeeper"}));
    EXPECT_EQ(now.children("/missing"), nullptr);
    EXPECT_EQ(now.all_children_number("/"), 5);  // a, c and the three /zookeeper nodes
    EXPECT_EQ(now.approximate_data_size(), t.approximate_data_size());
    EXPECT_EQ(now.memory_bytes(), t.memory_bytes());
  }
  { ReadGuard done = std::move(before); }
  t.reclaim();  // an idle writer frees what the closed guard held
  EXPECT_EQ(t.retired_bytes(), 0);
  {
    ReadGuard again = reader.guard();
    t.apply(single_op_txn(6, set_data_txn_op("/a", "three", 2)));
    EXPECT_GT(t.retired_bytes(), 0);
  }
  t.apply(single_op_txn(7, set_data_txn_op("/a", "four", 3)));
  EXPECT_EQ(t.retired_bytes(), 0);  // no guard open: everything retired is freed at the end of the write
}

TEST(DataTreeReader, SlotsAreReusedAndCounted) {
  DataTree t;
  for (int round = 0; round < 3; ++round) {
    std::vector<std::unique_ptr<TreeReader>> readers;
    for (size_t i = 0; i < TreeReader::kMaxReaders; ++i) readers.push_back(std::make_unique<TreeReader>(t));
    ReadGuard g = readers.back()->guard();
    EXPECT_EQ(g.node_count(), 4u);
  }
}

TEST(DataTreeReader, MovingATreeKeepsItsReaders) {
  DataTree a;
  a.apply(single_op_txn(1, create_op("/x", "1", 1)));
  auto reader = std::make_unique<TreeReader>(a);
  DataTree b(std::move(a));
  b.apply(single_op_txn(2, set_data_txn_op("/x", "2", 1)));
  {
    ReadGuard g = reader->guard();
    EXPECT_EQ(g.get("/x")->data, std::optional<std::string>("2"));
  }
  EXPECT_EQ(a.node_count(), 4u);  // the moved-from tree is a fresh one
  reader.reset();                 // readers go before their tree
}

// A learner installs its leader's snapshot while readers hold guards: an open guard keeps the old tree whole, a
// new guard sees the new one, writes go on from the installed state, and nothing leaks once the guard ends.
TEST(DataTreeReader, InstallUnderAnOpenGuard) {
  DataTree t;
  t.apply(single_op_txn(1, create_op("/old", "o", 1)));
  TreeReader reader(t);
  int64_t empty_bytes = DataTree().memory_bytes();
  {
    ReadGuard before = reader.guard();
    DataTree fresh;
    fresh.apply(single_op_txn(7, create_op("/new", "n", 1)));
    fresh.apply(single_op_txn(8, create_op("/new/child", "c", 1)));
    int64_t fresh_bytes = fresh.memory_bytes();
    t.install(std::move(fresh));
    EXPECT_EQ(fresh.node_count(), 4u);  // left a fresh tree
    EXPECT_EQ(t.memory_bytes(), fresh_bytes);
    EXPECT_GT(t.retired_bytes(), 0);  // the old tree waits for `before`
    // The old guard still reads the old tree, whole.
    EXPECT_EQ(before.last_zxid(), 1);
    ASSERT_NE(before.get("/old"), nullptr);
    EXPECT_EQ(before.get("/old")->data, std::optional<std::string>("o"));
    EXPECT_FALSE(before.exists("/new"));
    ReadGuard now = reader.guard();
    EXPECT_EQ(now.last_zxid(), 8);
    EXPECT_FALSE(now.exists("/old"));
    EXPECT_EQ(*now.children("/new"), (std::set<std::string>{"child"}));
  }
  // Writes continue from the installed state (and copy, not edit, the nodes the other tree made).
  t.apply(single_op_txn(9, set_data_txn_op("/new/child", "c2", 0)));
  t.apply(single_op_txn(10, delete_txn_op("/new/child")));
  EXPECT_EQ(t.get("/new")->stat.num_children, 0);
  std::string why;
  EXPECT_TRUE(t.check_consistency(why)) << why;
  EXPECT_EQ(t.retired_bytes(), 0);  // no guard open: the old tree is gone
  EXPECT_GT(t.memory_bytes(), empty_bytes);
}

// A parent with many children: creates and deletes copy O(log n) child entries, the listing stays sorted, and an
// old snapshot keeps its listing.
TEST(DataTreeReader, ManyChildrenUnderOneParent) {
  DataTree t;
  t.apply(single_op_txn(1, create_op("/p", "", 1)));
  constexpr int kN = 20000;
  Zxid z = 1;
  std::set<std::string> want;
  for (int i = 0; i < kN; ++i) {
    const std::string name = "member-" + std::to_string((i * 7919) % kN);
    t.apply(single_op_txn(++z, create_op("/p/" + name, "v", i + 1)));
    want.insert(name);
  }
  TreeReader reader(t);
  ReadGuard full = reader.guard();
  const int64_t before = t.memory_bytes();
  t.apply(single_op_txn(++z, create_op("/p/one-more", "v", kN + 1)));
  // One create under 20k children adds its own few hundred bytes (leaf, entry, a trie branch or two), not a copy
  // of the set.
  EXPECT_LT(t.memory_bytes() - before, 2048);
  EXPECT_LT(t.retired_bytes(), 8192);
  for (int i = 0; i < kN; i += 2) t.apply(single_op_txn(++z, delete_txn_op("/p/member-" + std::to_string(i))));
  for (int i = 0; i < kN; i += 2) want.erase("member-" + std::to_string(i));
  want.insert("one-more");

  EXPECT_EQ(full.children("/p")->size(), static_cast<size_t>(kN));
  EXPECT_EQ(full.get("/p")->stat.num_children, kN);
  ReadGuard now = reader.guard();
  EXPECT_EQ(*now.children("/p"), want);
  EXPECT_TRUE(now.children("/p")->contains("member-1"));
  EXPECT_FALSE(now.children("/p")->contains("member-2"));
  std::string why;
  EXPECT_TRUE(t.check_consistency(why)) << why;
}

TEST(DataTreeReader, MemoryAccountingReturnsToItsStart) {
  DataTree t;
  const int64_t start = t.memory_bytes();
  EXPECT_GT(start, 0);
  Zxid z = 0;
  for (int i = 0; i < 1000; ++i) {
    t.apply(single_op_txn(++z, create_op("/node-with-a-long-name-" + std::to_string(i), std::string(100, 'x'), i + 1)));
  }
  const int64_t full = t.memory_bytes();
  // Each znode: leaf (path, Stat, 100-byte data, ACL), its child entry and its share of the trie.
  EXPECT_GT((full - start) / 1000, 300);
  EXPECT_LT((full - start) / 1000, 1000);
  for (int i = 0; i < 1000; ++i)
    t.apply(single_op_txn(++z, set_data_txn_op("/node-with-a-long-name-" + std::to_string(i), "", 1)));
  EXPECT_LT(t.memory_bytes(), full);
  for (int i = 0; i < 1000; ++i)
    t.apply(single_op_txn(++z, delete_txn_op("/node-with-a-long-name-" + std::to_string(i))));
  EXPECT_EQ(t.memory_bytes(), start);
  EXPECT_EQ(t.retired_bytes(), 0);
}

// A multi is published as one: a reader never sees part of it.
TEST(DataTreeReader, AMultiIsPublishedAtOnce) {
  DataTree t;
  TreeReader reader(t);
  Txn m;
  m.zxid = 1;
  m.type = TxnType::kMulti;
  m.ops = {create_op("/m", "", 1), create_op("/m/x", "", 1), set_data_txn_op("/m", "d", 1)};
  ReadGuard before = reader.guard();
  t.apply(m);
  EXPECT_FALSE(before.exists("/m"));
  ReadGuard after = reader.guard();
  ASSERT_TRUE(after.exists("/m/x"));
  EXPECT_EQ(after.get("/m")->data, std::optional<std::string>("d"));
  EXPECT_EQ(after.get("/m")->stat.num_children, 1);
}

// With a hash that keeps only 3 bits, paths collide in all 64 bits: the trie pushes them down to its last level
// and keeps them in collision branches. Random creates, setData and deletes must still find every node, keep
// listings right, and free everything (the trie collapses back).
TEST(DataTreeReader, FullHashCollisionsStayCorrect) {
  set_tree_path_hash_for_testing([](std::string_view p) -> uint64_t { return std::hash<std::string_view>{}(p)&7; });
  {
    DataTree t;
    TreeReader reader(t);
    const int64_t start = t.memory_bytes();
    std::map<std::string, int32_t> model;  // path -> version
    std::mt19937 rng(5);
    Zxid z = 0;
    int32_t cversion = 0;
    for (int step = 0; step < 4000; ++step) {
      const std::string path = "/k" + std::to_string(rng() % 64);
      auto it = model.find(path);
      if (it == model.end()) {
        t.apply(single_op_txn(++z, create_op(path, "v", ++cversion)));
        model[path] = 0;
      } else if (rng() % 2 == 0) {
        ++z;
        t.apply(single_op_txn(z, set_data_txn_op(path, "w" + std::to_string(z), ++it->second)));
      } else {
        t.apply(single_op_txn(++z, delete_txn_op(path)));
        model.erase(it);
      }
      if (step % 100 != 0) continue;
      ReadGuard g = reader.guard();
      for (int i = 0; i < 64; ++i) {
        const std::string p = "/k" + std::to_string(i);
        const Node* n = g.get(p);
        auto m = model.find(p);
        ASSERT_EQ(n != nullptr, m != model.end()) << p;
        if (n != nullptr) {
          EXPECT_EQ(n->stat.version, m->second) << p;
        }
      }
      EXPECT_EQ(g.node_count(), model.size() + 4);
      std::string why;
      ASSERT_TRUE(t.check_consistency(why)) << why;
    }
    for (const auto& [path, version] : model) t.apply(single_op_txn(++z, delete_txn_op(path)));
    EXPECT_EQ(t.memory_bytes(), start);
  }
  set_tree_path_hash_for_testing(nullptr);
}

}  // namespace
}  // namespace uk
