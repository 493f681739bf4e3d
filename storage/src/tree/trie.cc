#include "trie.h"

#include <sys/random.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <new>
#include <random>

#include "child_set_writer.h"

namespace uk::tree_detail {
namespace {

constexpr unsigned kBitsPerLevel = 5;
constexpr unsigned kCollisionDepth = 13;  // 13 * 5 > 64: no hash bits left below level 12

// Followed in memory by `count` entries. A collision branch keeps its leaves unordered and its bitmap 0.
struct Branch {
  uint64_t gen;
  uint32_t bitmap;
  uint16_t count;
  bool collision;
  Entry* entries() { return reinterpret_cast<Entry*>(this + 1); }
  const Entry* entries() const { return reinterpret_cast<const Entry*>(this + 1); }
};
static_assert(sizeof(Branch) == 16 && alignof(Branch) <= alignof(Entry));

bool is_leaf(Entry e) { return (e & 1) != 0; }
const Leaf* as_leaf(Entry e) { return reinterpret_cast<const Leaf*>(e & ~Entry{1}); }
Entry leaf_entry(const Leaf* l) { return reinterpret_cast<Entry>(l) | 1; }
Branch* as_branch(Entry e) { return reinterpret_cast<Branch*>(e); }
Entry branch_entry(const Branch* b) { return reinterpret_cast<Entry>(b); }

unsigned index_at(uint64_t hash, unsigned depth) {
  return static_cast<unsigned>(hash >> (kBitsPerLevel * depth)) & 31u;
}

int64_t branch_bytes(size_t count) { return chunk_bytes(sizeof(Branch) + count * sizeof(Entry)); }

void delete_branch(void* p) { ::operator delete(p); }

Branch* new_branch(WriteCtx& ctx, size_t count, uint32_t bitmap, bool collision) {
  auto* b = static_cast<Branch*>(::operator new(sizeof(Branch) + count * sizeof(Entry)));
  b->gen = ctx.gen;
  b->bitmap = bitmap;
  b->count = static_cast<uint16_t>(count);
  b->collision = collision;
  ctx.allocated(branch_bytes(count));
  return b;
}

// A branch this write replaces by another: freed now if this write made it, else after a grace period.
void drop_branch(WriteCtx& ctx, Branch* b) {
  if (b->gen == ctx.gen) {
    ctx.free_now(b, delete_branch, branch_bytes(b->count));
  } else {
    ctx.retire(b, delete_branch, branch_bytes(b->count));
  }
}

Branch* writable(WriteCtx& ctx, Branch* b) {
  if (b->gen == ctx.gen) return b;
  Branch* copy = new_branch(ctx, b->count, b->bitmap, b->collision);
  std::memcpy(copy->entries(), b->entries(), b->count * sizeof(Entry));
  drop_branch(ctx, b);
  return copy;
}

// A copy of `b` with `e` inserted at position `pos` (and `bit` set in the bitmap).
Branch* grown(WriteCtx& ctx, Branch* b, size_t pos, Entry e, uint32_t bit) {
  Branch* g = new_branch(ctx, b->count + 1u, b->bitmap | bit, b->collision);
  std::memcpy(g->entries(), b->entries(), pos * sizeof(Entry));
  g->entries()[pos] = e;
  std::memcpy(g->entries() + pos + 1, b->entries() + pos, (b->count - pos) * sizeof(Entry));
  drop_branch(ctx, b);
  return g;
}

// A copy of `b` without position `pos` (and `bit` cleared).
Branch* shrunk(WriteCtx& ctx, Branch* b, size_t pos, uint32_t bit) {
  Branch* s = new_branch(ctx, b->count - 1u, b->bitmap & ~bit, b->collision);
  std::memcpy(s->entries(), b->entries(), pos * sizeof(Entry));
  std::memcpy(s->entries() + pos, b->entries() + pos + 1, (b->count - pos - 1) * sizeof(Entry));
  drop_branch(ctx, b);
  return s;
}

void retire_leaf(WriteCtx& ctx, const Leaf* l) { ctx.retire(const_cast<Leaf*>(l), delete_leaf, leaf_bytes(*l)); }

Entry put_at(WriteCtx& ctx, Entry e, unsigned depth, Leaf* leaf) {
  if (e == 0) return leaf_entry(leaf);
  if (is_leaf(e)) {
    const Leaf* old = as_leaf(e);
    if (old->hash == leaf->hash && old->path == leaf->path) {
      retire_leaf(ctx, old);
      return leaf_entry(leaf);
    }
    // Push the resident leaf one level down, then insert beside it.
    Branch* b = depth == kCollisionDepth ? new_branch(ctx, 1, 0, true)
                                         : new_branch(ctx, 1, 1u << index_at(old->hash, depth), false);
    b->entries()[0] = e;
    return put_at(ctx, branch_entry(b), depth, leaf);
  }
  Branch* b = as_branch(e);
  if (b->collision) {
    for (size_t i = 0; i < b->count; ++i) {
      const Leaf* old = as_leaf(b->entries()[i]);
      if (old->path != leaf->path) continue;
      retire_leaf(ctx, old);
      b = writable(ctx, b);
      b->entries()[i] = leaf_entry(leaf);
      return branch_entry(b);
    }
    return branch_entry(grown(ctx, b, b->count, leaf_entry(leaf), 0));
  }
  const uint32_t bit = 1u << index_at(leaf->hash, depth);
  const size_t pos = static_cast<size_t>(std::popcount(b->bitmap & (bit - 1)));
  if ((b->bitmap & bit) == 0) return branch_entry(grown(ctx, b, pos, leaf_entry(leaf), bit));
  const Entry child = b->entries()[pos];
  const Entry updated = put_at(ctx, child, depth + 1, leaf);
  if (updated == child) return e;
  b = writable(ctx, b);
  b->entries()[pos] = updated;
  return branch_entry(b);
}

Entry erase_at(WriteCtx& ctx, Entry e, unsigned depth, uint64_t hash, std::string_view path, const Leaf** removed) {
  if (e == 0) return 0;
  if (is_leaf(e)) {
    const Leaf* l = as_leaf(e);
    if (l->hash != hash || l->path != path) return e;
    *removed = l;
    return 0;
  }
  Branch* b = as_branch(e);
  size_t pos = 0;
  uint32_t bit = 0;
  if (b->collision) {
    while (pos < b->count && as_leaf(b->entries()[pos])->path != path) pos++;
    if (pos == b->count) return e;
    *removed = as_leaf(b->entries()[pos]);
  } else {
    bit = 1u << index_at(hash, depth);
    if ((b->bitmap & bit) == 0) return e;
    pos = static_cast<size_t>(std::popcount(b->bitmap & (bit - 1)));
    const Entry child = b->entries()[pos];
    const Entry updated = erase_at(ctx, child, depth + 1, hash, path, removed);
    if (updated == child) return e;
    if (updated != 0) {
      // A branch left holding one leaf collapses into it, so the trie stays as shallow as its contents.
      if (b->count == 1 && is_leaf(updated)) {
        drop_branch(ctx, b);
        return updated;
      }
      b = writable(ctx, b);
      b->entries()[pos] = updated;
      return branch_entry(b);
    }
  }
  // Position `pos` goes away.
  if (b->count == 1) {
    drop_branch(ctx, b);
    return 0;
  }
  if (b->count == 2 && is_leaf(b->entries()[1 - pos])) {
    const Entry other = b->entries()[1 - pos];
    drop_branch(ctx, b);
    return other;
  }
  return branch_entry(shrunk(ctx, b, pos, bit));
}

void for_each_at(Entry e, const std::function<void(const Leaf&)>& fn) {
  if (e == 0) return;
  if (is_leaf(e)) {
    fn(*as_leaf(e));
    return;
  }
  const Branch* b = as_branch(e);
  for (size_t i = 0; i < b->count; ++i) for_each_at(b->entries()[i], fn);
}

}  // namespace

namespace {
uint64_t (*g_hash_for_testing)(std::string_view) = nullptr;

// 32 bytes from getrandom() (blocks only before the kernel's pool is first seeded, early in boot); should the
// call be refused (a seccomp filter), std::random_device, which reads /dev/urandom or RDRAND.
TreeHashKeys draw_keys() {
  uint64_t words[4];
  auto* bytes = reinterpret_cast<unsigned char*>(words);
  size_t got = 0;
  while (got < sizeof words) {
    const ssize_t n = getrandom(bytes + got, sizeof words - got, 0);
    if (n > 0) {
      got += static_cast<size_t>(n);
    } else if (n != -1 || errno != EINTR) {
      std::random_device rd;
      for (uint64_t& w : words) w = (static_cast<uint64_t>(rd()) << 32) ^ rd();
      break;
    }
  }
  return TreeHashKeys{SipKey{words[0], words[1]}, SipKey{words[2], words[3]}};
}
}  // namespace

const TreeHashKeys& tree_hash_keys() {
  static const TreeHashKeys keys = draw_keys();
  return keys;
}

uint64_t path_hash(std::string_view path) {
  if (g_hash_for_testing != nullptr) [[unlikely]]
    return g_hash_for_testing(path);
  return siphash24(tree_hash_keys().path, path);
}

}  // namespace uk::tree_detail

