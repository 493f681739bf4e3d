// The recovery scan streams each segment through a bounded window (storage/src/wal/scan.cc,
// segment_reader.cc): records straddling window boundaries, records bigger than a window, damaged length fields
// that must not make the window grow, and the same decisions (torn tail, corruption, file and offset) whatever
// the window size. Memory is checked through ScanResult::peak_buffer_bytes.
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "ukeeper/storage/wal/scan.h"
#include "wal_test_util.h"

namespace uk {
namespace {

using namespace waltest;

// Odd sizes on purpose: windows end inside record headers, payloads and the record magic.
const uint64_t kChunks[] = {64, 100, 1000, 4096, 4097, 65536};

void write_file(const std::string& path, const std::string& bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(::pwrite(fd, bytes.data(), bytes.size(), 0), static_cast<ssize_t>(bytes.size()));
  ::close(fd);
}

struct Scanned {
  wal::ScanResult result;
  Records replayed;
};

Scanned scan(const std::string& dir, uint64_t chunk) {
  Scanned s;
  wal::ScanReplayFn fn = [&](Zxid z, std::string_view p) { s.replayed.emplace_back(z, std::string(p)); };
  s.result = wal::scan_dir(dir, &fn, chunk);
  return s;
}

// Every decision and figure of two scans, apart from the memory they used.
void expect_same(const Scanned& a, const Scanned& b, uint64_t chunk) {
  SCOPED_TRACE("chunk " + std::to_string(chunk));
  EXPECT_EQ(a.result.status, b.result.status);
  EXPECT_EQ(a.result.error, b.result.error);
  EXPECT_EQ(a.result.records, b.result.records);
  EXPECT_EQ(a.result.last_zxid, b.result.last_zxid);
  EXPECT_EQ(a.result.torn_file, b.result.torn_file);
  EXPECT_EQ(a.result.torn_offset, b.result.torn_offset);
  EXPECT_EQ(a.result.torn_end, b.result.torn_end);
  EXPECT_EQ(a.result.torn_reason, b.result.torn_reason);
  EXPECT_EQ(a.result.incomplete_segment, b.result.incomplete_segment);
  ASSERT_EQ(a.result.segments.size(), b.result.segments.size());
  for (size_t i = 0; i < a.result.segments.size(); ++i) {
    EXPECT_EQ(a.result.segments[i].data_end, b.result.segments[i].data_end);
    EXPECT_EQ(a.result.segments[i].records, b.result.segments[i].records);
  }
  EXPECT_EQ(a.replayed, b.replayed);
}

class WalScanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<TempDir>(disk_base());
    ASSERT_FALSE(dir_->path().empty());
    base_.dir = dir_->path() + "/wal";
    base_.segment_bytes = 256 * 1024;
  }

  // Writes zxids [1, last] with payload_for(z, big) and closes the Wal; returns the largest record's bytes.
  uint64_t write_log(Zxid last, size_t big) {
    Records records;
    WalRecovery rec;
    auto w = open_wal(base_, records, rec);
    EXPECT_TRUE(w);
    if (!w) return 0;
    write_range(*w, 1, last, big);
    uint64_t largest = 0;
    for (Zxid z = 1; z <= last; ++z) largest = std::max(largest, wal::record_bytes(payload_for(z, big).size()));
    return largest;
  }

  std::unique_ptr<TempDir> dir_;
  WalOptions base_;
};

