// The znode store: a hierarchical map of paths to nodes, changed only by applying Txns in zxid order (or rebuilt
// from a snapshot with the restore_* functions).
// Pure: no I/O, clock or threads. Thread-safety: a single thread owns it (the lock-free, multi-reader store
// of the lock-free-store issue replaces the containers behind this interface).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ukeeper/common/types.h"
#include "ukeeper/common/znode.h"
#include "ukeeper/storage/tree/txn.h"

namespace uk {

struct Node {
  std::optional<std::string> data;  // nullopt: created with null data (reads back as a null buffer)
  AclList acl;
  Stat stat;  // num_children and data_length are kept equal to children.size() and data's size
  std::set<std::string> children;  // child names, not paths
  bool operator==(const Node&) const = default;
};

// A change a watcher may care about. NodeChildrenChanged names the parent. `acl` is the ACL of the node the
// event names (for NodeDeleted, the ACL it had): only watchers that may READ it are told (ZooKeeper 3.8.4+).
struct TreeEvent {
  EventType type;
  std::string path;
  AclList acl;
  bool operator==(const TreeEvent&) const = default;
};

// The Stat clients see. Internally cversion counts child creations (the sequential suffix is taken from it);
// ZooKeeper reports creations + deletions, i.e. 2 * creations - numChildren, so the root of a fresh tree shows -1.
// Containers and TTL nodes report ephemeralOwner 0, as ZooKeeper 3.8 does; only real ephemerals show a session.
inline Stat client_stat(const Stat& internal) {
  Stat s = internal;
  s.cversion = internal.cversion * 2 - internal.num_children;
  if (!owner::is_ephemeral(internal.ephemeral_owner)) s.ephemeral_owner = 0;
  return s;
}

struct OpResult {
  TxnType type = TxnType::kError;
  std::string path;  // create: the created path
  Stat stat;         // create, setData, setAcl, check: the node's client_stat() after the op
};

struct ApplyResult {
  std::vector<OpResult> results;   // one per TxnOp, in order
  std::vector<TreeEvent> events;   // in the order the changes happened
};

class DataTree {
 public:
  DataTree();

  // Applies a committed txn. Preconditions (checked, a violation aborts): txn.zxid > last_zxid() unless the
  // txn is being replayed from before a snapshot, and every op is valid against the current tree — the request
  // pipeline has validated it. Never fails.
  ApplyResult apply(const Txn& txn);

  const Node* get(std::string_view path) const;
  Zxid last_zxid() const { return last_zxid_; }
  size_t node_count() const { return nodes_.size(); }
  // ZooKeeper's approximate data size: sum over nodes of path length + data length.
  int64_t approximate_data_size() const { return approximate_data_size_; }
  // Number of descendants of `path` (not counting itself); 0 for a missing node.
  int64_t all_children_number(std::string_view path) const;

  const std::set<std::string>* ephemerals_of(SessionId session) const;
  const std::map<SessionId, std::set<std::string>>& ephemerals() const { return ephemerals_; }
  const std::set<std::string>& containers() const { return containers_; }
  const std::set<std::string>& ttl_nodes() const { return ttl_nodes_; }
  // Sessions that the applied txns opened and did not close, with their negotiated timeouts.
  const std::map<SessionId, int32_t>& sessions() const { return sessions_; }

  // Visits every node (unspecified order).
  void for_each(const std::function<void(const std::string& path, const Node& node)>& fn) const;

  // Restoring from a snapshot (snapshot.h), on a freshly constructed tree, parents before children. These never
  // abort: a snapshot is untrusted input, so they return false where apply() would call it a broken invariant.
  //
  // Inserts `node` at `path` (its `children` must be empty: children attach themselves as they are restored).
  // A path that already exists (the root and the /zookeeper nodes of a fresh tree) is overwritten in place,
  // keeping the children it has. node.stat is taken as stored, num_children included, so it may disagree
  // with the children until all are restored; check_consistency() then checks it. Keeps the indexes and
  // approximate_data_size() right. False (tree unchanged) when the path is invalid, its parent is missing or
  // ephemeral, node.children is not empty, or data_length differs from the data's size.
  bool restore_node(const std::string& path, Node node);
  void restore_session(SessionId session, int32_t timeout_ms) { sessions_[session] = timeout_ms; }
  void restore_last_zxid(Zxid zxid) { last_zxid_ = zxid; }
  // Checks what apply() keeps true: every node's num_children and data_length match its children and data,
  // every child entry is a node and every node but the root is some parent's child, ephemerals have no children,
  // the owner indexes hold exactly the nodes of their kind, and approximate_data_size() is the sum it stands for.
  // False with `why` naming the first node that breaks one. O(nodes).
  bool check_consistency(std::string& why) const;

  // Same nodes (data, ACL, Stat, children), indexes, sessions and last zxid.
  bool operator==(const DataTree&) const = default;

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using NodeMap = std::unordered_map<std::string, Node, Hash, std::equal_to<>>;

  Node* find(std::string_view path);
  void add_system_node(const std::string& path, const AclList& acl);
  OpResult apply_create(const Txn& txn, const TxnOp& op, std::vector<TreeEvent>& events);
  OpResult apply_delete(const Txn& txn, const std::string& path, std::vector<TreeEvent>& events);
  OpResult apply_set_data(const Txn& txn, const TxnOp& op, std::vector<TreeEvent>& events);
  OpResult apply_set_acl(const TxnOp& op);
  void apply_close_session(const Txn& txn, std::vector<TreeEvent>& events);
  OpResult apply_op(const Txn& txn, const TxnOp& op, std::vector<TreeEvent>& events);
  void index_owner(const std::string& path, int64_t owner);
  void unindex_owner(const std::string& path, int64_t owner);

  NodeMap nodes_;
  Zxid last_zxid_ = 0;
  int64_t approximate_data_size_ = 0;
  std::map<SessionId, std::set<std::string>> ephemerals_;
  std::set<std::string> containers_;
  std::set<std::string> ttl_nodes_;
  std::map<SessionId, int32_t> sessions_;
};

}  // namespace uk
