// Watch tables (server/src/watches.cc, zookeeper-protocol.md §7): one-shot standard watches, NodeDeleted reaching
// a watcher once across both tables, persistent and persistent-recursive watches, removal and bookkeeping.
#include "ukeeper/server/watches.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace uk {
namespace {

const AclList kOpen = {Acl{perm::kAll, Id{"world", "anyone"}}};

struct Event {
  EventType type;
  std::string path;
  bool operator==(const Event&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Event& e) {
  return os << "{" << static_cast<int>(e.type) << ", " << e.path << "}";
}

class FakeWatcher final : public Watcher {
 public:
  FakeWatcher() = default;
  explicit FakeWatcher(std::vector<Id> ids) : ids_(std::move(ids)) {}
  void deliver_event(EventType type, const std::string& path) override { events.push_back(Event{type, path}); }
  const std::vector<Id>& watcher_ids() const override { return ids_; }
  std::vector<Event> take() {
    std::vector<Event> out = std::move(events);
    events.clear();
    return out;
  }
  std::vector<Event> events;

 private:
  std::vector<Id> ids_ = {Id{"ip", "127.0.0.1"}};
};

using Events = std::vector<Event>;
constexpr EventType kCreated = EventType::kNodeCreated;
constexpr EventType kDeleted = EventType::kNodeDeleted;
constexpr EventType kDataChanged = EventType::kNodeDataChanged;
constexpr EventType kChildrenChanged = EventType::kNodeChildrenChanged;

class WatchesTest : public ::testing::Test {
 protected:
  void fire(EventType t, const std::string& path) { wm.trigger(t, path, kOpen); }
  WatchManager wm;
  FakeWatcher a;
  FakeWatcher b;
};

// ---------------------------------------------------------------------------------------------------------------
// Standard watches.

TEST_F(WatchesTest, DataWatchFiresOnceOnDataChanged) {
  wm.add_data_watch("/x", &a);
  fire(kDataChanged, "/x");
  EXPECT_EQ(a.take(), (Events{{kDataChanged, "/x"}}));
  fire(kDataChanged, "/x");
  EXPECT_TRUE(a.take().empty());
  EXPECT_EQ(wm.watch_count(), 0u);
  EXPECT_EQ(wm.path_count(), 0u);
}

TEST_F(WatchesTest, DataWatchIsExactPath) {
  wm.add_data_watch("/x", &a);
  fire(kDataChanged, "/x/y");
  fire(kDataChanged, "/xy");
  fire(kCreated, "/x/y");
  EXPECT_TRUE(a.take().empty());
  EXPECT_EQ(wm.watch_count(), 1u);
}

TEST_F(WatchesTest, ExistWatchFiresOnCreated) {
  wm.add_data_watch("/new", &a);  // exists() on a missing node
  fire(kCreated, "/new");
  EXPECT_EQ(a.take(), (Events{{kCreated, "/new"}}));
  fire(kDataChanged, "/new");
  EXPECT_TRUE(a.take().empty());
}

TEST_F(WatchesTest, DataWatchFiresOnDeleted) {
  wm.add_data_watch("/x", &a);
  fire(kDeleted, "/x");
  EXPECT_EQ(a.take(), (Events{{kDeleted, "/x"}}));
  EXPECT_EQ(wm.watch_count(), 0u);
}

TEST_F(WatchesTest, DataWatchIgnoresChildrenChanged) {
  wm.add_data_watch("/x", &a);
  fire(kChildrenChanged, "/x");
  EXPECT_TRUE(a.take().empty());
  EXPECT_TRUE(wm.has("/x", &a, WatcherType::kData));
}

TEST_F(WatchesTest, ChildWatchFiresOnceOnChildrenChanged) {
  wm.add_child_watch("/p", &a);
  fire(kDataChanged, "/p");
  fire(kCreated, "/p");
  EXPECT_TRUE(a.take().empty());
  fire(kChildrenChanged, "/p");
  EXPECT_EQ(a.take(), (Events{{kChildrenChanged, "/p"}}));
  fire(kChildrenChanged, "/p");
  EXPECT_TRUE(a.take().empty());
}

TEST_F(WatchesTest, ChildWatchFiresOnDeleted) {
  wm.add_child_watch("/p", &a);
  fire(kDeleted, "/p");
  EXPECT_EQ(a.take(), (Events{{kDeleted, "/p"}}));
  EXPECT_EQ(wm.watch_count(), 0u);
}

TEST_F(WatchesTest, NodeDeletedDeliveredOnceToWatcherInBothTables) {
  wm.add_data_watch("/x", &a);
  wm.add_child_watch("/x", &a);
  wm.add_data_watch("/x", &b);
  EXPECT_EQ(wm.watch_count(), 3u);
  fire(kDeleted, "/x");
  EXPECT_EQ(a.take(), (Events{{kDeleted, "/x"}}));
  EXPECT_EQ(b.take(), (Events{{kDeleted, "/x"}}));
  EXPECT_EQ(wm.watch_count(), 0u);
}

TEST_F(WatchesTest, SameWatchAddedTwiceFiresOnce) {
  wm.add_data_watch("/x", &a);
  wm.add_data_watch("/x", &a);
  EXPECT_EQ(wm.watch_count(), 1u);
  fire(kDataChanged, "/x");
  EXPECT_EQ(a.take().size(), 1u);
}

TEST_F(WatchesTest, EveryWatcherOnThePathIsTold) {
  wm.add_data_watch("/x", &a);
  wm.add_data_watch("/x", &b);
  fire(kDataChanged, "/x");
  EXPECT_EQ(a.take(), (Events{{kDataChanged, "/x"}}));
  EXPECT_EQ(b.take(), (Events{{kDataChanged, "/x"}}));
}

TEST_F(WatchesTest, ChildAndDataWatchesAreIndependent) {
  wm.add_data_watch("/x", &a);
  wm.add_child_watch("/x", &a);
  fire(kChildrenChanged, "/x");
  EXPECT_EQ(a.take(), (Events{{kChildrenChanged, "/x"}}));
  EXPECT_TRUE(wm.has("/x", &a, WatcherType::kData));
  EXPECT_FALSE(wm.has("/x", &a, WatcherType::kChildren));
  fire(kDataChanged, "/x");
  EXPECT_EQ(a.take(), (Events{{kDataChanged, "/x"}}));
}

TEST_F(WatchesTest, NoneEventFiresNothing) {
  wm.add_data_watch("/x", &a);
  wm.add_persistent_watch("/x", &a, false);
  wm.trigger(EventType::kNone, "/x", kOpen);
  EXPECT_TRUE(a.take().empty());
  EXPECT_TRUE(wm.has("/x", &a, WatcherType::kData));
}

// ---------------------------------------------------------------------------------------------------------------
// READ on the node (ZooKeeper 3.8.4+): a watcher without it is consumed but not told.

TEST_F(WatchesTest, WatcherWithoutReadIsConsumedButNotTold) {
  FakeWatcher bob({Id{"ip", "127.0.0.1"}, Id{"digest", "bob:x"}});
  AclList bob_only = {Acl{perm::kRead, Id{"digest", "bob:x"}}};
  wm.add_data_watch("/s", &a);
  wm.add_data_watch("/s", &bob);
  wm.trigger(kDataChanged, "/s", bob_only);
  EXPECT_TRUE(a.take().empty());
  EXPECT_EQ(bob.take(), (Events{{kDataChanged, "/s"}}));
  EXPECT_EQ(wm.watch_count(), 0u);
  // WRITE alone is not enough.
  wm.add_data_watch("/s", &bob);
  wm.trigger(kDataChanged, "/s", {Acl{perm::kWrite | perm::kAdmin, Id{"digest", "bob:x"}}});
  EXPECT_TRUE(bob.take().empty());
}

TEST_F(WatchesTest, PersistentRecursiveWithoutReadOnDescendantNotTold) {
  wm.add_persistent_watch("/p", &a, true);
  wm.trigger(kCreated, "/p/secret", {Acl{perm::kAll, Id{"digest", "bob:x"}}});
  EXPECT_TRUE(a.take().empty());
  fire(kCreated, "/p/open");
  EXPECT_EQ(a.take(), (Events{{kCreated, "/p/open"}}));
}

TEST_F(WatchesTest, SuperAndEmptyAclAreTold) {
  FakeWatcher su({Id{"super", ""}});
  wm.add_data_watch("/s", &su);
  wm.add_data_watch("/s", &a);
  wm.trigger(kDataChanged, "/s", {Acl{perm::kAll, Id{"digest", "bob:x"}}});
  EXPECT_EQ(su.take().size(), 1u);
  EXPECT_TRUE(a.take().empty());
  wm.add_data_watch("/e", &a);
  wm.trigger(kDataChanged, "/e", {});
  EXPECT_EQ(a.take().size(), 1u);
}

// ---------------------------------------------------------------------------------------------------------------
// Persistent watches (addWatch mode 0).

TEST_F(WatchesTest, PersistentWatchSeesEveryEventOnItsPathAndStays) {
  wm.add_persistent_watch("/x", &a, false);
  fire(kCreated, "/x");
  fire(kDataChanged, "/x");
  fire(kDataChanged, "/x");
  fire(kChildrenChanged, "/x");
  fire(kDeleted, "/x");
  fire(kCreated, "/x");
  EXPECT_EQ(a.take(), (Events{{kCreated, "/x"},
                              {kDataChanged, "/x"},
                              {kDataChanged, "/x"},
                              {kChildrenChanged, "/x"},
                              {kDeleted, "/x"},
                              {kCreated, "/x"}}));
  EXPECT_TRUE(wm.has("/x", &a, WatcherType::kPersistent));
}

TEST_F(WatchesTest, PersistentWatchIsExactPath) {
  wm.add_persistent_watch("/x", &a, false);
  fire(kCreated, "/x/y");
  fire(kDataChanged, "/x/y");
  fire(kDeleted, "/x/y");
  EXPECT_TRUE(a.take().empty());
}

TEST_F(WatchesTest, PersistentPlusStandardDeliversOnceAndStandardIsConsumed) {
  wm.add_persistent_watch("/x", &a, false);
  wm.add_data_watch("/x", &a);
  fire(kDataChanged, "/x");
  EXPECT_EQ(a.take(), (Events{{kDataChanged, "/x"}}));
  EXPECT_FALSE(wm.has("/x", &a, WatcherType::kData));
  EXPECT_TRUE(wm.has("/x", &a, WatcherType::kPersistent));
}

// ---------------------------------------------------------------------------------------------------------------
// Persistent recursive watches (addWatch mode 1).

TEST_F(WatchesTest, RecursiveSeesDescendantsCreatedDeletedDataChanged) {
  wm.add_persistent_watch("/p", &a, true);
  fire(kCreated, "/p");
  fire(kCreated, "/p/c");
  fire(kDataChanged, "/p/c");
  fire(kCreated, "/p/c/d/e");
  fire(kDeleted, "/p/c");
  fire(kDataChanged, "/p");
  EXPECT_EQ(a.take(), (Events{{kCreated, "/p"},
                              {kCreated, "/p/c"},
                              {kDataChanged, "/p/c"},
                              {kCreated, "/p/c/d/e"},
                              {kDeleted, "/p/c"},
                              {kDataChanged, "/p"}}));
  EXPECT_TRUE(wm.has("/p", &a, WatcherType::kPersistentRecursive));
}

TEST_F(WatchesTest, RecursiveNeverSeesChildrenChanged) {
  wm.add_persistent_watch("/p", &a, true);
  fire(kChildrenChanged, "/p");
  fire(kChildrenChanged, "/p/c");
  fire(kChildrenChanged, "/");
  EXPECT_TRUE(a.take().empty());
}

TEST_F(WatchesTest, RecursiveDoesNotSeeSiblingsWithSharedPrefixOrAncestors) {
  wm.add_persistent_watch("/p", &a, true);
  fire(kCreated, "/pq");
  fire(kCreated, "/pq/x");
  fire(kDataChanged, "/");
  fire(kCreated, "/other");
  EXPECT_TRUE(a.take().empty());
}

TEST_F(WatchesTest, RecursiveOnRootSeesEverything) {
  wm.add_persistent_watch("/", &a, true);
  fire(kCreated, "/a");
  fire(kDataChanged, "/a/b/c");
  fire(kChildrenChanged, "/");
  EXPECT_EQ(a.take(), (Events{{kCreated, "/a"}, {kDataChanged, "/a/b/c"}}));
}

TEST_F(WatchesTest, RecursiveAndStandardOnDescendantDeliverOnce) {
  wm.add_persistent_watch("/p", &a, true);
  wm.add_data_watch("/p/c", &a);
  wm.add_child_watch("/p/c", &a);
  fire(kDeleted, "/p/c");
  EXPECT_EQ(a.take(), (Events{{kDeleted, "/p/c"}}));
  EXPECT_FALSE(wm.has("/p/c", &a, WatcherType::kAny));
}

TEST_F(WatchesTest, NestedRecursiveWatchesDeliverOnce) {
  wm.add_persistent_watch("/p", &a, true);
  wm.add_persistent_watch("/p/q", &a, true);
  fire(kCreated, "/p/q/r");
  EXPECT_EQ(a.take(), (Events{{kCreated, "/p/q/r"}}));
}

TEST_F(WatchesTest, RecursiveRemovedStopsDescendantEvents) {
  wm.add_persistent_watch("/p", &a, true);
  EXPECT_TRUE(wm.remove("/p", &a, WatcherType::kPersistentRecursive));
  fire(kCreated, "/p/c");
  fire(kCreated, "/p");
  EXPECT_TRUE(a.take().empty());
  EXPECT_EQ(wm.watch_count(), 0u);
}

TEST_F(WatchesTest, RecursiveStillWorksAfterAnotherIsRemoved) {
  // The manager skips the ancestor walk when no recursive watch is alive: its count must stay right.
  wm.add_persistent_watch("/p", &a, true);
  wm.add_persistent_watch("/p", &a, true);  // same watch again: still one
  wm.add_persistent_watch("/q", &b, true);
  EXPECT_TRUE(wm.remove("/q", &b, WatcherType::kAny));
  fire(kCreated, "/p/c");
  EXPECT_EQ(a.take(), (Events{{kCreated, "/p/c"}}));
  wm.remove_watcher(&a);
  wm.add_persistent_watch("/r", &b, true);
  fire(kCreated, "/r/c");
  EXPECT_EQ(b.take(), (Events{{kCreated, "/r/c"}}));
}

// ---------------------------------------------------------------------------------------------------------------
// has / remove per WatcherType.

TEST_F(WatchesTest, HasPerType) {
  wm.add_data_watch("/d", &a);
  wm.add_child_watch("/c", &a);
  wm.add_persistent_watch("/p", &a, false);
  wm.add_persistent_watch("/r", &a, true);

  EXPECT_TRUE(wm.has("/d", &a, WatcherType::kData));
  EXPECT_FALSE(wm.has("/d", &a, WatcherType::kChildren));
  EXPECT_TRUE(wm.has("/d", &a, WatcherType::kAny));
  EXPECT_FALSE(wm.has("/d", &a, WatcherType::kPersistent));

  EXPECT_TRUE(wm.has("/c", &a, WatcherType::kChildren));
  EXPECT_FALSE(wm.has("/c", &a, WatcherType::kData));
  EXPECT_TRUE(wm.has("/c", &a, WatcherType::kAny));

  EXPECT_TRUE(wm.has("/p", &a, WatcherType::kPersistent));
  EXPECT_FALSE(wm.has("/p", &a, WatcherType::kPersistentRecursive));
  EXPECT_FALSE(wm.has("/p", &a, WatcherType::kData));
  EXPECT_FALSE(wm.has("/p", &a, WatcherType::kChildren));
  EXPECT_TRUE(wm.has("/p", &a, WatcherType::kAny));

  EXPECT_TRUE(wm.has("/r", &a, WatcherType::kPersistentRecursive));
  EXPECT_FALSE(wm.has("/r", &a, WatcherType::kPersistent));
  EXPECT_TRUE(wm.has("/r", &a, WatcherType::kAny));

  // Other watchers and other paths.
  EXPECT_FALSE(wm.has("/d", &b, WatcherType::kData));
  EXPECT_FALSE(wm.has("/d", &b, WatcherType::kAny));
  EXPECT_FALSE(wm.has("/zz", &a, WatcherType::kAny));
  EXPECT_FALSE(wm.has("/r/child", &a, WatcherType::kAny));
  EXPECT_FALSE(wm.has("/d", nullptr, WatcherType::kAny));
}

TEST_F(WatchesTest, RemoveData) {
  wm.add_data_watch("/x", &a);
  wm.add_child_watch("/x", &a);
  EXPECT_FALSE(wm.remove("/x", &b, WatcherType::kData));
  EXPECT_TRUE(wm.remove("/x", &a, WatcherType::kData));
  EXPECT_FALSE(wm.remove("/x", &a, WatcherType::kData));
  EXPECT_TRUE(wm.has("/x", &a, WatcherType::kChildren));
  fire(kDataChanged, "/x");
  EXPECT_TRUE(a.take().empty());
}

TEST_F(WatchesTest, RemoveChildren) {
  wm.add_data_watch("/x", &a);
  wm.add_child_watch("/x", &a);
  EXPECT_TRUE(wm.remove("/x", &a, WatcherType::kChildren));
  EXPECT_FALSE(wm.remove("/x", &a, WatcherType::kChildren));
  EXPECT_TRUE(wm.has("/x", &a, WatcherType::kData));
  fire(kChildrenChanged, "/x");
  EXPECT_TRUE(a.take().empty());
}

TEST_F(WatchesTest, RemoveAnyRemovesEveryKind) {
  wm.add_data_watch("/x", &a);
  wm.add_child_watch("/x", &a);
  wm.add_persistent_watch("/x", &a, false);
  wm.add_data_watch("/x", &b);
  EXPECT_TRUE(wm.remove("/x", &a, WatcherType::kAny));
  EXPECT_FALSE(wm.remove("/x", &a, WatcherType::kAny));
  EXPECT_FALSE(wm.has("/x", &a, WatcherType::kAny));
  EXPECT_TRUE(wm.has("/x", &b, WatcherType::kData));
  fire(kDeleted, "/x");
  EXPECT_TRUE(a.take().empty());
  EXPECT_EQ(b.take(), (Events{{kDeleted, "/x"}}));
}

TEST_F(WatchesTest, RemovePersistentLeavesStandard) {
  wm.add_persistent_watch("/x", &a, false);
  wm.add_data_watch("/x", &a);
  EXPECT_FALSE(wm.remove("/x", &a, WatcherType::kPersistentRecursive));
  EXPECT_TRUE(wm.remove("/x", &a, WatcherType::kPersistent));
  EXPECT_FALSE(wm.has("/x", &a, WatcherType::kPersistent));
  EXPECT_TRUE(wm.has("/x", &a, WatcherType::kData));
  fire(kChildrenChanged, "/x");
  EXPECT_TRUE(a.take().empty());
  fire(kDataChanged, "/x");
  EXPECT_EQ(a.take().size(), 1u);
  EXPECT_EQ(wm.watch_count(), 0u);
}

TEST_F(WatchesTest, StandardRemovalDoesNotTouchPersistent) {
  wm.add_persistent_watch("/x", &a, false);
  // Data/Children removal targets standard watches only.
  EXPECT_FALSE(wm.remove("/x", &a, WatcherType::kData));
  EXPECT_FALSE(wm.remove("/x", &a, WatcherType::kChildren));
  EXPECT_TRUE(wm.has("/x", &a, WatcherType::kPersistent));
}

TEST_F(WatchesTest, RemoveOnUnknownPathFails) {
  for (WatcherType t : {WatcherType::kChildren, WatcherType::kData, WatcherType::kAny, WatcherType::kPersistent,
                        WatcherType::kPersistentRecursive}) {
    EXPECT_FALSE(wm.remove("/nothing", &a, t));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// remove_watcher and bookkeeping.

TEST_F(WatchesTest, RemoveWatcherDropsAllItsWatches) {
  wm.add_data_watch("/x", &a);
  wm.add_child_watch("/y", &a);
  wm.add_persistent_watch("/z", &a, true);
  wm.add_data_watch("/x", &b);
  wm.remove_watcher(&a);
  EXPECT_FALSE(wm.has("/x", &a, WatcherType::kAny));
  EXPECT_FALSE(wm.has("/y", &a, WatcherType::kAny));
  EXPECT_FALSE(wm.has("/z", &a, WatcherType::kAny));
  EXPECT_TRUE(wm.has("/x", &b, WatcherType::kData));
  fire(kCreated, "/z/c");
  fire(kDataChanged, "/x");
  EXPECT_TRUE(a.take().empty());
  EXPECT_EQ(b.take().size(), 1u);
  EXPECT_EQ(wm.watcher_count(), 0u);
  wm.remove_watcher(&a);  // twice is harmless
  wm.remove_watcher(&b);
}

TEST_F(WatchesTest, Counts) {
  EXPECT_EQ(wm.watch_count(), 0u);
  EXPECT_EQ(wm.path_count(), 0u);
  EXPECT_EQ(wm.watcher_count(), 0u);
  wm.add_data_watch("/x", &a);
  wm.add_child_watch("/x", &a);
  wm.add_data_watch("/y", &b);
  wm.add_persistent_watch("/z", &b, false);  // one entry in each table
  EXPECT_EQ(wm.watch_count(), 5u);
  EXPECT_EQ(wm.path_count(), 3u);
  EXPECT_EQ(wm.watcher_count(), 2u);
  fire(kDeleted, "/x");
  EXPECT_EQ(wm.watch_count(), 3u);
  EXPECT_EQ(wm.path_count(), 2u);
  EXPECT_EQ(wm.watcher_count(), 1u);
}

TEST_F(WatchesTest, ByWatcherAndByPath) {
  wm.add_data_watch("/x", &a);
  wm.add_child_watch("/y", &a);
  wm.add_data_watch("/x", &b);
  wm.add_persistent_watch("/p", &b, true);
  auto bw = wm.by_watcher();
  ASSERT_EQ(bw.size(), 2u);
  EXPECT_EQ(bw[&a], (std::set<std::string>{"/x", "/y"}));
  EXPECT_EQ(bw[&b], (std::set<std::string>{"/p", "/x"}));
  auto bp = wm.by_path();
  ASSERT_EQ(bp.size(), 3u);
  EXPECT_EQ(bp["/x"], (std::set<Watcher*>{&a, &b}));
  EXPECT_EQ(bp["/y"], (std::set<Watcher*>{&a}));
  EXPECT_EQ(bp["/p"], (std::set<Watcher*>{&b}));
}

}  // namespace
}  // namespace uk
