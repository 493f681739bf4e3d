// Overlapping batch writes (storage/src/wal/wal_datapath.cc, "Overlapping batches") and what they ask of the
// format (version 2: padding records, each record's `back`) and of the recovery scan (records that overtook a
// lost write are a torn tail, records written after it was durable make it corruption).
//
// The scan decisions are tested on segments built by hand, batch by batch, with the `back` each batch would carry:
// the out-of-order landings a crash can leave are not something a real device can be made to produce on demand.
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "ukeeper/common/crc32c.h"
#include "ukeeper/storage/wal/format.h"
#include "ukeeper/storage/wal/scan.h"
#include "wal_test_util.h"

namespace uk {
namespace {

using namespace waltest;

// ---------------------------------------------------------------------------------------------------------------
// Format version 2

TEST(WalFormatV2, BackIsCoveredByTheCrcAndPadsCheckLikeRecords) {
  std::vector<uint8_t> rec(wal::record_bytes(5));
  wal::encode_record(9, "hello", rec.data(), 4242);
  wal::RecordView r;
  ASSERT_EQ(wal::check_record(rec.data(), rec.size(), r), wal::RecordCheck::kOk);
  EXPECT_EQ(r.back, 4242u);
  EXPECT_FALSE(r.pad);
  EXPECT_EQ(r.zxid, 9);
  rec[20] ^= 0x01;  // the back field
  EXPECT_EQ(wal::check_record(rec.data(), rec.size(), r), wal::RecordCheck::kBadCrc);

  // Sealing in two steps gives the same bytes as encode_record.
  std::vector<uint8_t> two(rec.size());
  wal::encode_record_unsealed(9, "hello", two.data());
  wal::seal_record(two.data(), 4242);
  rec[20] ^= 0x01;
  EXPECT_EQ(two, rec);

  std::vector<uint8_t> pad(100, 0xEE);
  wal::encode_pad(pad.size(), pad.data(), 7);
  ASSERT_EQ(wal::check_record(pad.data(), pad.size(), r), wal::RecordCheck::kOk);
  EXPECT_TRUE(r.pad);
  EXPECT_EQ(r.back, 7u);
  EXPECT_EQ(wal::record_bytes(r.payload_bytes), pad.size());
  pad[60] = 1;
  EXPECT_EQ(wal::check_record(pad.data(), pad.size(), r), wal::RecordCheck::kBadCrc);
  // A pad carries no zxid (found by fuzz_wal: one with a zxid and a matching crc was accepted).
  wal::encode_pad(pad.size(), pad.data(), 7);
  pad[15] = 0x4c;
  EXPECT_NE(wal::check_record(pad.data(), pad.size(), r), wal::RecordCheck::kOk);
}

// A version 1 record: the old magic, the reserved field zero and outside the crc.
std::vector<uint8_t> v1_record(Zxid zxid, const std::string& payload) {
  std::vector<uint8_t> out(wal::record_bytes(payload.size()), 0);
  const uint32_t magic = wal::kRecordMagicV1;
  const auto len = static_cast<uint32_t>(payload.size());
  const auto z = static_cast<uint64_t>(zxid);
  std::memcpy(out.data(), &magic, 4);
  std::memcpy(out.data() + 4, &len, 4);
  std::memcpy(out.data() + 8, &z, 8);
  std::memcpy(out.data() + 24, payload.data(), payload.size());
  const uint32_t crc = crc32c_extend(crc32c(out.data() + 4, 12), payload.data(), payload.size());
  std::memcpy(out.data() + 16, &crc, 4);
  return out;
}

TEST(WalFormatV2, Version1RecordsAndHeadersStillRead) {
  std::vector<uint8_t> rec = v1_record(5, "old bytes");
  wal::RecordView r;
  ASSERT_EQ(wal::check_record(rec.data(), rec.size(), r), wal::RecordCheck::kOk);
  EXPECT_EQ(r.zxid, 5);
  EXPECT_EQ(r.back, 0u);
  EXPECT_EQ(r.payload, "old bytes");
  rec[21] = 1;
  EXPECT_EQ(wal::check_record(rec.data(), rec.size(), r), wal::RecordCheck::kBadReserved);

  std::vector<uint8_t> block(wal::kSegmentHeaderBlockBytes);
  wal::SegmentHeader h;
  h.first_zxid = 5;
  h.segment_bytes = 1 << 20;
  for (uint32_t version : {1u, 2u, 3u}) {
    h.version = version;
    wal::encode_segment_header(h, block.data());
    wal::SegmentHeader d;
    std::string why;
    EXPECT_EQ(wal::decode_segment_header(block.data(), block.size(), d, why), version <= wal::kFormatVersion)
        << version;
    if (version > wal::kFormatVersion) {
      EXPECT_NE(why.find("unsupported segment format version 3"), std::string::npos);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// A segment built batch by batch

class SegmentBuilder {
 public:
  explicit SegmentBuilder(uint64_t size = 256 * 1024) : bytes_(size, 0) {
    wal::SegmentHeader h;
    h.first_zxid = 1;
    h.segment_bytes = size;
    encode_segment_header(h, bytes_.data());
  }
  // A batch of records [from, to] at the current end, each with `back` to `durable_end`; then a pad to the next
  // block boundary when `pad` (as a busy Wal does). Returns the batch's first offset.
  uint64_t batch(Zxid from, Zxid to, uint64_t durable_end, bool pad) {
    const uint64_t start = end_;
    for (Zxid z = from; z <= to; ++z) {
      const std::string p = payload_for(z, 3000);
      wal::encode_record(z, p, bytes_.data() + end_, static_cast<uint32_t>(end_ - durable_end));
      offsets_.push_back(end_);
      end_ += wal::record_bytes(p.size());
    }
    if (pad && end_ % wal::kBlockBytes != 0) {
      uint64_t n = (end_ + wal::kBlockBytes - 1) / wal::kBlockBytes * wal::kBlockBytes - end_;
      if (n < wal::kRecordHeaderBytes) n += wal::kBlockBytes;
      wal::encode_pad(n, bytes_.data() + end_, static_cast<uint32_t>(end_ - durable_end));
      end_ += n;
    }
    return start;
  }
  uint64_t end() const { return end_; }
  uint64_t offset_of(Zxid z) const { return offsets_.at(static_cast<size_t>(z - 1)); }
  std::vector<uint8_t>& bytes() { return bytes_; }
  void zero(uint64_t from, uint64_t to) {
    std::fill(bytes_.begin() + static_cast<long>(from), bytes_.begin() + static_cast<long>(to), 0);
  }

 private:
  std::vector<uint8_t> bytes_;
  uint64_t end_ = wal::kSegmentHeaderBlockBytes;
  std::vector<uint64_t> offsets_;
};

struct SegScan {
  wal::ScanResult result;
  Records replayed;
};

SegScan scan_one(std::vector<uint8_t>& bytes, bool is_last) {
  SegScan s;
  wal::ScanReplayFn fn = [&](Zxid z, std::string_view p) { s.replayed.emplace_back(z, std::string(p)); };
  wal::scan_segment("mem/" + wal::segment_file_name(1), bytes.data(), bytes.size(), is_last, &fn, s.result);
  return s;
}

// Records 1..5 durable; batch A (6..8) and batch B (9..10) went out together, B while A was in flight.
struct TwoInFlight {
  SegmentBuilder seg;
  uint64_t a = 0, b = 0, a_end = 0;
  explicit TwoInFlight(bool b_written_after_a_durable = false) {
    seg.batch(1, 5, wal::kSegmentHeaderBlockBytes, true);
    const uint64_t durable = seg.end();
    a = seg.batch(6, 8, durable, true);
    a_end = seg.end();
    b = seg.batch(9, 10, b_written_after_a_durable ? a_end : durable, true);
  }
};

TEST(WalOverlapScan, PadsAreSkippedAndCounted) {
  TwoInFlight t;
  const SegScan s = scan_one(t.seg.bytes(), true);
  ASSERT_EQ(s.result.status, wal::ScanStatus::kClean) << s.result.error;
  EXPECT_EQ(s.replayed, model(1, 10, 3000));
  ASSERT_EQ(s.result.segments.size(), 1u);
  EXPECT_EQ(s.result.segments[0].data_end, t.seg.end());
  EXPECT_GT(s.result.segments[0].pad_bytes, 0u);
  EXPECT_EQ(t.b % wal::kBlockBytes, 0u) << "a busy batch starts on a fresh block";
}

TEST(WalOverlapScan, LostBatchOvertakenByALaterOneIsATornTail) {
  TwoInFlight t;
  t.seg.zero(t.a, t.a_end);  // A never landed, B did
  const SegScan s = scan_one(t.seg.bytes(), true);
  ASSERT_EQ(s.result.status, wal::ScanStatus::kTornTail) << s.result.error;
  EXPECT_EQ(s.replayed, model(1, 5, 3000));
  EXPECT_EQ(s.result.torn_offset, t.a);
  const uint64_t b_data_end = t.seg.offset_of(10) + wal::record_bytes(payload_for(10, 3000).size());
  // B's records are cut too (and its pad's header: the zeros after it need no writing).
  EXPECT_GE(s.result.torn_end, b_data_end);
  EXPECT_LE(s.result.torn_end, t.seg.end());
  EXPECT_NE(s.result.torn_reason.find("unacknowledged records"), std::string::npos) << s.result.torn_reason;
  EXPECT_NE(s.result.torn_reason.find(std::to_string(t.b)), std::string::npos) << s.result.torn_reason;

  // Part of A landed (record 6 and the start of 7): a torn record, then B.
  TwoInFlight part;
  part.seg.zero(part.seg.offset_of(7) + 10, part.a_end);
  const SegScan h = scan_one(part.seg.bytes(), true);
  ASSERT_EQ(h.result.status, wal::ScanStatus::kTornTail) << h.result.error;
  EXPECT_EQ(h.replayed, model(1, 6, 3000));
  EXPECT_EQ(h.result.torn_offset, part.seg.offset_of(7));
  EXPECT_EQ(h.result.torn_end, s.result.torn_end);

  // The same bytes in a segment that is not the last: corruption.
  const SegScan c = scan_one(t.seg.bytes(), false);
  EXPECT_EQ(c.result.status, wal::ScanStatus::kCorrupt);
}

TEST(WalOverlapScan, DamageBeforeARecordWrittenAfterItWasDurableIsCorruption) {
  TwoInFlight t(/*b_written_after_a_durable=*/true);
  t.seg.zero(t.a, t.a_end);
  SegScan s = scan_one(t.seg.bytes(), true);
  ASSERT_EQ(s.result.status, wal::ScanStatus::kCorrupt);
  EXPECT_NE(s.result.error.find("offset " + std::to_string(t.a) + ": zeroed bytes before a valid record at offset " +
                                std::to_string(t.b)),
            std::string::npos)
      << s.result.error;

  TwoInFlight f(true);
  f.seg.bytes()[f.seg.offset_of(7) + 30] ^= 0x40;  // a flipped byte in record 7, record 8 intact after it
  s = scan_one(f.seg.bytes(), true);
  ASSERT_EQ(s.result.status, wal::ScanStatus::kCorrupt);
  EXPECT_NE(s.result.error.find("offset " + std::to_string(f.seg.offset_of(7)) + ": crc mismatch"), std::string::npos)
      << s.result.error;

  // Record 8 was in record 7's own batch: it alone could have overtaken it, but B says 7 was durable.
  // Without B, the same flip is a torn tail (as the last record of a batch in flight always was).
  TwoInFlight g;
  g.seg.zero(g.b, g.seg.end());
  g.seg.bytes()[g.seg.offset_of(7) + 30] ^= 0x40;
  s = scan_one(g.seg.bytes(), true);
  EXPECT_EQ(s.result.status, wal::ScanStatus::kTornTail) << s.result.error;
  EXPECT_EQ(s.result.torn_offset, g.seg.offset_of(7));
}

TEST(WalOverlapScan, Version1RecordsAfterDamageAreAlwaysCorruption) {
  // A version 1 log carries no `back`: a valid record after damage means a lost write, as before.
  SegmentBuilder seg;
  uint64_t off = wal::kSegmentHeaderBlockBytes;
  std::vector<uint64_t> at;
  for (Zxid z = 1; z <= 6; ++z) {
    const std::vector<uint8_t> r = v1_record(z, payload_for(z, 3000));
    std::memcpy(seg.bytes().data() + off, r.data(), r.size());
    at.push_back(off);
    off += r.size();
  }
  SegScan s = scan_one(seg.bytes(), true);
  ASSERT_EQ(s.result.status, wal::ScanStatus::kClean) << s.result.error;
  EXPECT_EQ(s.replayed, model(1, 6, 3000));
  seg.bytes()[at[3] + 9] ^= 0x01;  // record 4's zxid
  s = scan_one(seg.bytes(), true);
  EXPECT_EQ(s.result.status, wal::ScanStatus::kCorrupt);
}

// Recovery acts on the decision: B's records are zeroed with A's remains, appends go on where A started, and
// a reopen finds exactly what was appended since, nothing of B.
TEST(WalOverlapScan, OpenCutsTheOvertakingRecordsAndAppendsContinue) {
  TempDir d(disk_base());
  const std::string dir = d.path() + "/wal";
  fs::create_directories(dir);
  TwoInFlight t;
  t.seg.zero(t.a, t.a_end);
  const std::string path = dir + "/" + wal::segment_file_name(1);
  {
    int fd = ::open(path.c_str(), O_CREAT | O_WRONLY, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, t.seg.bytes().data(), t.seg.bytes().size(), 0),
              static_cast<ssize_t>(t.seg.bytes().size()));
    ::close(fd);
  }
  WalOptions o;
  o.dir = dir;
  o.segment_bytes = t.seg.bytes().size();
  Records got;
  WalRecovery rec;
  {
    auto w = open_wal(o, got, rec);
    ASSERT_TRUE(w);
    EXPECT_EQ(got, model(1, 5, 3000));
    EXPECT_TRUE(rec.truncated_tail);
    EXPECT_EQ(rec.truncated_offset, t.a);
    const std::string bytes = read_whole(path);
    EXPECT_EQ(bytes.find_first_not_of('\0', t.a), std::string::npos) << "B's records are gone from the file";
    write_range(*w, 6, 40, 3000);
  }
  auto w = open_wal(o, got, rec);
  ASSERT_TRUE(w);
  EXPECT_FALSE(rec.truncated_tail);
  EXPECT_EQ(got, model(1, 40, 3000));
}

// ---------------------------------------------------------------------------------------------------------------
// The real Wal under load: batches overlap on a device that takes O_DIRECT, persist in order, and replay whole.

// The bytes the records of zxids first..last (payload_for(z, big)) take in the log, headers included.
uint64_t record_bytes_of(Zxid first, Zxid last, size_t big) {
  uint64_t n = 0;
  for (Zxid z = first; z <= last; ++z) n += wal::record_bytes(payload_for(z, big).size());
  return n;
}

class WalOverlapLoad : public ::testing::TestWithParam<int> {};

TEST_P(WalOverlapLoad, BusyLogOverlapsBatchesAndPersistsInOrder) {
  TempDir d(disk_base());
  WalOptions o;
  o.max_batches_in_flight = GetParam();
  o.dir = d.path() + "/wal";
  o.segment_bytes = 1 << 20;
  Records got;
  WalRecovery rec;
  auto w = open_wal(o, got, rec);
  ASSERT_TRUE(w);
  if (!rec.direct_io) GTEST_SKIP() << "the test directory refuses O_DIRECT: no overlapping batches there";
  // Appends as fast as the loop goes, reaping after each; from 3000 appends on, stops as soon as two batches were
  // in flight together (a first write into fresh preallocated space can take the disk tens of milliseconds, so
  // the count of appends that needs varies). 1 MiB segments: the run rolls (each roll waits for the batches in
  // flight and goes out alone).
  Zxid persisted = 0;
  Zxid last = 0;
  for (Zxid z = 1; z <= 40000 && (z <= 3000 || w->peak_batches_in_flight() < 2); ++z) {
    w->append(z, payload_for(z, 3000));
    w->reap();  // (pumps: a batch goes out whenever one may)
    ASSERT_GE(w->persisted_zxid(), persisted) << "persisted_zxid went back";
    persisted = w->persisted_zxid();
    ASSERT_LE(persisted, z);
    if (z % 64 == 0) ::usleep(50);
    last = z;
  }
  ASSERT_TRUE(w->sync_all()) << w->failure();
  EXPECT_EQ(w->persisted_zxid(), last);
  EXPECT_GE(w->peak_batches_in_flight(), 2u) << "no two batches were ever in flight together; batches "
                                             << w->batches_written();
  EXPECT_GE(segment_names(o.dir).size(), 2u) << "the run never rolled";
  EXPECT_LE(w->peak_batches_in_flight(), static_cast<uint64_t>(GetParam()));
  // The counters mntr shows: every record's bytes, and exactly the padding the log holds.
  EXPECT_EQ(w->record_bytes_written(), record_bytes_of(1, last, 3000));
  const wal::ScanResult scan = wal::scan_dir(o.dir, nullptr);
  ASSERT_EQ(scan.status, wal::ScanStatus::kClean) << scan.error;
  uint64_t pads = 0;
  for (const auto& s : scan.segments) pads += s.pad_bytes;
  EXPECT_GT(pads, 0u) << "batches overlapped, so some ended with a pad";
  EXPECT_EQ(w->padding_bytes_written(), pads);
  w.reset();
  auto again = open_wal(o, got, rec);
  ASSERT_TRUE(again);
  EXPECT_FALSE(rec.truncated_tail);
  EXPECT_EQ(got, model(1, last, 3000));
}

INSTANTIATE_TEST_SUITE_P(InFlight, WalOverlapLoad, ::testing::Values(2, 4));

// What a power cut at any moment of a busy log could leave on the disk, rebuilt from the Wal's own writes: every
// write that completed before the cut is there, each 4 KiB block of a write still in flight is there or not (at
// random). Recovery must never call that corruption, and must find every record acknowledged before the cut.
TEST(WalOverlap, PowerCutAtAnyMomentLosesNoAcknowledgedRecord) {
  TempDir d(disk_base());
  WalOptions o;
  o.dir = d.path() + "/wal";
  o.segment_bytes = 8 << 20;  // no roll: one segment holds the run (at most 6000 records of ~1 KiB with padding)
  o.max_batches_in_flight = 4;
  struct Write {
    uint64_t offset;
    std::string bytes;
    size_t submitted;   // event index
    size_t completed;   // event index, SIZE_MAX while in flight
  };
  std::vector<Write> writes;
  size_t events = 0;
  o.on_batch_write = [&](uint64_t offset, const uint8_t* data, uint32_t len) {
    if (data != nullptr) {
      writes.push_back(Write{offset, std::string(reinterpret_cast<const char*>(data), len), events, SIZE_MAX});
    } else {  // the write in flight at that offset (a block is only ever rewritten after its last write completed)
      auto it = std::find_if(writes.rbegin(), writes.rend(),
                             [&](const Write& w) { return w.offset == offset && w.completed == SIZE_MAX; });
      ASSERT_NE(it, writes.rend()) << "a completion for no write in flight at " << offset;
      it->completed = events;
    }
    ++events;
  };
  Records got;
  WalRecovery rec;
  auto w = open_wal(o, got, rec);
  ASSERT_TRUE(w);
  if (!rec.direct_io) GTEST_SKIP() << "the test directory refuses O_DIRECT: no overlapping batches there";
  std::vector<std::pair<size_t, Zxid>> acked;  // (events seen, persisted_zxid then)
  Zxid last = 0;
  for (Zxid z = 1; z <= 6000 && (z <= 2000 || w->peak_batches_in_flight() < 3); ++z) {
    w->append(z, payload_for(z, 3000));
    w->reap();
    acked.emplace_back(events, w->persisted_zxid());
    if (z % 64 == 0) ::usleep(50);
    last = z;
  }
  ASSERT_TRUE(w->sync_all()) << w->failure();
  acked.emplace_back(events, w->persisted_zxid());
  ASSERT_GE(w->peak_batches_in_flight(), 2u);
  ASSERT_EQ(segment_names(o.dir).size(), 1u) << "the run rolled: the image below rebuilds one segment";
  const std::string path = o.dir + "/" + wal::segment_file_name(1);
  const std::string header = read_whole(path).substr(0, wal::kSegmentHeaderBlockBytes);
  w.reset();

  std::mt19937_64 rng(11);
  int torn = 0;
  for (int round = 0; round < 200; ++round) {
    const size_t cut = round == 0 ? events : rng() % (events + 1);  // events [0, cut) happened
    SCOPED_TRACE("cut after event " + std::to_string(cut) + " of " + std::to_string(events));
    Zxid ack = 0;
    for (const auto& [seen, persisted] : acked) {
      if (seen <= cut) ack = std::max(ack, persisted);
    }
    std::vector<uint8_t> img(o.segment_bytes, 0);
    std::memcpy(img.data(), header.data(), header.size());
    for (const Write& wr : writes) {
      if (wr.submitted >= cut) break;
      const bool landed = wr.completed < cut;
      for (uint64_t at = 0; at < wr.bytes.size(); at += wal::kBlockBytes) {
        if (landed || rng() % 2 == 0) std::memcpy(img.data() + wr.offset + at, wr.bytes.data() + at, wal::kBlockBytes);
      }
    }
    Records replayed;
    wal::ScanReplayFn fn = [&](Zxid z, std::string_view p) { replayed.emplace_back(z, std::string(p)); };
    wal::ScanResult r;
    wal::scan_segment(path, img.data(), img.size(), true, &fn, r);
    ASSERT_NE(r.status, wal::ScanStatus::kCorrupt) << r.error;
    torn += r.status == wal::ScanStatus::kTornTail;
    ASSERT_GE(static_cast<Zxid>(replayed.size()), ack) << "an acknowledged record is lost";
    ASSERT_LE(static_cast<Zxid>(replayed.size()), last);
    ASSERT_EQ(replayed, model(1, static_cast<Zxid>(replayed.size()), 3000)) << "not a prefix of the appends";
  }
  EXPECT_GT(torn, 0) << "no cut landed inside a write in flight";
}

TEST(WalOverlap, OneInFlightWritesNoPads) {
  TempDir d(disk_base());
  WalOptions o;
  o.dir = d.path() + "/wal";
  o.segment_bytes = 4 << 20;
  o.max_batches_in_flight = 1;
  Records got;
  WalRecovery rec;
  auto w = open_wal(o, got, rec);
  ASSERT_TRUE(w);
  for (Zxid z = 1; z <= 500; ++z) {
    w->append(z, payload_for(z, 3000));
    w->reap();
  }
  ASSERT_TRUE(w->sync_all()) << w->failure();
  EXPECT_EQ(w->peak_batches_in_flight(), 1u);
  const wal::ScanResult scan = wal::scan_dir(o.dir, nullptr);
  ASSERT_EQ(scan.status, wal::ScanStatus::kClean) << scan.error;
  for (const auto& s : scan.segments) EXPECT_EQ(s.pad_bytes, 0u) << s.path;
  EXPECT_EQ(w->padding_bytes_written(), 0u);
  EXPECT_EQ(w->record_bytes_written(), record_bytes_of(1, 500, 3000));
}

}  // namespace
}  // namespace uk
