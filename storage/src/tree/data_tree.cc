#include "ukeeper/storage/tree/data_tree.h"

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "child_set_writer.h"
#include "tree_state.h"
#include "ukeeper/storage/tree/path.h"

namespace uk {

using tree_detail::Entry;
using tree_detail::Leaf;
using tree_detail::TreeState;
using tree_detail::WriteCtx;

namespace {

// A broken precondition of apply() means the pipeline validated something wrongly: stop rather than let
// replicas diverge.
[[noreturn]] void tree_invariant_failed(const char* what, std::string_view path) {
  std::fprintf(stderr, "ukeeper: data tree invariant broken: %s (path '%.*s')\n", what, static_cast<int>(path.size()),
               path.data());
  std::abort();
}

int32_t data_size(const std::optional<std::string>& d) { return d ? static_cast<int32_t>(d->size()) : 0; }

void delete_root(void* r) { delete static_cast<TreeRoot*>(r); }
void destroy_retired_trie(void* e) { tree_detail::trie_destroy(reinterpret_cast<Entry>(e)); }

// One write to the tree: edits copies of the nodes it changes and publishes them all at once when it ends.
class Writer {
 public:
  explicit Writer(TreeState& s) : s_(s), ctx_(s.begin_write()) {}
  ~Writer() { s_.publish(); }
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  const Leaf* find(std::string_view path) const {
    return tree_detail::trie_find(s_.trie, tree_detail::path_hash(path), path);
  }

  // Replaces `old` by a copy changed by `edit` (the old version is retired); returns the new version. With
  // `data`, the copy takes that data instead of old's (no copy of bytes about to be replaced).
  template <class Edit>
  const Node& edit(const Leaf& old, Edit&& edit, std::optional<std::string>* data = nullptr) {
    // Shares old's children: the set now belongs to the new version.
    auto* l = data == nullptr ? new Leaf(old)
                              : new Leaf{old.hash, old.path,
                                         Node{std::move(*data), old.node.acl, old.node.stat, old.node.children}};
    edit(l->node);
    s_.trie = tree_detail::trie_put(ctx_, s_.trie, l);
    return l->node;
  }

  void insert(const std::string& path, Node node) {
    auto* l = new Leaf{tree_detail::path_hash(path), path, std::move(node)};
    s_.trie = tree_detail::trie_put(ctx_, s_.trie, l);
    s_.node_count++;
  }

  void erase(std::string_view path) {
    const Leaf* removed = nullptr;
    s_.trie = tree_detail::trie_erase(ctx_, s_.trie, tree_detail::path_hash(path), path, &removed);
    if (removed == nullptr) tree_invariant_failed("erase of a missing leaf", path);
    ctx_.retire(const_cast<Leaf*>(removed), tree_detail::delete_leaf, tree_detail::leaf_bytes(*removed));
    s_.node_count--;
  }

  void add_child(const Leaf& parent, std::string_view name, const std::function<void(Node&)>& also) {
    edit(parent, [&](Node& p) {
      p.children = ChildSetWriter::insert(ctx_, p.children, name);
      also(p);
    });
  }

  void remove_child(const Leaf& parent, std::string_view name, const std::function<void(Node&)>& also) {
    edit(parent, [&](Node& p) {
      p.children = ChildSetWriter::erase(ctx_, p.children, name);
      also(p);
    });
  }

  void index_owner(const std::string& path, int64_t owner) {
    if (owner::is_container(owner)) {
      s_.containers.insert(path);
    } else if (owner::is_ttl(owner)) {
      s_.ttl_nodes.insert(path);
    } else if (owner != 0) {
      s_.ephemerals[owner].insert(path);
    }
  }

  void unindex_owner(const std::string& path, int64_t owner) {
    if (owner::is_container(owner)) {
      s_.containers.erase(path);
    } else if (owner::is_ttl(owner)) {
      s_.ttl_nodes.erase(path);
    } else if (owner != 0) {
      auto it = s_.ephemerals.find(owner);
      if (it != s_.ephemerals.end()) {
        it->second.erase(path);
        if (it->second.empty()) s_.ephemerals.erase(it);
      }
    }
  }

