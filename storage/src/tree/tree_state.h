// The state behind a DataTree (data_tree.h): the published root readers load, the epoch domain, and what only
// the writer touches (its working trie, counters and indexes).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "epoch.h"
#include "trie.h"

namespace uk {

// One published snapshot: immutable once stored in TreeState::published.
struct TreeRoot {
  tree_detail::Entry trie = 0;
  Zxid last_zxid = 0;
  size_t node_count = 0;
  int64_t approximate_data_size = 0;
  int64_t memory_bytes = 0;
};

namespace tree_detail {

// Lookups in one trie (a snapshot's or the writer's).
const Node* find_node(Entry trie, std::string_view path);
// Descendants of `path`, not counting itself; 0 for a missing node. O(descendants).
int64_t count_descendants(Entry trie, std::string_view path);

struct TreeState {
  TreeState();
  ~TreeState();  // frees everything; no reader may be registered

  // Replaces this (fresh, reader-less) state's contents by a deep copy of `other`'s, and publishes it.
  void copy_from(const TreeState& other);
  // Starts a write: a new generation for the objects it allocates.
  WriteCtx begin_write() { return WriteCtx{domain, ++gen, live_bytes}; }
  // Ends a write: publishes the working state as one new TreeRoot, then reclaims what readers have left.
  void publish();

  EpochDomain domain;
  std::atomic<const TreeRoot*> published{nullptr};

  // Writer only.
  Entry trie = 0;
  uint64_t gen = 0;
  Zxid last_zxid = 0;
  size_t node_count = 0;
  int64_t approximate_data_size = 0;
  int64_t live_bytes = 0;
  std::map<SessionId, std::set<std::string>> ephemerals;
  std::set<std::string> containers;
  std::set<std::string> ttl_nodes;
  std::map<SessionId, int32_t> sessions;
};

}  // namespace tree_detail
}  // namespace uk
