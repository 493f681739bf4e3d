// The path index: a persistent hash array mapped trie from path to the current Leaf (one znode version).
// 32-way branches indexed by 5 bits of a 64-bit path hash per level (levels 0..12; level 12 uses the last 4
// bits), compressed by a bitmap; paths whose full hashes collide share a collision branch at level 13, searched
// linearly. The hash is keyed (SipHash-2-4 under a per-process random key), so clients cannot choose paths that
// collide and make that search long. Updates copy the O(depth) branches on the way (a branch this write
// allocated is edited in place) and retire what they replace; lookups are plain loads from a published,
// immutable structure.
// Thread-safety: trie_find on any thread that holds the root safely (a guard, or the writer); the rest writer only.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "ukeeper/storage/tree/data_tree.h"
#include "ukeeper/storage/tree/siphash.h"
#include "write_ctx.h"

namespace uk::tree_detail {

struct Leaf {
  uint64_t hash = 0;
  std::string path;
  Node node;
};

// An entry is 0 (empty), a Branch*, or a Leaf* with the low bit set.
using Entry = uintptr_t;

// The process's secret hash keys, drawn from getrandom() on first use: SipHash-2-4 keys for the path index and
// for child-set priorities (child_set.cc). Per process rather than per tree, so a leaf's hash and a treap's
// shape stay valid when a tree is copied or moved into another. Nothing persisted or sent depends on them.
struct TreeHashKeys {
  SipKey path;
  SipKey child_priority;
};
const TreeHashKeys& tree_hash_keys();
// The trie's hash of a path: siphash24(tree_hash_keys().path, path), or the testing hook's
// (set_tree_path_hash_for_testing).
uint64_t path_hash(std::string_view path);
int64_t leaf_bytes(const Leaf& leaf);  // the accounting estimate; fixed once the leaf is in the trie
void delete_leaf(void* leaf);

const Leaf* trie_find(Entry root, uint64_t hash, std::string_view path);
// Inserts `leaf` (taking it; its bytes are counted) or replaces the leaf with its path, which is retired.
Entry trie_put(WriteCtx& ctx, Entry root, Leaf* leaf);
// Removes the leaf at `path`, returning it (not retired: the caller retires it) or nullptr when absent.
Entry trie_erase(WriteCtx& ctx, Entry root, uint64_t hash, std::string_view path, const Leaf** removed);
void trie_for_each(Entry root, const std::function<void(const Leaf&)>& fn);
// A deep copy (leaves and their child sets included) owned by the writer of `ctx`.
Entry trie_clone(WriteCtx& ctx, Entry root);
// Frees every branch and leaf, and each leaf's child set (teardown: nothing may read the trie any more).
void trie_destroy(Entry root);

}  // namespace uk::tree_detail
