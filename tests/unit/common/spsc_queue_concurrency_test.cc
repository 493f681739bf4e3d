// SpscQueue: order, capacity and backpressure on one thread, then one producer and one consumer thread passing
// owned objects through a small ring at full speed (run under ThreadSanitizer by the tsan preset, and under
// AddressSanitizer by the debug preset: a lost, duplicated, reordered or torn item fails here).
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>

#include "ukeeper/common/spsc_queue.h"

namespace uk {
namespace {

TEST(SpscQueue, FifoAndFull) {
  SpscQueue<std::string> q(3);  // rounds up to 4
  EXPECT_EQ(q.capacity(), 4u);
  EXPECT_TRUE(q.empty());
  for (int i = 0; i < 4; i++) {
    std::string s = "item" + std::to_string(i);
    ASSERT_TRUE(q.try_push(s));
    EXPECT_TRUE(s.empty() || s != "item" + std::to_string(i));  // moved from
  }
  std::string extra = "extra";
  EXPECT_FALSE(q.try_push(extra));
  EXPECT_EQ(extra, "extra");  // a refused push leaves the item with the producer
  std::string out;
  ASSERT_TRUE(q.try_pop(out));
  EXPECT_EQ(out, "item0");
  EXPECT_TRUE(q.try_push(extra));  // one slot free again
  for (const char* want : {"item1", "item2", "item3", "extra"}) {
    ASSERT_TRUE(q.try_pop(out));
    EXPECT_EQ(out, want);
  }
  EXPECT_FALSE(q.try_pop(out));
  EXPECT_TRUE(q.empty());
}

TEST(SpscQueue, PopReleasesWhatTheSlotOwned) {
  SpscQueue<std::shared_ptr<int>> q(2);
  auto p = std::make_shared<int>(7);
  std::weak_ptr<int> w = p;
  ASSERT_TRUE(q.try_push(p));
  std::shared_ptr<int> out;
  ASSERT_TRUE(q.try_pop(out));
  out.reset();
  EXPECT_TRUE(w.expired());  // not kept alive by the slot until it is reused
}

TEST(SpscQueue, TwoThreadsPassEveryItemOnceInOrder) {
  constexpr uint64_t kItems = 400000;
  SpscQueue<std::unique_ptr<uint64_t>> q(64);  // small: the producer meets a full ring often
  std::thread producer([&q] {
    for (uint64_t i = 0; i < kItems; i++) {
      auto item = std::make_unique<uint64_t>(i);
      while (!q.try_push(item)) std::this_thread::yield();
    }
  });
  uint64_t next = 0;
  uint64_t sum = 0;
  std::unique_ptr<uint64_t> out;
  while (next < kItems) {
    if (!q.try_pop(out)) {
      std::this_thread::yield();
      continue;
    }
    ASSERT_NE(out, nullptr);
    ASSERT_EQ(*out, next) << "reordered, lost or duplicated";
    sum += *out;
    next++;
  }
  producer.join();
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(sum, kItems * (kItems - 1) / 2);
}

}  // namespace
}  // namespace uk