TEST_F(WalScanTest, RecordsStraddlingChunkBoundariesReplayTheSameForEveryChunkSize) {
  const uint64_t largest = write_log(1500, 9000);
  const Scanned whole = scan(base_.dir, 1ull << 30);  // one window per file: the old whole-file read
  ASSERT_EQ(whole.result.status, wal::ScanStatus::kClean) << whole.result.error;
  ASSERT_EQ(whole.replayed, model(1, 1500));
  ASSERT_GT(whole.result.segments.size(), 3u);
  for (uint64_t chunk : kChunks) {
    const Scanned s = scan(base_.dir, chunk);
    expect_same(whole, s, chunk);
    EXPECT_LE(s.result.peak_buffer_bytes, std::max(chunk, largest)) << chunk;
  }
  // The default window holds far less than a segment.
  EXPECT_LE(scan(base_.dir, wal::kDefaultScanChunkBytes).result.peak_buffer_bytes, wal::kDefaultScanChunkBytes);
}

TEST_F(WalScanTest, RecordLargerThanAChunkIsReadWholeAndMemoryStaysBounded) {
  base_.segment_bytes = 1 << 20;
  const size_t big = 200 * 1024;  // every 13th record: larger than every window below but the last
  const uint64_t largest = write_log(120, big);
  for (uint64_t chunk : {uint64_t{4096}, uint64_t{64 * 1024}, uint64_t{300 * 1024}}) {
    const Scanned s = scan(base_.dir, chunk);
    ASSERT_EQ(s.result.status, wal::ScanStatus::kClean) << s.result.error;
    EXPECT_EQ(s.replayed, model(1, 120, big));
    EXPECT_LE(s.result.peak_buffer_bytes, std::max(chunk, largest)) << chunk;
    EXPECT_GE(s.result.peak_buffer_bytes, std::min(chunk, largest)) << chunk;
  }
  // Through Wal::open as well.
  base_.recovery_chunk_bytes = 8192;
  Records got;
  WalRecovery rec;
  auto w = open_wal(base_, got, rec);
  ASSERT_TRUE(w);
  EXPECT_EQ(got, model(1, 120, big));
}

TEST_F(WalScanTest, DamagedHugeLengthInTheTailDoesNotGrowTheWindow) {
  write_log(200, 9000);
  const Scanned clean = scan(base_.dir, 4096);
  const auto& last = clean.result.segments.back();
  // The last record's length field now claims 60 MiB: a torn tail, found without a 60 MiB window.
  const uint64_t off = waltest::record_offset(last.path, 200);
  std::string bytes = read_whole(last.path);
  const uint32_t huge = 60u << 20;
  std::memcpy(bytes.data() + off + 4, &huge, 4);
  write_file(last.path, bytes);
  for (uint64_t chunk : kChunks) {
    const Scanned s = scan(base_.dir, chunk);
    EXPECT_EQ(s.result.status, wal::ScanStatus::kTornTail) << s.result.error;
    EXPECT_EQ(s.result.torn_file, last.path);
    EXPECT_EQ(s.result.torn_offset, off);
    EXPECT_EQ(s.result.records, 199u);
    EXPECT_LE(s.result.peak_buffer_bytes, std::max<uint64_t>(chunk, 9024)) << chunk;
  }
  // And a length that fits the segment but is larger than the window, with a crc that cannot match.
  const uint32_t large = 100 * 1024;
  std::memcpy(bytes.data() + off + 4, &large, 4);
  write_file(last.path, bytes);
  const Scanned s = scan(base_.dir, 4096);
  EXPECT_EQ(s.result.status, wal::ScanStatus::kTornTail) << s.result.error;
  EXPECT_EQ(s.result.torn_offset, off);
  EXPECT_LE(s.result.peak_buffer_bytes, 9024u);
}

