#include "ukeeper/storage/tree/child_set.h"

#include <algorithm>
#include <atomic>
#include <functional>

#include "child_set_writer.h"
#include "trie.h"

namespace uk {

using tree_detail::ChildNode;
using tree_detail::WriteCtx;

// ---- ownership

struct ChildSet::Owned {
  std::atomic<size_t> refs{1};
  const ChildNode* root = nullptr;
};

const ChildNode* ChildSet::root() const {
  if ((root_ & kOwnedTag) == 0) return reinterpret_cast<const ChildNode*>(root_);
  return reinterpret_cast<const Owned*>(root_ & ~kOwnedTag)->root;
}

void ChildSet::hold() const {
  if ((root_ & kOwnedTag) != 0)
    reinterpret_cast<Owned*>(root_ & ~kOwnedTag)->refs.fetch_add(1, std::memory_order_relaxed);
}

void ChildSet::drop() {
  if ((root_ & kOwnedTag) == 0) return;
  auto* owned = reinterpret_cast<Owned*>(root_ & ~kOwnedTag);
  if (owned->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    ChildSetWriter::destroy_nodes(owned->root);
    delete owned;
  }
  root_ = 0;
}

ChildSet::ChildSet(std::initializer_list<std::string> names) {
  if (names.size() == 0) return;
  tree_detail::EpochDomain scratch;  // takes the copies insert() replaces; frees them when it goes
  int64_t bytes = 0;
  WriteCtx ctx{scratch, 1, bytes};
  ChildSet built;
  for (const std::string& name : names) {
    if (!built.contains(name)) built = ChildSetWriter::insert(ctx, built, name);
  }
  auto* owned = new Owned;
  owned->root = built.root();
  root_ = reinterpret_cast<uintptr_t>(owned) | kOwnedTag;
  size_ = built.size_;
}

// ---- reading

void ChildSet::const_iterator::push_left(const ChildNode* n) {
  for (; n != nullptr; n = n->left) stack_.push_back(n);
}

ChildSet::const_iterator& ChildSet::const_iterator::operator++() {
  const ChildNode* n = stack_.back();
  stack_.pop_back();
  push_left(n->right);
  return *this;
}

ChildSet::const_iterator ChildSet::begin() const {
  const_iterator it;
  it.push_left(root());
  return it;
}

bool ChildSet::contains(std::string_view name) const {
  const ChildNode* n = root();
  while (n != nullptr) {
    const int c = name.compare(n->name);
    if (c == 0) return true;
    n = c < 0 ? n->left : n->right;
  }
  return false;
}

namespace {
// Both sides iterate in name order.
template <class Names>
bool same_names(const ChildSet& a, const Names& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}
}  // namespace

bool operator==(const ChildSet& a, const ChildSet& b) { return same_names(a, b); }
bool operator==(const ChildSet& a, const std::set<std::string>& b) { return same_names(a, b); }

// ---- writing

namespace {

// Keyed, like the path hash (trie.h): with an unkeyed hash a client could pick child names whose priorities
// rise with the names and degrade the treap into a list (O(n) per create, and recursion as deep as n).
uint64_t priority_of(std::string_view name) { return siphash24(tree_detail::tree_hash_keys().child_priority, name); }

// Heap order: higher priority nearer the root; equal priorities order by name, so the shape depends only on
// the set of names.
bool above(const ChildNode* a, const ChildNode* b) {
  return a->priority != b->priority ? a->priority > b->priority : a->name < b->name;
}

int64_t node_bytes(const ChildNode* n) {
  return tree_detail::chunk_bytes(sizeof(ChildNode)) + tree_detail::string_heap_bytes(n->name);
}

void delete_node(void* n) { delete static_cast<ChildNode*>(n); }

class PathCopier {
 public:
  explicit PathCopier(WriteCtx& ctx) : ctx_(ctx) {}

