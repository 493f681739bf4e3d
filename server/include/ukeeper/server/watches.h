// Watch tables (zookeeper-protocol.md §7). Two tables as in ZooKeeper: data watches (getData, exists, and the
// data half of persistent watches) and child watches (getChildren, and the child half of persistent watches).
// A watcher is notified at most once per change; standard watches are removed when they fire, persistent and
// persistent-recursive ones stay until removed or until their connection goes away.
// Thread-safety: owned by the thread that applies transactions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ukeeper/common/znode.h"

namespace uk {

// Receives watch events. Implemented by client connections; must not call back into the WatchManager.
class Watcher {
 public:
  virtual void deliver_event(EventType type, const std::string& path) = 0;
  // The identities the watcher's connection holds; events go only where they grant READ on the node.
  virtual const std::vector<Id>& watcher_ids() const = 0;

 protected:
  ~Watcher() = default;
};

enum class WatchMode : uint8_t { kStandard = 1, kPersistent = 2, kPersistentRecursive = 4 };

// WatcherType values of checkWatches/removeWatches.
enum class WatcherType : int32_t { kChildren = 1, kData = 2, kAny = 3, kPersistent = 4, kPersistentRecursive = 5 };

class WatchManager {
 public:
  void add_data_watch(const std::string& path, Watcher* w) { add(data_, path, w, WatchMode::kStandard); }
  void add_child_watch(const std::string& path, Watcher* w) { add(child_, path, w, WatchMode::kStandard); }
  // addWatch: mode 0 persistent, 1 persistent recursive. Both register in both tables, as ZooKeeper does.
  void add_persistent_watch(const std::string& path, Watcher* w, bool recursive);

  // Fires the watches a tree change triggers. Watchers without READ on `acl` (the node's ACL) are consumed
  // like the others but not told, as in ZooKeeper 3.8.4+.
  void trigger(EventType type, const std::string& path, const AclList& acl);

  // True when `w` has a watch of `type` on `path` (checkWatches). remove() removes them (removeWatches);
  // both return false when there is none.
  bool has(const std::string& path, Watcher* w, WatcherType type) const;
  bool remove(const std::string& path, Watcher* w, WatcherType type);

  // Drops every watch of a watcher (its connection closed).
  void remove_watcher(Watcher* w);

  // True when `w` holds any watch.
  bool watches_of(Watcher* w) const { return owned_.count(w) != 0; }

  size_t watch_count() const;  // path-watcher pairs across both tables
  size_t path_count() const;   // distinct watched paths
  size_t watcher_count() const;
  // For the wchc/wchp four-letter words: watcher -> paths and path -> watchers.
  std::map<Watcher*, std::set<std::string>> by_watcher() const;
  std::map<std::string, std::set<Watcher*>> by_path() const;

 private:
  using Table = std::unordered_map<std::string, std::map<Watcher*, uint8_t>>;
  void add(Table& t, const std::string& path, Watcher* w, WatchMode mode);
  // Collects the watchers of `table` that this event reaches (exact path, then recursive ones on ancestors),
  // removing fired standard watches.
  void collect(Table& t, EventType type, const std::string& path, std::set<Watcher*>& out);
  // Drops `path` from the watcher's cleanup list once neither table holds a watch of it there.
  void forget_if_unwatched(Watcher* w, const std::string& path);
  static bool remove_mode(Table& t, const std::string& path, Watcher* w, uint8_t modes);
  static bool has_mode(const Table& t, const std::string& path, Watcher* w, uint8_t modes);

  Table data_;
  Table child_;
  size_t recursive_count_ = 0;  // recursive watches alive; skip the ancestor walk when none
  std::map<Watcher*, std::set<std::string>> owned_;  // every path a watcher has any watch on, for cleanup
};

}  // namespace uk
