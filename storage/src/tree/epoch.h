// Epoch-based reclamation for the znode store (the design and its memory-ordering argument are at the top of
// ukeeper/storage/tree/data_tree.h). One writer retires objects and frees them once no reader can hold them;
// readers announce the epoch they entered in one of kSlots cache-line-sized slots.
// Thread-safety: claim/release/enter/exit from any thread (a slot used by one thread at a time); everything
// else on the writer thread only.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace uk::tree_detail {

using Deleter = void (*)(void*);

class EpochDomain {
 public:
  static constexpr size_t kSlots = 128;

  EpochDomain() = default;
  ~EpochDomain() { free_all(); }
  EpochDomain(const EpochDomain&) = delete;
  EpochDomain& operator=(const EpochDomain&) = delete;

  // Any thread. claim() aborts when every slot is taken (a configuration error: kSlots readers per tree).
  size_t claim();
  void release(size_t slot);
  size_t claimed_count() const { return claimed_.load(std::memory_order_acquire); }

  // Any thread, on its own slot. The caller loads the root after enter() (seq_cst, see data_tree.h).
  void enter(size_t slot) {
    const uint64_t e = epoch_.load(std::memory_order_acquire);
    slots_[slot].epoch.store(e, std::memory_order_seq_cst);
  }
  void exit(size_t slot) { slots_[slot].epoch.store(0, std::memory_order_release); }

  // Writer only. `bytes` feeds retired_bytes().
  void retire(void* p, Deleter del, int64_t bytes) {
    current_.push_back(Retired{p, del});
    current_bytes_ += bytes;
  }
  // Writer only, right after the seq_cst store that unlinked everything retired so far: seals those objects
  // under the current epoch G, moves the epoch to G+1 and frees every batch no active reader can reach.
  void advance_and_reclaim();
  int64_t retired_bytes() const { return current_bytes_ + sealed_bytes_; }
  // Frees everything retired. Only when no reader is inside a guard (teardown).
  void free_all();

 private:
  struct alignas(64) Slot {
    std::atomic<uint64_t> epoch{0};  // 0: outside any guard; else the epoch read on entry
    std::atomic<bool> claimed{false};
  };
  struct Retired {
    void* p;
    Deleter del;
  };
  struct Batch {
    uint64_t epoch;
    int64_t bytes;
    std::vector<Retired> items;
  };
  // The smallest epoch an active reader entered with; UINT64_MAX when none is inside.
  uint64_t oldest_active_epoch() const;
  static void free_batch(std::vector<Retired>& items);

  std::atomic<uint64_t> epoch_{1};
  std::atomic<size_t> slots_used_{0};  // high-water mark: slots [0, slots_used_) may be claimed
  std::atomic<size_t> claimed_{0};
  std::array<Slot, kSlots> slots_;
  std::vector<Retired> current_;
  int64_t current_bytes_ = 0;
  std::vector<Batch> sealed_;  // oldest first; at most one per write, and only while a reader lags
  int64_t sealed_bytes_ = 0;
};

}  // namespace uk::tree_detail
