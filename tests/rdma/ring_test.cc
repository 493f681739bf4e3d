// The RDMA ring's pure logic (dataplane/rdma/ring.h): record format, batching into flush plans, wrap-around,
// fragmentation of large messages, credit exhaustion and return, and the reader's rejection of garbage. A "wire"
// copies each flush plan's spans from the writer's staging ring into the reader's ring at the same offsets, as
// the RDMA WRITEs do, and hands the reader the immediate.
#include <gtest/gtest.h>

#include <cstring>
#include <deque>
#include <random>
#include <string>
#include <vector>

#include "ukeeper/dataplane/rdma/ring.h"

namespace uk::rdma {
namespace {

std::string pattern(size_t size, uint32_t seed) {
  std::string s(size, '\0');
  for (size_t i = 0; i < size; ++i) s[i] = static_cast<char>((seed * 131 + i * 7 + (i >> 8)) & 0xff);
  return s;
}

// One direction of a channel: staging ring, receive ring, writer, reader, and the bookkeeping of a wire.
struct Link {
  explicit Link(uint32_t ring_bytes, uint64_t max_message = 1u << 30)
      : staging(ring_bytes, 'S'), inbox(ring_bytes, 'I'), writer(staging.data(), ring_bytes),
        reader(inbox.data(), ring_bytes, max_message) {}

  // Posts everything appended; returns the plan (its total is the immediate).
  FlushPlan flush(bool more_waiting = false) {
    FlushPlan plan = writer.plan_flush(more_waiting);
    for (int i = 0; i < plan.count; ++i) {
      const WriteSpan& s = plan.spans[i];
      EXPECT_LE(uint64_t{s.offset} + s.bytes, staging.size());
      std::memcpy(inbox.data() + s.offset, staging.data() + s.offset, s.bytes);
    }
    writer.mark_posted(plan);
    if (plan.total_bytes > 0) {
      EXPECT_TRUE(reader.on_write(data_imm(plan.total_bytes)));
    }
    ++flushes;
    return plan;
  }

  // Delivers every complete message; returns them.
  std::vector<std::string> drain() {
    std::vector<std::string> got;
    std::string m;
    for (;;) {
      RingReader::Result r = reader.next(m);
      if (r == RingReader::Result::kEmpty) break;
      EXPECT_EQ(r, RingReader::Result::kMessage) << reader.error();
      if (r != RingReader::Result::kMessage) break;
      got.push_back(m);
    }
    return got;
  }

  // Returns credit if the reader's policy says so, through the immediate encoding.
  bool return_credit_if_due() {
    if (!reader.credit_due()) return false;
    uint32_t imm = credit_imm(reader.take_credit());
    uint64_t consumed = 0;
    EXPECT_TRUE(consumed_from_credit_imm(imm, writer.consumed_known(), writer.posted(), consumed));
    EXPECT_TRUE(writer.on_credit(consumed));
    return true;
  }