TEST_F(WalScanTest, TornTailAndCorruptionAcrossChunkBoundariesThroughOpen) {
  write_log(300, 9000);
  const Scanned clean = scan(base_.dir, 4096);
  const auto& last = clean.result.segments.back();
  const uint64_t off = waltest::record_offset(last.path, 300);
  const std::string good = read_whole(last.path);
  // A window of 100 bytes puts boundaries inside nearly every record header.
  base_.recovery_chunk_bytes = 100;

  std::string torn = good;
  torn[off + wal::record_bytes(payload_for(300).size()) - 1] ^= 0x10;  // the last payload byte of the last record
  write_file(last.path, torn);
  {
    Records got;
    WalRecovery rec;
    auto w = open_wal(base_, got, rec);
    ASSERT_TRUE(w);
    EXPECT_EQ(got, model(1, 299));
    EXPECT_TRUE(rec.truncated_tail);
    EXPECT_EQ(rec.truncated_file, last.path);
    EXPECT_EQ(rec.truncated_offset, off);
    const bool said = std::any_of(rec.messages.begin(), rec.messages.end(), [&](const std::string& m) {
      return m.find(last.path + " offset " + std::to_string(off)) != std::string::npos;
    });
    EXPECT_TRUE(said) << "the truncation is logged with file and offset";
  }
  write_file(last.path, good);

  // A flipped byte in an earlier segment's record: corruption, named by file and offset.
  const auto& first = clean.result.segments.front();
  const uint64_t at = waltest::record_offset(first.path, 20);
  std::string bad = read_whole(first.path);
  bad[at + wal::kRecordHeaderBytes + 1] ^= 0x01;
  write_file(first.path, bad);
  Records got;
  WalRecovery rec;
  std::string error;
  auto w = Wal::open(base_, [](Zxid, std::string_view) {}, rec, error);
  EXPECT_FALSE(w);
  EXPECT_NE(error.find("wal corrupt: " + first.path + " offset " + std::to_string(at)), std::string::npos) << error;
}

TEST_F(WalScanTest, EveryChunkSizeMakesTheSameDecisionsOnRandomDamage) {
  write_log(400, 9000);
  const Scanned clean = scan(base_.dir, 1ull << 30);
  ASSERT_EQ(clean.result.status, wal::ScanStatus::kClean);
  std::vector<std::pair<std::string, std::string>> originals;
  for (const auto& s : clean.result.segments) originals.emplace_back(s.path, read_whole(s.path));
  std::mt19937_64 rng(7);
  int torn = 0, corrupt = 0;
  for (int round = 0; round < 60; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    for (const auto& [path, bytes] : originals) write_file(path, bytes);
    // Damage the last segment (mostly) or an earlier one: flip a byte, zero a range, or write a stray magic.
    const bool in_last = rng() % 4 != 0;
    const size_t which = in_last ? originals.size() - 1 : rng() % (originals.size() - 1);
    const auto& seg = clean.result.segments[which];
    std::string b = originals[which].second;
    // Half the damage in the last segment hits its last record or the zeros after it: a torn tail.
    const uint64_t last_start = waltest::record_offset(seg.path, seg.last_zxid);
    const uint64_t from = in_last && rng() % 2 == 0 ? last_start : wal::kSegmentHeaderBlockBytes;
    const uint64_t at = std::min<uint64_t>(from + rng() % (seg.data_end + 64 - from), b.size() - 4);
    switch (rng() % 3) {
      case 0: b[at] ^= static_cast<char>(1 + rng() % 255); break;
      case 1: std::fill(b.begin() + static_cast<long>(at), b.begin() + static_cast<long>(std::min<uint64_t>(at + 1 + rng() % 3000, b.size())), '\0'); break;
      default: {
        const uint32_t magic = wal::kRecordMagic;
        std::memcpy(b.data() + at, &magic, 4);
      }
    }
    write_file(seg.path, b);
    const Scanned whole = scan(base_.dir, 1ull << 30);
    torn += whole.result.status == wal::ScanStatus::kTornTail;
    corrupt += whole.result.status == wal::ScanStatus::kCorrupt;
    for (uint64_t chunk : kChunks) expect_same(whole, scan(base_.dir, chunk), chunk);
  }
  for (const auto& [path, bytes] : originals) write_file(path, bytes);
  EXPECT_GT(torn, 0);
  EXPECT_GT(corrupt, 0);
}

}  // namespace
}  // namespace uk
