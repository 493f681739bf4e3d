#include "ukeeper/storage/tree/data_tree.h"

#include <cstdio>
#include <cstdlib>

#include "ukeeper/storage/tree/path.h"

namespace uk {
namespace {

// A broken precondition of apply() means the pipeline validated something wrongly: stop rather than let
// replicas diverge.
[[noreturn]] void tree_invariant_failed(const char* what, std::string_view path) {
  std::fprintf(stderr, "ukeeper: data tree invariant broken: %s (path '%.*s')\n", what,
               static_cast<int>(path.size()), path.data());
  std::abort();
}

int32_t data_size(const std::optional<std::string>& d) { return d ? static_cast<int32_t>(d->size()) : 0; }

}  // namespace

DataTree::DataTree() {
  const AclList open = {Acl{perm::kAll, Id{"world", "anyone"}}};
  Node root;
  root.acl = open;
  root.data = std::string();  // empty, not null: getData("/") answers a zero-length buffer
  nodes_.emplace("/", std::move(root));
  approximate_data_size_ += 1;
  add_system_node("/zookeeper", open);
  add_system_node("/zookeeper/quota", open);
  add_system_node("/zookeeper/config", {Acl{perm::kRead, Id{"world", "anyone"}}});
}

void DataTree::add_system_node(const std::string& path, const AclList& acl) {
  Node n;
  n.acl = acl;
  n.data = std::string();
  Node* parent = find(path_parent(path));
  parent->children.insert(std::string(path_basename(path)));
  parent->stat.num_children = static_cast<int32_t>(parent->children.size());
  approximate_data_size_ += static_cast<int64_t>(path.size());
  nodes_.emplace(path, std::move(n));
}

Node* DataTree::find(std::string_view path) {
  auto it = nodes_.find(path);
  return it == nodes_.end() ? nullptr : &it->second;
}

const Node* DataTree::get(std::string_view path) const {
  auto it = nodes_.find(path);
  return it == nodes_.end() ? nullptr : &it->second;
}

int64_t DataTree::all_children_number(std::string_view path) const {
  const Node* n = get(path);
  if (n == nullptr) return 0;
  int64_t total = 0;
  std::vector<std::string> stack;
  stack.emplace_back(path);
  while (!stack.empty()) {
    std::string p = std::move(stack.back());
    stack.pop_back();
    const Node* cur = get(p);
    if (cur == nullptr) continue;
    for (const std::string& c : cur->children) {
      total++;
      stack.push_back(path_join(p, c));
    }
  }
  return total;
}

const std::set<std::string>* DataTree::ephemerals_of(SessionId session) const {
  auto it = ephemerals_.find(session);
  return it == ephemerals_.end() ? nullptr : &it->second;
}

void DataTree::for_each(const std::function<void(const std::string&, const Node&)>& fn) const {
  for (const auto& [path, node] : nodes_) fn(path, node);
}

void DataTree::index_owner(const std::string& path, int64_t owner) {
  if (owner::is_container(owner)) {
    containers_.insert(path);
  } else if (owner::is_ttl(owner)) {
    ttl_nodes_.insert(path);
  } else if (owner != 0) {
    ephemerals_[owner].insert(path);
  }
}

void DataTree::unindex_owner(const std::string& path, int64_t owner) {
  if (owner::is_container(owner)) {
    containers_.erase(path);
  } else if (owner::is_ttl(owner)) {
    ttl_nodes_.erase(path);
  } else if (owner != 0) {
    auto it = ephemerals_.find(owner);
    if (it != ephemerals_.end()) {
      it->second.erase(path);
      if (it->second.empty()) ephemerals_.erase(it);
    }
  }
}

ApplyResult DataTree::apply(const Txn& txn) {
  ApplyResult result;
  if (txn.type == TxnType::kMulti) {
    result.results.reserve(txn.ops.size());
    for (const TxnOp& op : txn.ops) result.results.push_back(apply_op(txn, op, result.events));
  } else {
    if (txn.ops.size() != 1) tree_invariant_failed("non-multi txn must hold exactly one op", "");
    result.results.push_back(apply_op(txn, txn.ops[0], result.events));
  }
  if (txn.zxid > last_zxid_) last_zxid_ = txn.zxid;
  return result;
}

OpResult DataTree::apply_op(const Txn& txn, const TxnOp& op, std::vector<TreeEvent>& events) {
  switch (op.type) {
    case TxnType::kCreate: return apply_create(txn, op, events);
    case TxnType::kDelete: return apply_delete(txn, op.path, events);
    case TxnType::kSetData: return apply_set_data(txn, op, events);
    case TxnType::kSetAcl: return apply_set_acl(op);
    case TxnType::kCheck: {
      const Node* n = get(op.path);
      if (n == nullptr) tree_invariant_failed("check of a missing node", op.path);
      return OpResult{TxnType::kCheck, op.path, client_stat(n->stat)};
    }
    case TxnType::kCreateSession:
      sessions_[txn.session] = op.timeout_ms;
      return OpResult{op.type, {}, {}};
    case TxnType::kCloseSession:
      apply_close_session(txn, events);
      return OpResult{op.type, {}, {}};
    case TxnType::kError:
    case TxnType::kMulti:
      break;
  }
  return OpResult{TxnType::kError, {}, {}};
}

OpResult DataTree::apply_create(const Txn& txn, const TxnOp& op, std::vector<TreeEvent>& events) {
  std::string_view parent_path = path_parent(op.path);
  Node* parent = find(parent_path);
  if (parent == nullptr) tree_invariant_failed("create under a missing parent", op.path);
  if (find(op.path) != nullptr) tree_invariant_failed("create of an existing node", op.path);
  if (owner::is_ephemeral(parent->stat.ephemeral_owner)) tree_invariant_failed("child of an ephemeral", op.path);

  Node n;
  n.data = op.data;
  n.acl = op.acl;
  n.stat.czxid = txn.zxid;
  n.stat.mzxid = txn.zxid;
  n.stat.pzxid = txn.zxid;
  n.stat.ctime_ms = txn.time_ms;
  n.stat.mtime_ms = txn.time_ms;
  n.stat.ephemeral_owner = op.ephemeral_owner;
  n.stat.data_length = data_size(op.data);
  Stat stat = n.stat;

  parent->children.insert(std::string(path_basename(op.path)));
  parent->stat.num_children = static_cast<int32_t>(parent->children.size());
  parent->stat.cversion = op.parent_cversion;
  parent->stat.pzxid = txn.zxid;

  approximate_data_size_ += static_cast<int64_t>(op.path.size()) + n.stat.data_length;
  index_owner(op.path, op.ephemeral_owner);
  events.push_back(TreeEvent{EventType::kNodeCreated, op.path, n.acl});
  events.push_back(TreeEvent{EventType::kNodeChildrenChanged, std::string(parent_path), parent->acl});
  nodes_.emplace(op.path, std::move(n));
  return OpResult{TxnType::kCreate, op.path, client_stat(stat)};
}

OpResult DataTree::apply_delete(const Txn& txn, const std::string& path, std::vector<TreeEvent>& events) {
  auto it = nodes_.find(path);
  if (it == nodes_.end()) tree_invariant_failed("delete of a missing node", path);
  if (!it->second.children.empty()) tree_invariant_failed("delete of a node with children", path);
  std::string_view parent_path = path_parent(path);
  Node* parent = find(parent_path);
  if (parent == nullptr) tree_invariant_failed("delete under a missing parent", path);

  approximate_data_size_ -= static_cast<int64_t>(path.size()) + it->second.stat.data_length;
  unindex_owner(path, it->second.stat.ephemeral_owner);
  AclList acl = std::move(it->second.acl);
  nodes_.erase(it);
  parent->children.erase(std::string(path_basename(path)));
  parent->stat.num_children = static_cast<int32_t>(parent->children.size());
  if (txn.zxid > parent->stat.pzxid) parent->stat.pzxid = txn.zxid;
  events.push_back(TreeEvent{EventType::kNodeDeleted, path, std::move(acl)});
  events.push_back(TreeEvent{EventType::kNodeChildrenChanged, std::string(parent_path), parent->acl});
  return OpResult{TxnType::kDelete, path, {}};
}

OpResult DataTree::apply_set_data(const Txn& txn, const TxnOp& op, std::vector<TreeEvent>& events) {
  Node* n = find(op.path);
  if (n == nullptr) tree_invariant_failed("setData of a missing node", op.path);
  approximate_data_size_ += data_size(op.data) - n->stat.data_length;
  n->data = op.data;
  n->stat.data_length = data_size(op.data);
  n->stat.version = op.version;
  n->stat.mzxid = txn.zxid;
  n->stat.mtime_ms = txn.time_ms;
  events.push_back(TreeEvent{EventType::kNodeDataChanged, op.path, n->acl});
  return OpResult{TxnType::kSetData, op.path, client_stat(n->stat)};
}

OpResult DataTree::apply_set_acl(const TxnOp& op) {
  Node* n = find(op.path);
  if (n == nullptr) tree_invariant_failed("setACL of a missing node", op.path);
  n->acl = op.acl;
  n->stat.aversion = op.version;
  return OpResult{TxnType::kSetAcl, op.path, client_stat(n->stat)};
}

void DataTree::apply_close_session(const Txn& txn, std::vector<TreeEvent>& events) {
  sessions_.erase(txn.session);
  const std::set<std::string>* mine = ephemerals_of(txn.session);
  if (mine == nullptr) return;
  // Copy: apply_delete edits the index while we walk it. Ephemerals have no children, so any order works;
  // sorted order keeps replicas' event order identical.
  std::vector<std::string> paths(mine->begin(), mine->end());
  for (const std::string& p : paths) apply_delete(txn, p, events);
}

}  // namespace uk

