// What one write (one apply() or restore_* call) needs to edit the persistent structures: the generation that
// tags objects it allocated (those are still private and may be edited in place), the epoch domain that takes
// what it replaces, and the live-bytes counter behind DataTree::memory_bytes().
// Writer thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "epoch.h"

namespace uk::tree_detail {

// glibc malloc's chunk for an n-byte request (8 bytes of header, 16-byte granules, 32 at least): the unit of
// the memory accounting. An estimate: other allocators round differently.
inline int64_t chunk_bytes(size_t n) {
  const size_t c = (n + 8 + 15) & ~size_t{15};
  return static_cast<int64_t>(c < 32 ? 32 : c);
}
// Heap bytes behind a std::string (0 while it fits the small-string buffer).
inline int64_t string_heap_bytes(const std::string& s) { return s.capacity() > 15 ? chunk_bytes(s.capacity() + 1) : 0; }

struct WriteCtx {
  EpochDomain& domain;
  uint64_t gen;
  int64_t& live_bytes;

  void allocated(int64_t bytes) { live_bytes += bytes; }
  // A published (or possibly published) object: freed after a grace period.
  void retire(void* p, Deleter del, int64_t bytes) {
    live_bytes -= bytes;
    domain.retire(p, del, bytes);
  }
  // An object allocated by this write and never published: freed at once.
  void free_now(void* p, Deleter del, int64_t bytes) {
    live_bytes -= bytes;
    del(p);
  }
};

}  // namespace uk::tree_detail