  ChildNode* fresh(std::string_view name) {
    auto* n = new ChildNode{nullptr, nullptr, priority_of(name), std::string(name)};
    ctx_.allocated(node_bytes(n));
    return n;
  }
  // A private copy of a published node; the original is retired.
  ChildNode* copy(const ChildNode* n) {
    auto* c = new ChildNode(*n);
    ctx_.allocated(node_bytes(c));
    retire(n);
    return c;
  }
  void retire(const ChildNode* n) { ctx_.retire(const_cast<ChildNode*>(n), delete_node, node_bytes(n)); }

  // Splits `t` into names < key and names > key (key is absent).
  std::pair<const ChildNode*, const ChildNode*> split(const ChildNode* t, const std::string& key) {
    if (t == nullptr) return {nullptr, nullptr};
    ChildNode* c = copy(t);
    if (c->name < key) {
      auto [l, r] = split(c->right, key);
      c->right = l;
      return {c, r};
    }
    auto [l, r] = split(c->left, key);
    c->left = r;
    return {l, c};
  }

  const ChildNode* insert(const ChildNode* t, ChildNode* x) {
    if (t == nullptr) return x;
    if (above(x, t)) {
      auto [l, r] = split(t, x->name);
      x->left = l;
      x->right = r;
      return x;
    }
    ChildNode* c = copy(t);
    if (x->name < c->name) {
      c->left = insert(c->left, x);
    } else {
      c->right = insert(c->right, x);
    }
    return c;
  }

  // Joins two treaps where every name of `a` sorts before every name of `b`.
  const ChildNode* merge(const ChildNode* a, const ChildNode* b) {
    if (a == nullptr) return b;
    if (b == nullptr) return a;
    if (above(a, b)) {
      ChildNode* c = copy(a);
      c->right = merge(c->right, b);
      return c;
    }
    ChildNode* c = copy(b);
    c->left = merge(a, c->left);
    return c;
  }

  const ChildNode* erase(const ChildNode* t, std::string_view key) {
    const int cmp = key.compare(t->name);
    if (cmp == 0) {
      const ChildNode* joined = merge(t->left, t->right);
      retire(t);
      return joined;
    }
    ChildNode* c = copy(t);
    if (cmp < 0) {
      c->left = erase(c->left, key);
    } else {
      c->right = erase(c->right, key);
    }
    return c;
  }

 private:
  WriteCtx& ctx_;
};

}  // namespace

ChildSet ChildSetWriter::insert(WriteCtx& ctx, const ChildSet& set, std::string_view name) {
  PathCopier pc(ctx);
  ChildSet out;
  out.root_ = reinterpret_cast<uintptr_t>(pc.insert(set.root(), pc.fresh(name)));
  out.size_ = set.size_ + 1;
  return out;
}

ChildSet ChildSetWriter::erase(WriteCtx& ctx, const ChildSet& set, std::string_view name) {
  PathCopier pc(ctx);
  ChildSet out;
  out.root_ = reinterpret_cast<uintptr_t>(pc.erase(set.root(), name));
  out.size_ = set.size_ - 1;
  return out;
}

void ChildSetWriter::destroy_nodes(const ChildNode* n) {
  while (n != nullptr) {
    destroy_nodes(n->left);
    const ChildNode* right = n->right;
    delete n;
    n = right;
  }
}

void ChildSetWriter::destroy(const ChildSet& set) {
  if ((set.root_ & ChildSet::kOwnedTag) == 0) destroy_nodes(set.root());
}

namespace {
const ChildNode* clone_nodes(WriteCtx& ctx, const ChildNode* n) {
  if (n == nullptr) return nullptr;
  auto* c = new ChildNode{clone_nodes(ctx, n->left), clone_nodes(ctx, n->right), n->priority, n->name};
  ctx.allocated(node_bytes(c));
  return c;
}
}  // namespace

ChildSet ChildSetWriter::clone(WriteCtx& ctx, const ChildSet& set) {
  ChildSet out;
  out.root_ = reinterpret_cast<uintptr_t>(clone_nodes(ctx, set.root()));
  out.size_ = set.size_;
  return out;
}

}  // namespace uk