  std::string staging;
  std::string inbox;
  RingWriter writer;
  RingReader reader;
  int flushes = 0;
};

TEST(RdmaRingFormat, HeaderRoundTripsAndCheckCatchesCorruption) {
  RecordHeader h{7, 100, 5000, RecordKind::kMiddle, kFlagCreditRequest};
  char buf[kRecordHeaderBytes];
  encode_record_header(h, buf);
  RecordHeader back;
  ASSERT_TRUE(decode_record_header(buf, back));
  EXPECT_EQ(back.seq, 7u);
  EXPECT_EQ(back.payload_bytes, 100u);
  EXPECT_EQ(back.message_bytes, 5000u);
  EXPECT_EQ(back.kind, RecordKind::kMiddle);
  EXPECT_EQ(back.flags, kFlagCreditRequest);
  for (size_t i = 0; i < kRecordHeaderBytes; ++i) {
    char bad[kRecordHeaderBytes];
    std::memcpy(bad, buf, sizeof bad);
    bad[i] = static_cast<char>(bad[i] ^ 0x10);
    EXPECT_FALSE(decode_record_header(bad, back)) << "flipped byte " << i;
  }
}

TEST(RdmaRingFormat, RingSizesAndRecordLimits) {
  EXPECT_TRUE(valid_ring_bytes(4096));
  EXPECT_TRUE(valid_ring_bytes(1u << 20));
  EXPECT_FALSE(valid_ring_bytes(4095));
  EXPECT_FALSE(valid_ring_bytes(2048));
  EXPECT_FALSE(valid_ring_bytes(uint64_t{1} << 31));
  // A record plus the pad before it never needs half the ring.
  for (uint32_t ring : {4096u, 4160u, 65536u, 65552u, 1u << 20}) {
    uint32_t record = align_record(kRecordHeaderBytes + uint64_t{max_record_payload(ring)});
    EXPECT_LE(record, ring / 4) << ring;
  }
}

TEST(RdmaRingFormat, CreditImmediateRoundTripsAcrossCounterWrap) {
  // The immediate carries 31 bits of consumed/16: values beyond 2^35 bytes must still come back exactly.
  const uint64_t base = (uint64_t{1} << 35) * 3 - 4096;
  for (uint64_t delta : {uint64_t{0}, uint64_t{16}, uint64_t{4096}, uint64_t{8192}, uint64_t{65536}}) {
    uint64_t consumed = 0;
    ASSERT_TRUE(consumed_from_credit_imm(credit_imm(base + delta), base, base + 65536, consumed));
    EXPECT_EQ(consumed, base + delta);
  }
  uint64_t out = 0;
  EXPECT_FALSE(consumed_from_credit_imm(credit_imm(base + 65536 + 16), base, base + 65536, out));  // unposted
  EXPECT_FALSE(consumed_from_credit_imm(data_imm(4096), 0, 8192, out));                           // no credit bit
}

TEST(RdmaRing, SmallMessagesBatchIntoOneWriteAndArriveInOrder) {
  Link link(64 * 1024);
  std::vector<std::string> sent;
  for (uint32_t i = 0; i < 40; ++i) {
    sent.push_back(pattern(1 + i * 3, i));
    size_t offset = 0;
    ASSERT_TRUE(link.writer.append(sent.back(), offset));
    EXPECT_EQ(offset, sent.back().size());
  }
  FlushPlan plan = link.flush();
  EXPECT_EQ(plan.count, 1);  // one RDMA WRITE WITH IMMEDIATE for the whole batch
  EXPECT_EQ(plan.total_bytes, link.writer.stats().bytes);
  EXPECT_EQ(link.drain(), sent);
  EXPECT_EQ(link.reader.stats().messages, 40u);
  EXPECT_EQ(link.writer.stats().fragments, 0u);
}

TEST(RdmaRing, EmptyMessageIsOneRecord) {
  Link link(4096);
  size_t offset = 0;
  ASSERT_TRUE(link.writer.append("", offset));
  link.flush();
  std::vector<std::string> got = link.drain();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].empty());
}

TEST(RdmaRing, WrapAroundPadsToTheEndAndSplitsTheFlush) {
  Link link(4096);
  // 200-byte messages are 224-byte records: 18 fill 4032 bytes; the 19th does not fit the last 64 bytes.
  std::vector<std::string> sent;
  for (uint32_t i = 0; i < 18; ++i) {
    sent.push_back(pattern(200, i));
    size_t offset = 0;
    ASSERT_TRUE(link.writer.append(sent.back(), offset));
  }
  link.flush();
  EXPECT_EQ(link.drain(), sent);
  ASSERT_TRUE(link.return_credit_if_due());  // more than a quarter consumed
  EXPECT_EQ(link.writer.free_bytes(), 4096u);
  sent.clear();
  for (uint32_t i = 0; i < 3; ++i) {
    sent.push_back(pattern(200, 100 + i));
    size_t offset = 0;
    ASSERT_TRUE(link.writer.append(sent.back(), offset));
  }
  EXPECT_EQ(link.writer.stats().wraps, 1u);
  FlushPlan plan = link.flush();
  ASSERT_EQ(plan.count, 2);  // the pad up to the ring end, then from offset 0
  EXPECT_EQ(plan.spans[0].offset, 18u * 224);
  EXPECT_EQ(plan.spans[0].offset + plan.spans[0].bytes, 4096u);
  EXPECT_EQ(plan.spans[1].offset, 0u);
  EXPECT_EQ(plan.spans[1].bytes, 3u * 224);
  EXPECT_EQ(link.drain(), sent);
}