  OpResult apply_op(const Txn& txn, const TxnOp& op, std::vector<TreeEvent>& events);
  bool restore(const std::string& path, Node node);
  void add_system_node(const std::string& path, const AclList& acl);

  TreeState& state() { return s_; }

 private:
  OpResult create(const Txn& txn, const TxnOp& op, std::vector<TreeEvent>& events);
  OpResult remove(const Txn& txn, const std::string& path, std::vector<TreeEvent>& events);
  OpResult set_data(const Txn& txn, const TxnOp& op, std::vector<TreeEvent>& events);
  OpResult set_acl(const TxnOp& op);
  void close_session(const Txn& txn, std::vector<TreeEvent>& events);

  TreeState& s_;
  WriteCtx ctx_;
};

void Writer::add_system_node(const std::string& path, const AclList& acl) {
  Node n;
  n.acl = acl;
  n.data = std::string();
  const Leaf* parent = find(path_parent(path));
  add_child(*parent, path_basename(path),
            [](Node& p) { p.stat.num_children = static_cast<int32_t>(p.children.size()); });
  s_.approximate_data_size += static_cast<int64_t>(path.size());
  insert(path, std::move(n));
}

OpResult Writer::apply_op(const Txn& txn, const TxnOp& op, std::vector<TreeEvent>& events) {
  switch (op.type) {
    case TxnType::kCreate:
      return create(txn, op, events);
    case TxnType::kDelete:
      return remove(txn, op.path, events);
    case TxnType::kSetData:
      return set_data(txn, op, events);
    case TxnType::kSetAcl:
      return set_acl(op);
    case TxnType::kCheck: {
      const Leaf* n = find(op.path);
      if (n == nullptr) tree_invariant_failed("check of a missing node", op.path);
      return OpResult{TxnType::kCheck, op.path, client_stat(n->node.stat)};
    }
    case TxnType::kCreateSession:
      s_.sessions[txn.session] = op.timeout_ms;
      return OpResult{op.type, {}, {}};
    case TxnType::kCloseSession:
      close_session(txn, events);
      return OpResult{op.type, {}, {}};
    case TxnType::kError:
    case TxnType::kMulti:
      break;
  }
  return OpResult{TxnType::kError, {}, {}};
}

OpResult Writer::create(const Txn& txn, const TxnOp& op, std::vector<TreeEvent>& events) {
  std::string_view parent_path = path_parent(op.path);
  const Leaf* parent = find(parent_path);
  if (parent == nullptr) tree_invariant_failed("create under a missing parent", op.path);
  if (find(op.path) != nullptr) tree_invariant_failed("create of an existing node", op.path);
  if (owner::is_ephemeral(parent->node.stat.ephemeral_owner)) tree_invariant_failed("child of an ephemeral", op.path);

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
  const Stat stat = n.stat;

  add_child(*parent, path_basename(op.path), [&](Node& p) {
    p.stat.num_children = static_cast<int32_t>(p.children.size());
    p.stat.cversion = op.parent_cversion;
    p.stat.pzxid = txn.zxid;
    events.push_back(TreeEvent{EventType::kNodeCreated, op.path, n.acl});
    events.push_back(TreeEvent{EventType::kNodeChildrenChanged, std::string(parent_path), p.acl});
  });
  s_.approximate_data_size += static_cast<int64_t>(op.path.size()) + stat.data_length;
  index_owner(op.path, op.ephemeral_owner);
  insert(op.path, std::move(n));
  return OpResult{TxnType::kCreate, op.path, client_stat(stat)};
}

OpResult Writer::remove(const Txn& txn, const std::string& path, std::vector<TreeEvent>& events) {
  const Leaf* l = find(path);
  if (l == nullptr) tree_invariant_failed("delete of a missing node", path);
  if (!l->node.children.empty()) tree_invariant_failed("delete of a node with children", path);
  std::string_view parent_path = path_parent(path);
  const Leaf* parent = find(parent_path);
  if (parent == nullptr) tree_invariant_failed("delete under a missing parent", path);

  s_.approximate_data_size -= static_cast<int64_t>(path.size()) + l->node.stat.data_length;
  unindex_owner(path, l->node.stat.ephemeral_owner);
  events.push_back(TreeEvent{EventType::kNodeDeleted, path, l->node.acl});
  erase(path);  // `l` stays readable until this write publishes: retired, not freed
  remove_child(*parent, path_basename(path), [&](Node& p) {
    p.stat.num_children = static_cast<int32_t>(p.children.size());
    if (txn.zxid > p.stat.pzxid) p.stat.pzxid = txn.zxid;
    events.push_back(TreeEvent{EventType::kNodeChildrenChanged, std::string(parent_path), p.acl});
  });
  return OpResult{TxnType::kDelete, path, {}};
}

OpResult Writer::set_data(const Txn& txn, const TxnOp& op, std::vector<TreeEvent>& events) {
  const Leaf* l = find(op.path);
  if (l == nullptr) tree_invariant_failed("setData of a missing node", op.path);
  s_.approximate_data_size += data_size(op.data) - l->node.stat.data_length;
  std::optional<std::string> data = op.data;
  const Node& n = edit(
      *l,
      [&](Node& m) {
        m.stat.data_length = data_size(m.data);
        m.stat.version = op.version;
        m.stat.mzxid = txn.zxid;
        m.stat.mtime_ms = txn.time_ms;
      },
      &data);
  events.push_back(TreeEvent{EventType::kNodeDataChanged, op.path, n.acl});
  return OpResult{TxnType::kSetData, op.path, client_stat(n.stat)};
}

OpResult Writer::set_acl(const TxnOp& op) {
  const Leaf* l = find(op.path);
  if (l == nullptr) tree_invariant_failed("setACL of a missing node", op.path);
  const Node& n = edit(*l, [&](Node& m) {
    m.acl = op.acl;
    m.stat.aversion = op.version;
  });
  return OpResult{TxnType::kSetAcl, op.path, client_stat(n.stat)};
}

void Writer::close_session(const Txn& txn, std::vector<TreeEvent>& events) {
  s_.sessions.erase(txn.session);
  auto it = s_.ephemerals.find(txn.session);
  if (it == s_.ephemerals.end()) return;
  // Copy: remove() edits the index while we walk it. Ephemerals have no children, so any order works;
  // sorted order keeps replicas' event order identical.
  std::vector<std::string> paths(it->second.begin(), it->second.end());
  for (const std::string& p : paths) remove(txn, p, events);
}

bool Writer::restore(const std::string& path, Node node) {
  if (!path_valid(path) || !node.children.empty()) return false;
  if (node.stat.data_length != data_size(node.data)) return false;
  const int64_t new_bytes = static_cast<int64_t>(path.size()) + node.stat.data_length;
  if (const Leaf* existing = find(path)) {
    // The root and the /zookeeper nodes of a fresh tree: replace what the snapshot holds, keep the children.
    s_.approximate_data_size += new_bytes - (static_cast<int64_t>(path.size()) + existing->node.stat.data_length);
    unindex_owner(path, existing->node.stat.ephemeral_owner);
    index_owner(path, node.stat.ephemeral_owner);
    edit(
        *existing,
        [&](Node& m) {
          m.acl = std::move(node.acl);
          m.stat = node.stat;
        },
        &node.data);
    return true;
  }
  const Leaf* parent = find(path_parent(path));
  if (parent == nullptr || owner::is_ephemeral(parent->node.stat.ephemeral_owner)) return false;
  add_child(*parent, path_basename(path), [](Node&) {});
  s_.approximate_data_size += new_bytes;
  index_owner(path, node.stat.ephemeral_owner);
  insert(path, std::move(node));
  return true;
}

}  // namespace

namespace tree_detail {

const Node* find_node(Entry trie, std::string_view path) {
  const Leaf* l = tree_detail::trie_find(trie, tree_detail::path_hash(path), path);
  return l == nullptr ? nullptr : &l->node;
}

// Descendants of `path` in the trie `trie` (one snapshot), not counting itself.
int64_t count_descendants(Entry trie, std::string_view path) {
  if (find_node(trie, path) == nullptr) return 0;
  int64_t total = 0;
  std::vector<std::string> stack;
  stack.emplace_back(path);
  while (!stack.empty()) {
    std::string p = std::move(stack.back());
    stack.pop_back();
    const Node* cur = find_node(trie, p);
    if (cur == nullptr) continue;
    for (const std::string& c : cur->children) {
      total++;
      stack.push_back(path_join(p, c));
    }
  }
  return total;
}

TreeState::TreeState() {
  Writer w(*this);
  const AclList open = {Acl{perm::kAll, Id{"world", "anyone"}}};
  Node root;
  root.acl = open;
  root.data = std::string();  // empty, not null: getData("/") answers a zero-length buffer
  w.insert("/", std::move(root));
  approximate_data_size += 1;
  w.add_system_node("/zookeeper", open);
  w.add_system_node("/zookeeper/quota", open);
  w.add_system_node("/zookeeper/config", {Acl{perm::kRead, Id{"world", "anyone"}}});
}

TreeState::~TreeState() {
  if (domain.claimed_count() != 0) {
    std::fprintf(stderr, "ukeeper: a data tree was destroyed with %zu readers still registered\n",
                 domain.claimed_count());
    std::abort();
  }
  trie_destroy(trie);
  delete published.load(std::memory_order_relaxed);
  domain.free_all();
}

void TreeState::copy_from(const TreeState& o) {
  trie_destroy(trie);
  live_bytes = 0;
  WriteCtx ctx = begin_write();
  trie = trie_clone(ctx, o.trie);
  last_zxid = o.last_zxid;
  node_count = o.node_count;
  approximate_data_size = o.approximate_data_size;
  ephemerals = o.ephemerals;
  containers = o.containers;
  ttl_nodes = o.ttl_nodes;
  sessions = o.sessions;
  publish();
}

void TreeState::publish() {
  auto* root = new TreeRoot{trie, last_zxid, node_count, approximate_data_size, live_bytes};
  const TreeRoot* old = published.load(std::memory_order_relaxed);
  published.store(root, std::memory_order_seq_cst);
  if (old != nullptr) domain.retire(const_cast<TreeRoot*>(old), delete_root, chunk_bytes(sizeof(TreeRoot)));
  domain.advance_and_reclaim();
}

}  // namespace tree_detail

DataTree::DataTree() : state_(std::make_unique<TreeState>()) {}
DataTree::~DataTree() = default;

DataTree::DataTree(DataTree&& other) noexcept : state_(std::exchange(other.state_, std::make_unique<TreeState>())) {}

DataTree& DataTree::operator=(DataTree&& other) noexcept {
  if (this == &other) return *this;
  if (state_->domain.claimed_count() != 0) {
    std::fprintf(stderr, "ukeeper: assigning to a data tree that has registered readers\n");
    std::abort();
  }
  state_ = std::exchange(other.state_, std::make_unique<TreeState>());
  return *this;
}

void DataTree::install(DataTree&& fresh) {
  TreeState& s = *state_;
  TreeState& o = *fresh.state_;
  if (o.domain.claimed_count() != 0) {
    std::fprintf(stderr, "ukeeper: installing a data tree that has registered readers\n");
    std::abort();
  }
  o.domain.free_all();  // nobody can read o's retired objects: no readers
  // The old trie goes as one retired object: readers inside a guard may still walk it.
  Entry old = std::exchange(s.trie, std::exchange(o.trie, 0));
  int64_t old_bytes = s.live_bytes;
  s.domain.retire(reinterpret_cast<void*>(old), destroy_retired_trie, old_bytes);
  // Writes edit in place only what carries their own generation: keep every later one above o's.
  s.gen = std::max(s.gen, o.gen);
  s.last_zxid = o.last_zxid;
  s.node_count = o.node_count;
  s.approximate_data_size = o.approximate_data_size;
  s.live_bytes = o.live_bytes;
  s.ephemerals = std::move(o.ephemerals);
  s.containers = std::move(o.containers);
  s.ttl_nodes = std::move(o.ttl_nodes);
  s.sessions = std::move(o.sessions);
  s.publish();
  fresh.state_ = std::make_unique<TreeState>();
}

DataTree::DataTree(const DataTree& other) : state_(std::make_unique<TreeState>()) { state_->copy_from(*other.state_); }

DataTree& DataTree::operator=(const DataTree& other) {
  if (this != &other) *this = DataTree(other);
  return *this;
}

ApplyResult DataTree::apply(const Txn& txn) {
  ApplyResult result;
  Writer w(*state_);
  if (txn.type == TxnType::kMulti) {
    result.results.reserve(txn.ops.size());
    for (const TxnOp& op : txn.ops) result.results.push_back(w.apply_op(txn, op, result.events));
  } else {
    if (txn.ops.size() != 1) tree_invariant_failed("non-multi txn must hold exactly one op", "");
    result.results.push_back(w.apply_op(txn, txn.ops[0], result.events));
  }
  if (txn.zxid > state_->last_zxid) state_->last_zxid = txn.zxid;
  return result;  // ~Writer publishes
}

const Node* DataTree::get(std::string_view path) const { return tree_detail::find_node(state_->trie, path); }
Zxid DataTree::last_zxid() const { return state_->last_zxid; }
size_t DataTree::node_count() const { return state_->node_count; }
int64_t DataTree::approximate_data_size() const { return state_->approximate_data_size; }
int64_t DataTree::all_children_number(std::string_view path) const {
  return tree_detail::count_descendants(state_->trie, path);
}
int64_t DataTree::memory_bytes() const { return state_->live_bytes; }
int64_t DataTree::retired_bytes() const { return state_->domain.retired_bytes(); }
void DataTree::reclaim() { state_->domain.advance_and_reclaim(); }

const std::set<std::string>* DataTree::ephemerals_of(SessionId session) const {
  auto it = state_->ephemerals.find(session);
  return it == state_->ephemerals.end() ? nullptr : &it->second;
}
const std::map<SessionId, std::set<std::string>>& DataTree::ephemerals() const { return state_->ephemerals; }
const std::set<std::string>& DataTree::containers() const { return state_->containers; }
const std::set<std::string>& DataTree::ttl_nodes() const { return state_->ttl_nodes; }
const std::map<SessionId, int32_t>& DataTree::sessions() const { return state_->sessions; }

void DataTree::for_each(const std::function<void(const std::string&, const Node&)>& fn) const {
  tree_detail::trie_for_each(state_->trie, [&fn](const Leaf& l) { fn(l.path, l.node); });
}

bool DataTree::restore_node(const std::string& path, Node node) {
  Writer w(*state_);
  return w.restore(path, std::move(node));
}

void DataTree::restore_session(SessionId session, int32_t timeout_ms) { state_->sessions[session] = timeout_ms; }

void DataTree::restore_last_zxid(Zxid zxid) {
  Writer w(*state_);
  state_->last_zxid = zxid;
}

bool DataTree::operator==(const DataTree& other) const {
  const TreeState& a = *state_;
  const TreeState& b = *other.state_;
  if (a.node_count != b.node_count || a.last_zxid != b.last_zxid ||
      a.approximate_data_size != b.approximate_data_size || a.ephemerals != b.ephemerals ||
      a.containers != b.containers || a.ttl_nodes != b.ttl_nodes || a.sessions != b.sessions) {
    return false;
  }
  bool same = true;
  for_each([&](const std::string& path, const Node& n) {
    const Node* o = same ? other.get(path) : nullptr;
    if (o == nullptr || !(*o == n)) same = false;
  });
  return same;
}

}  // namespace uk