namespace uk {
void set_tree_path_hash_for_testing(uint64_t (*hash)(std::string_view path)) { tree_detail::g_hash_for_testing = hash; }
uint64_t tree_path_hash(std::string_view path) { return tree_detail::path_hash(path); }
}  // namespace uk

namespace uk::tree_detail {

int64_t leaf_bytes(const Leaf& l) {
  int64_t bytes = chunk_bytes(sizeof(Leaf)) + string_heap_bytes(l.path);
  if (l.node.data) bytes += string_heap_bytes(*l.node.data);
  // The ACL list is shared with every node that has the same one (acl_ref.h): not counted per node.
  return bytes;
}

void delete_leaf(void* leaf) { delete static_cast<Leaf*>(leaf); }

const Leaf* trie_find(Entry e, uint64_t hash, std::string_view path) {
  for (unsigned depth = 0;; ++depth) {
    if (e == 0) return nullptr;
    if (is_leaf(e)) {
      const Leaf* l = as_leaf(e);
      return l->hash == hash && l->path == path ? l : nullptr;
    }
    const Branch* b = as_branch(e);
    if (b->collision) {
      for (size_t i = 0; i < b->count; ++i) {
        const Leaf* l = as_leaf(b->entries()[i]);
        if (l->path == path) return l;
      }
      return nullptr;
    }
    const uint32_t bit = 1u << index_at(hash, depth);
    if ((b->bitmap & bit) == 0) return nullptr;
    e = b->entries()[std::popcount(b->bitmap & (bit - 1))];
  }
}

Entry trie_put(WriteCtx& ctx, Entry root, Leaf* leaf) {
  ctx.allocated(leaf_bytes(*leaf));
  return put_at(ctx, root, 0, leaf);
}

Entry trie_erase(WriteCtx& ctx, Entry root, uint64_t hash, std::string_view path, const Leaf** removed) {
  *removed = nullptr;
  return erase_at(ctx, root, 0, hash, path, removed);
}

void trie_for_each(Entry root, const std::function<void(const Leaf&)>& fn) { for_each_at(root, fn); }

Entry trie_clone(WriteCtx& ctx, Entry e) {
  if (e == 0) return 0;
  if (is_leaf(e)) {
    auto* l = new Leaf(*as_leaf(e));
    l->node.children = ChildSetWriter::clone(ctx, l->node.children);
    ctx.allocated(leaf_bytes(*l));
    return leaf_entry(l);
  }
  const Branch* b = as_branch(e);
  Branch* c = new_branch(ctx, b->count, b->bitmap, b->collision);
  for (size_t i = 0; i < b->count; ++i) c->entries()[i] = trie_clone(ctx, b->entries()[i]);
  return branch_entry(c);
}

void trie_destroy(Entry e) {
  if (e == 0) return;
  if (is_leaf(e)) {
    const Leaf* l = as_leaf(e);
    ChildSetWriter::destroy(l->node.children);
    delete l;
    return;
  }
  Branch* b = as_branch(e);
  for (size_t i = 0; i < b->count; ++i) trie_destroy(b->entries()[i]);
  delete_branch(b);
}

}  // namespace uk::tree_detail