TEST(RdmaRing, LargeMessagesAreFragmentedAndReassembledBetweenSmallOnes) {
  Link link(16 * 1024);
  std::deque<std::string> queue = {pattern(10, 1), pattern(100000, 2), pattern(5, 3),
                                   pattern(max_record_payload(16 * 1024), 4),  // exactly one record
                                   pattern(max_record_payload(16 * 1024) + 1, 5), pattern(0, 6)};
  std::vector<std::string> sent(queue.begin(), queue.end());
  std::vector<std::string> got;
  size_t offset = 0;
  for (int rounds = 0; !queue.empty() && rounds < 1000; ++rounds) {
    while (!queue.empty() && link.writer.append(queue.front(), offset)) {
      queue.pop_front();
      offset = 0;
    }
    link.flush(!queue.empty());
    for (std::string& m : link.drain()) got.push_back(std::move(m));
    link.return_credit_if_due();
  }
  for (std::string& m : link.drain()) got.push_back(std::move(m));
  ASSERT_TRUE(queue.empty());
  EXPECT_EQ(got, sent);
  EXPECT_GT(link.writer.stats().fragments, 20u);  // 100000 bytes in records of at most 4080
  EXPECT_GT(link.writer.stats().wraps, 0u);
}

TEST(RdmaRing, CreditExhaustionStopsTheWriterUntilCreditReturns) {
  Link link(8192);
  std::string m = pattern(1000, 9);  // 1024-byte records
  int appended = 0;
  size_t offset = 0;
  while (link.writer.append(m, offset)) {
    offset = 0;
    ++appended;
  }
  EXPECT_EQ(appended, 8);  // the ring holds exactly eight
  EXPECT_EQ(offset, 0u);   // the ninth did not start
  EXPECT_EQ(link.writer.free_bytes(), 0u);
  link.flush(/*more_waiting=*/true);
  // Nothing consumed yet: still no room, and no credit to return.
  EXPECT_FALSE(link.writer.append(m, offset));
  EXPECT_FALSE(link.reader.credit_due());
  std::vector<std::string> got = link.drain();
  EXPECT_EQ(got.size(), 8u);
  // The last record of the flush asked for credit, so it is due although the receiver would otherwise wait.
  ASSERT_TRUE(link.reader.credit_due());
  ASSERT_TRUE(link.return_credit_if_due());
  EXPECT_EQ(link.writer.free_bytes(), 8192u);
  EXPECT_TRUE(link.writer.append(m, offset));
}

TEST(RdmaRing, ReceiverReturnsCreditLazilyWithoutARequest) {
  Link link(64 * 1024);
  std::string m = pattern(100, 1);
  size_t offset = 0;
  ASSERT_TRUE(link.writer.append(m, offset));
  link.flush();
  link.drain();
  EXPECT_FALSE(link.reader.credit_due());  // plenty of room left: no write spent on credit yet
  for (int i = 0; i < 200; ++i) {
    offset = 0;
    ASSERT_TRUE(link.writer.append(m, offset));
  }
  link.flush();
  link.drain();
  EXPECT_TRUE(link.reader.credit_due());  // a quarter of the ring consumed
}

TEST(RdmaRing, WriterRejectsImpossibleCredit) {
  Link link(4096);
  size_t offset = 0;
  std::string m = pattern(100, 1);
  ASSERT_TRUE(link.writer.append(m, offset));
  EXPECT_FALSE(link.writer.on_credit(16));  // nothing posted yet
  link.flush();
  EXPECT_TRUE(link.writer.on_credit(128));
  EXPECT_FALSE(link.writer.on_credit(112));  // backwards
  EXPECT_FALSE(link.writer.on_credit(4096));
}

// Many messages of random sizes (empty to several rings), random batching, and a receiver that returns credit
// only when its policy says so: everything arrives, in order, intact — and the writer never waits forever.
TEST(RdmaRing, RandomTrafficKeepsOrderAndNeverDeadlocks) {
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    std::mt19937 rng(seed);
    uint32_t ring = 4096u << (seed % 5);
    Link link(ring);
    std::deque<std::string> queue;
    std::vector<std::string> sent;
    for (int i = 0; i < 300; ++i) {
      uint32_t kind = rng() % 10;
      size_t size = kind < 6 ? rng() % 64 : kind < 9 ? rng() % 2000 : rng() % (3 * ring);
      sent.push_back(pattern(size, static_cast<uint32_t>(i) + seed * 1000));
      queue.push_back(sent.back());
    }
    std::vector<std::string> got;
    size_t offset = 0;
    int idle_rounds = 0;
    while ((!queue.empty() || got.size() < sent.size()) && idle_rounds < 64) {
      uint64_t before = link.writer.head() + link.reader.consumed();
      int burst = 1 + static_cast<int>(rng() % 8);
      for (int b = 0; b < burst && !queue.empty() && link.writer.append(queue.front(), offset); ++b) {
        queue.pop_front();
        offset = 0;
      }
      if (rng() % 3 != 0 || !queue.empty()) link.flush(!queue.empty());
      if (rng() % 2 == 0) {
        for (std::string& m : link.drain()) got.push_back(std::move(m));
        link.return_credit_if_due();
      }
      idle_rounds = link.writer.head() + link.reader.consumed() == before ? idle_rounds + 1 : 0;
    }
    link.flush();
    for (std::string& m : link.drain()) got.push_back(std::move(m));
    ASSERT_TRUE(queue.empty()) << "seed " << seed << ": the writer stalled for good";
    ASSERT_EQ(got.size(), sent.size()) << "seed " << seed;
    for (size_t i = 0; i < sent.size(); ++i) ASSERT_EQ(got[i], sent[i]) << "seed " << seed << " message " << i;
  }
}

