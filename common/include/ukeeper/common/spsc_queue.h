// A bounded single-producer/single-consumer queue: the hand-off between the server's threads (client I/O threads
// and the pipeline thread), one queue per direction per pair, so neither side ever takes a lock.
//
// A ring of 2^k slots with a head (consumer) and a tail (producer) index, each on its own cache line, each side
// keeping a private copy of the other's index and rereading it only when the ring looks full (producer) or empty
// (consumer): in steady state a push or pop touches one shared line. try_push never waits; a full ring says so and
// the producer keeps the item (it applies backpressure or holds it for its next turn).
// Thread-safety: one producer thread calls try_push/full, one consumer thread calls try_pop/empty; the two may be
// different threads at the same time. Neither blocks; waking a sleeping consumer is the caller's business.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <utility>

namespace uk {

template <class T>
class SpscQueue {
 public:
  // Rounds `capacity` up to a power of two (at least 2).
  explicit SpscQueue(size_t capacity) {
    size_t n = 2;
    while (n < capacity) n <<= 1;
    mask_ = n - 1;
    slots_ = std::make_unique<T[]>(n);
  }
  SpscQueue(const SpscQueue&) = delete;
  SpscQueue& operator=(const SpscQueue&) = delete;

  size_t capacity() const { return mask_ + 1; }

  // Producer. Moves `item` in and returns true, or returns false (item untouched) when the ring is full.
  bool try_push(T& item) {
    uint64_t tail = tail_.value.load(std::memory_order_relaxed);
    if (tail - producer_.cached_head > mask_) {
      producer_.cached_head = head_.value.load(std::memory_order_acquire);
      if (tail - producer_.cached_head > mask_) return false;
    }
    slots_[tail & mask_] = std::move(item);
    tail_.value.store(tail + 1, std::memory_order_release);
    return true;
  }

  // Consumer. Moves the oldest item out, or returns false when there is none.
  bool try_pop(T& out) {
    uint64_t head = head_.value.load(std::memory_order_relaxed);
    if (head == consumer_.cached_tail) {
      consumer_.cached_tail = tail_.value.load(std::memory_order_acquire);
      if (head == consumer_.cached_tail) return false;
    }
    out = std::move(slots_[head & mask_]);
    slots_[head & mask_] = T();  // drop what the slot owned now rather than when it is next overwritten
    head_.value.store(head + 1, std::memory_order_release);
    return true;
  }

  // Consumer: true when nothing is waiting (one acquire load when the private copy says empty).
  bool empty() {
    uint64_t head = head_.value.load(std::memory_order_relaxed);
    if (head != consumer_.cached_tail) return false;
    consumer_.cached_tail = tail_.value.load(std::memory_order_acquire);
    return head == consumer_.cached_tail;
  }

 private:
  static constexpr size_t kLine = 64;
  struct alignas(kLine) Index {
    std::atomic<uint64_t> value{0};
  };
  struct alignas(kLine) ProducerSide {
    uint64_t cached_head = 0;
  };
  struct alignas(kLine) ConsumerSide {
    uint64_t cached_tail = 0;
  };

  Index head_;             // next slot to pop; written by the consumer
  Index tail_;             // next slot to push; written by the producer
  ProducerSide producer_;  // the producer's last view of head_
  ConsumerSide consumer_;  // the consumer's last view of tail_
  size_t mask_ = 0;
  std::unique_ptr<T[]> slots_;
};

}  // namespace uk