namespace uk {

bool DataTree::restore_node(const std::string& path, Node node) {
  if (!path_valid(path) || !node.children.empty()) return false;
  if (node.stat.data_length != data_size(node.data)) return false;
  const int64_t new_bytes = static_cast<int64_t>(path.size()) + node.stat.data_length;
  if (Node* existing = find(path)) {
    // The root and the /zookeeper nodes of a fresh tree: replace what the snapshot holds, keep the children.
    approximate_data_size_ += new_bytes - (static_cast<int64_t>(path.size()) + existing->stat.data_length);
    unindex_owner(path, existing->stat.ephemeral_owner);
    index_owner(path, node.stat.ephemeral_owner);
    existing->data = std::move(node.data);
    existing->acl = std::move(node.acl);
    existing->stat = node.stat;
    return true;
  }
  Node* parent = find(path_parent(path));
  if (parent == nullptr || owner::is_ephemeral(parent->stat.ephemeral_owner)) return false;
  parent->children.insert(std::string(path_basename(path)));
  approximate_data_size_ += new_bytes;
  index_owner(path, node.stat.ephemeral_owner);
  nodes_.emplace(path, std::move(node));
  return true;
}

bool DataTree::check_consistency(std::string& why) const {
  auto broken = [&why](const std::string& path, const std::string& what) {
    why = "node '" + path + "': " + what;
    return false;
  };
  int64_t bytes = 0;
  size_t child_entries = 0;
  size_t ephemeral_count = 0, container_count = 0, ttl_count = 0;
  for (const auto& [path, node] : nodes_) {
    bytes += static_cast<int64_t>(path.size()) + node.stat.data_length;
    if (node.stat.data_length != data_size(node.data)) return broken(path, "data_length does not match the data");
    if (node.stat.num_children < 0 || static_cast<size_t>(node.stat.num_children) != node.children.size()) {
      return broken(path, "num_children " + std::to_string(node.stat.num_children) + " but " +
                              std::to_string(node.children.size()) + " children");
    }
    const int64_t o = node.stat.ephemeral_owner;
    if (owner::is_ephemeral(o) && !node.children.empty()) return broken(path, "an ephemeral node has children");
    for (const std::string& c : node.children) {
      if (get(path_join(path, c)) == nullptr) return broken(path, "child '" + c + "' is not a node");
    }
    child_entries += node.children.size();
    if (owner::is_container(o)) {
      container_count++;
      if (containers_.count(path) == 0) return broken(path, "container missing from the container index");
    } else if (owner::is_ttl(o)) {
      ttl_count++;
      if (ttl_nodes_.count(path) == 0) return broken(path, "TTL node missing from the TTL index");
    } else if (o != 0) {
      ephemeral_count++;
      const std::set<std::string>* mine = ephemerals_of(o);
      if (mine == nullptr || mine->count(path) == 0) return broken(path, "ephemeral missing from its session's index");
    }
  }
  // Every child entry names a distinct existing non-root path, so equal counts mean each non-root node is listed
  // by exactly one parent (its own: a child entry's path is its parent's path joined with the name).
  if (nodes_.count("/") == 0) return broken("/", "the root is missing");
  if (child_entries + 1 != nodes_.size()) {
    return broken("/", std::to_string(nodes_.size() - 1) + " non-root nodes but " + std::to_string(child_entries) +
                           " child entries");
  }
  size_t indexed_ephemerals = 0;
  for (const auto& [session, paths] : ephemerals_) indexed_ephemerals += paths.size();
  if (indexed_ephemerals != ephemeral_count || containers_.size() != container_count ||
      ttl_nodes_.size() != ttl_count) {
    return broken("/", "an owner index holds nodes that are not of its kind");
  }
  if (bytes != approximate_data_size_) {
    return broken("/", "approximate_data_size " + std::to_string(approximate_data_size_) + " but the nodes sum to " +
                           std::to_string(bytes));
  }
  return true;
}

}  // namespace uk
