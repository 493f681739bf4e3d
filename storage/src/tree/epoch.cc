#include "epoch.h"

#include <cstdio>
#include <cstdlib>
#include <limits>

namespace uk::tree_detail {

size_t EpochDomain::claim() {
  for (size_t i = 0; i < kSlots; ++i) {
    bool expected = false;
    if (slots_[i].claimed.load(std::memory_order_relaxed)) continue;
    if (!slots_[i].claimed.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) continue;
    // Raise the high-water mark before the slot can be entered: the writer's scan (seq_cst) then either
    // includes this slot or precedes the reader's first root load in the total order.
    size_t used = slots_used_.load(std::memory_order_seq_cst);
    while (used < i + 1 && !slots_used_.compare_exchange_weak(used, i + 1, std::memory_order_seq_cst)) {
    }
    claimed_.fetch_add(1, std::memory_order_acq_rel);
    return i;
  }
  std::fprintf(stderr, "ukeeper: more than %zu reader threads registered with one data tree\n", kSlots);
  std::abort();
}

void EpochDomain::release(size_t slot) {
  if (slots_[slot].epoch.load(std::memory_order_relaxed) != 0) {
    std::fprintf(stderr, "ukeeper: a tree reader was released inside a read guard\n");
    std::abort();
  }
  claimed_.fetch_sub(1, std::memory_order_acq_rel);
  slots_[slot].claimed.store(false, std::memory_order_release);
}

uint64_t EpochDomain::oldest_active_epoch() const {
  uint64_t oldest = std::numeric_limits<uint64_t>::max();
  const size_t used = slots_used_.load(std::memory_order_seq_cst);
  for (size_t i = 0; i < used; ++i) {
    const uint64_t e = slots_[i].epoch.load(std::memory_order_seq_cst);
    if (e != 0 && e < oldest) oldest = e;
  }
  return oldest;
}

void EpochDomain::free_batch(std::vector<Retired>& items) {
  for (const Retired& r : items) r.del(r.p);
  items.clear();
}

void EpochDomain::advance_and_reclaim() {
  if (current_.empty() && sealed_.empty()) return;
  const uint64_t g = epoch_.load(std::memory_order_relaxed);  // only this thread stores it
  if (!current_.empty()) {
    sealed_.push_back(Batch{g, current_bytes_, std::move(current_)});
    sealed_bytes_ += current_bytes_;
    current_ = {};
    current_bytes_ = 0;
  }
  epoch_.store(g + 1, std::memory_order_seq_cst);
  // Batch B is safe once every active reader entered at an epoch > B.epoch (it read the store above or a later
  // one, so it sees the publication that unlinked B). Readers outside a guard hold nothing.
  const uint64_t oldest = oldest_active_epoch();
  size_t done = 0;
  while (done < sealed_.size() && sealed_[done].epoch < oldest) {
    sealed_bytes_ -= sealed_[done].bytes;
    free_batch(sealed_[done].items);
    done++;
  }
  if (done == 0) return;
  // Keep the first freed batch's vector as the next current_ (its capacity), drop the rest.
  if (current_.capacity() == 0) current_.swap(sealed_[0].items);
  sealed_.erase(sealed_.begin(), sealed_.begin() + static_cast<std::ptrdiff_t>(done));
}

void EpochDomain::free_all() {
  for (Batch& b : sealed_) free_batch(b.items);
  sealed_.clear();
  sealed_bytes_ = 0;
  free_batch(current_);
  current_bytes_ = 0;
}

}  // namespace uk::tree_detail