// --- The reader refuses garbage: a peer can never make it read outside what was written, or deliver junk. ---

struct Garbage : ::testing::Test {
  Garbage() : link(4096) {}
  void write_valid(const std::string& m) {
    size_t offset = 0;
    ASSERT_TRUE(link.writer.append(m, offset));
    link.flush();
  }
  std::string corrupt_reason() {
    std::string m;
    EXPECT_EQ(link.reader.next(m), RingReader::Result::kCorrupt);
    return link.reader.error();
  }
  void rewrite_header(uint32_t at, const RecordHeader& h) { encode_record_header(h, link.inbox.data() + at); }
  Link link;
};

TEST_F(Garbage, BadChecksum) {
  write_valid(pattern(50, 1));
  link.inbox[3] = static_cast<char>(link.inbox[3] ^ 1);
  EXPECT_NE(corrupt_reason().find("checksum"), std::string::npos);
  std::string m;
  EXPECT_EQ(link.reader.next(m), RingReader::Result::kCorrupt);  // stays dead until reset
}

TEST_F(Garbage, BadSequence) {
  write_valid(pattern(50, 1));
  rewrite_header(0, RecordHeader{5, 50, 50, RecordKind::kWhole, 0});
  EXPECT_NE(corrupt_reason().find("sequence"), std::string::npos);
}

TEST_F(Garbage, BadLength) {
  write_valid(pattern(50, 1));
  rewrite_header(0, RecordHeader{1, 60000, 60000, RecordKind::kWhole, 0});
  EXPECT_NE(corrupt_reason().find("length"), std::string::npos);
}

TEST_F(Garbage, RecordPastTheWrittenBytes) {
  write_valid(pattern(50, 1));  // 80 bytes written
  rewrite_header(0, RecordHeader{1, 500, 500, RecordKind::kWhole, 0});
  EXPECT_NE(corrupt_reason().find("past the written"), std::string::npos);
}

TEST_F(Garbage, FragmentOutOfPlace) {
  write_valid(pattern(50, 1));
  rewrite_header(0, RecordHeader{1, 50, 100, RecordKind::kLast, 0});
  EXPECT_NE(corrupt_reason().find("out of place"), std::string::npos);
}

TEST_F(Garbage, HugeMessageAnnouncement) {
  Link small(4096, /*max_message=*/1000);
  size_t offset = 0;
  std::string big = pattern(5000, 1);
  ASSERT_TRUE(small.writer.append(big, offset) || offset > 0);
  small.flush(true);
  std::string m;
  EXPECT_EQ(small.reader.next(m), RingReader::Result::kCorrupt);
  EXPECT_NE(small.reader.error().find("message length"), std::string::npos);
}

TEST_F(Garbage, UnknownKindAndFlags) {
  write_valid(pattern(50, 1));
  rewrite_header(0, RecordHeader{1, 50, 50, static_cast<RecordKind>(9), 0});
  EXPECT_NE(corrupt_reason().find("kind"), std::string::npos);
  link.reader.reset();
  link.writer.reset();
  write_valid(pattern(50, 1));
  rewrite_header(0, RecordHeader{1, 50, 50, RecordKind::kWhole, 0x80});
  EXPECT_NE(corrupt_reason().find("flags"), std::string::npos);
}

TEST_F(Garbage, ImmediatesBeyondTheRing) {
  EXPECT_FALSE(link.reader.on_write(8192));  // more than the ring
  EXPECT_FALSE(link.reader.on_write(40));    // not whole records
  EXPECT_FALSE(link.reader.on_write(0));
  EXPECT_TRUE(link.reader.on_write(4096));
  EXPECT_FALSE(link.reader.on_write(16));  // nothing consumed: no room
}

}  // namespace
}  // namespace uk::rdma
