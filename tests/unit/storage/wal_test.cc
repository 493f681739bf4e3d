// The write-ahead log (storage/src/wal): record format, group commit, segment rolling, recovery decisions
// (torn tail vs corruption), failure handling and durability modes. The Wal tests run on the project disk
// (O_DIRECT and buffered) and on /dev/shm (tmpfs; buffered, and O_DIRECT where the kernel accepts it there).
#include "ukeeper/storage/wal/wal.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "ukeeper/storage/wal/format.h"
#include "ukeeper/storage/wal/scan.h"
#include "wal_test_util.h"

namespace uk {
namespace {

namespace fs = std::filesystem;
using wal::record_bytes;
using waltest::disk_base;
using waltest::read_whole;
using waltest::reap_until;
using waltest::TempDir;

// ---------------------------------------------------------------------------------------------------------------
// Helpers

// A payload whose length and bytes depend on the zxid (and a salt, to tell rewritten records apart); some are
// empty and some span several 4 KiB blocks.
std::string payload_for(Zxid zxid, int salt = 0) {
  const uint64_t z = static_cast<uint64_t>(zxid);
  size_t len = (z * 7919u + static_cast<uint64_t>(salt) * 31u) % 700u;
  if (z % 97 == 0) len = 0;
  if (z % 211 == 5) len = 9000;
  std::string s(len, '\0');
  for (size_t i = 0; i < len; ++i) s[i] = static_cast<char>((z * 131u + i * 7u + static_cast<uint64_t>(salt)) & 0xFF);
  return s;
}

struct Replayed {
  std::vector<std::pair<Zxid, std::string>> records;
  Wal::ReplayFn fn() {
    return [this](Zxid z, std::string_view p) { records.emplace_back(z, std::string(p)); };
  }
};

std::vector<std::string> segment_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (wal::parse_segment_file_name(e.path().filename().string())) out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

void flip_byte(const std::string& path, uint64_t offset) {
  int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0) << path;
  uint8_t b = 0;
  ASSERT_EQ(::pread(fd, &b, 1, static_cast<off_t>(offset)), 1);
  b ^= 0x10;
  ASSERT_EQ(::pwrite(fd, &b, 1, static_cast<off_t>(offset)), 1);
  ::close(fd);
}

void zero_range(const std::string& path, uint64_t from, uint64_t to) {
  int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0) << path;
  std::vector<uint8_t> zeros(to - from, 0);
  ASSERT_EQ(::pwrite(fd, zeros.data(), zeros.size(), static_cast<off_t>(from)), static_cast<ssize_t>(zeros.size()));
  ::close(fd);
}

// ---------------------------------------------------------------------------------------------------------------
// Format

TEST(WalFormat, RecordRoundTripAndEveryBitFlipDetected) {
  const std::string payload = "hello, write-ahead log";
  std::vector<uint8_t> rec(record_bytes(payload.size()));
  wal::encode_record(0x100000007, payload, rec.data());
  wal::RecordView r;
  ASSERT_EQ(wal::check_record(rec.data(), rec.size(), r), wal::RecordCheck::kOk);
  EXPECT_EQ(r.zxid, 0x100000007);
  EXPECT_EQ(r.payload, payload);
  EXPECT_EQ(r.payload_bytes, payload.size());
  for (size_t bit = 0; bit < rec.size() * 8; ++bit) {
    std::vector<uint8_t> bad = rec;
    bad[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_NE(wal::check_record(bad.data(), bad.size(), r), wal::RecordCheck::kOk) << "bit " << bit;
  }
  // A flipped payload bit is a crc mismatch that still reports the zxid.
  std::vector<uint8_t> bad = rec;
  bad[wal::kRecordHeaderBytes + 3] ^= 1;
  EXPECT_EQ(wal::check_record(bad.data(), bad.size(), r), wal::RecordCheck::kBadCrc);
  EXPECT_EQ(r.zxid, 0x100000007);
}

TEST(WalFormat, RecordBoundsAndEndOfData) {
  std::vector<uint8_t> rec(record_bytes(10));
  wal::encode_record(5, "0123456789", rec.data());
  wal::RecordView r;
  EXPECT_EQ(wal::check_record(rec.data(), rec.size() - 1, r), wal::RecordCheck::kBadLength);  // past the segment
  EXPECT_EQ(wal::check_record(rec.data(), 20, r), wal::RecordCheck::kTruncated);
  std::vector<uint8_t> zeros(64, 0);
  EXPECT_EQ(wal::check_record(zeros.data(), zeros.size(), r), wal::RecordCheck::kZero);
  EXPECT_EQ(wal::check_record(zeros.data(), 2, r), wal::RecordCheck::kZero);
  // A length above 64 MiB is damage even if the segment were that big.
  uint32_t huge = (64u << 20) + 1;
  std::memcpy(rec.data() + 4, &huge, 4);
  EXPECT_EQ(wal::check_record(rec.data(), size_t{1} << 30, r), wal::RecordCheck::kBadLength);
}

TEST(WalFormat, SegmentHeaderAndFileName) {
  std::vector<uint8_t> block(wal::kSegmentHeaderBlockBytes, 0xAA);
  wal::SegmentHeader h;
  h.first_zxid = 0x500000001;
  h.segment_bytes = 1 << 20;
  wal::encode_segment_header(h, block.data());
  wal::SegmentHeader d;
  std::string why;
  ASSERT_TRUE(wal::decode_segment_header(block.data(), block.size(), d, why)) << why;
  EXPECT_EQ(d.first_zxid, h.first_zxid);
  EXPECT_EQ(d.segment_bytes, h.segment_bytes);
  EXPECT_EQ(block.back(), 0);  // the rest of the block is zeroed
  block[20] ^= 1;
  EXPECT_FALSE(wal::decode_segment_header(block.data(), block.size(), d, why));
  EXPECT_NE(why.find("crc"), std::string::npos) << why;

  EXPECT_EQ(wal::segment_file_name(0x500000001), "wal-0000000500000001.seg");
  EXPECT_EQ(wal::parse_segment_file_name("wal-0000000500000001.seg"), std::optional<Zxid>(0x500000001));
  EXPECT_FALSE(wal::parse_segment_file_name("wal-000000050000000G.seg"));
  EXPECT_FALSE(wal::parse_segment_file_name("wal-0000000500000001.seg.tmp"));
  EXPECT_FALSE(wal::parse_segment_file_name(".wal-direct-probe"));
}

// ---------------------------------------------------------------------------------------------------------------
// The log, on each kind of storage

struct Where {
  const char* name;
  bool shm;
  bool try_direct;
};

class WalTest : public ::testing::TestWithParam<Where> {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<TempDir>(GetParam().shm ? std::string("/dev/shm") : disk_base());
    ASSERT_FALSE(dir_->path().empty()) << "mkdtemp failed";
    base_.dir = dir_->path() + "/wal";
    base_.try_direct_io = GetParam().try_direct;
    base_.segment_bytes = 1 << 20;  // recovery reads whole segments: keep the tests' files small
  }

  std::unique_ptr<Wal> open(const WalOptions& o, Replayed& replayed, WalRecovery& rec) {
    std::string error;
    auto w = Wal::open(o, replayed.fn(), rec, error);
    EXPECT_TRUE(w) << error;
    if (w) {
      EXPECT_EQ(rec.records, replayed.records.size());
      if (!GetParam().try_direct || o.durability == Durability::kNone) {
        EXPECT_FALSE(rec.direct_io);
      }
      if (GetParam().try_direct && !GetParam().shm && o.durability != Durability::kNone) {
        EXPECT_TRUE(rec.direct_io) << "ext4 takes O_DIRECT";
      }
    }
    return w;
  }
  std::unique_ptr<Wal> open(Replayed& replayed, WalRecovery& rec) { return open(base_, replayed, rec); }

  // Appends zxids [from, to] with payload_for(z, salt), pumping every `pump_every` appends; then sync_all.
  void write(Wal& w, Zxid from, Zxid to, int salt = 0, int pump_every = 17) {
    for (Zxid z = from; z <= to; ++z) {
      w.append(z, payload_for(z, salt));
      if ((z - from) % pump_every == 0) w.reap();
    }
    ASSERT_TRUE(w.sync_all()) << w.failure();
    EXPECT_EQ(w.persisted_zxid(), to);
  }

  static void expect_records(const Replayed& r, Zxid from, Zxid to, int salt = 0) {
    ASSERT_EQ(r.records.size(), static_cast<size_t>(to - from + 1));
    for (Zxid z = from; z <= to; ++z) {
      const auto& [zxid, payload] = r.records[static_cast<size_t>(z - from)];
      ASSERT_EQ(zxid, z);
      ASSERT_EQ(payload, payload_for(z, salt)) << "zxid " << z;
    }
  }

  std::unique_ptr<TempDir> dir_;
  WalOptions base_;
};

TEST_P(WalTest, AppendSyncReopenReplaysInOrder) {
  base_.segment_bytes = WalOptions{}.segment_bytes;  // the default size, once
  {
    Replayed r;
    WalRecovery rec;
    auto w = open(r, rec);
    ASSERT_TRUE(w);
    EXPECT_EQ(rec.records, 0u);
    EXPECT_EQ(w->persisted_zxid(), 0);
    write(*w, 1, 500);
    EXPECT_EQ(w->appended_zxid(), 500);
    EXPECT_EQ(w->records_written(), 500u);
    EXPECT_TRUE(w->failure().empty());
  }
  Replayed r;
  WalRecovery rec;
  auto w = open(r, rec);
  ASSERT_TRUE(w);
  expect_records(r, 1, 500);
  EXPECT_EQ(rec.last_zxid, 500);
  EXPECT_EQ(rec.segments, 1u);
  EXPECT_FALSE(rec.truncated_tail);
  EXPECT_EQ(w->persisted_zxid(), 500);
  EXPECT_EQ(w->appended_zxid(), 500);
  // The segment is preallocated to its full size.
  auto files = segment_files(base_.dir);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(fs::file_size(files[0]), base_.segment_bytes);
  EXPECT_EQ(fs::path(files[0]).filename(), "wal-0000000000000001.seg");
}

TEST_P(WalTest, ReopenAndAppendManyTimesKeepsEveryRecord) {
  // Each round continues after the last record: with O_DIRECT the partial tail block is read back and
  // rewritten, so this checks that the rewrite never disturbs the records already in it.
  Zxid next = 1;
  for (int round = 0; round < 12; ++round) {
    Replayed r;
    WalRecovery rec;
    auto w = open(r, rec);
    ASSERT_TRUE(w);
    expect_records(r, 1, next - 1);
    const Zxid last = next + 1 + round * 3;
    write(*w, next, last);
    next = last + 1;
  }
  Replayed r;
  WalRecovery rec;
  auto w = open(r, rec);
  ASSERT_TRUE(w);
  expect_records(r, 1, next - 1);
}

TEST_P(WalTest, GroupCommitWritesEverythingQueuedAsOneBatch) {
  Replayed r;
  WalRecovery rec;
  auto w = open(r, rec);
  ASSERT_TRUE(w);
  for (Zxid z = 1; z <= 1000; ++z) w->append(z, payload_for(z));
  EXPECT_EQ(w->persisted_zxid(), 0);  // appending is not making durable
  EXPECT_EQ(w->appended_zxid(), 1000);
  w->pump();
  EXPECT_EQ(w->persisted_zxid(), 0);  // nothing reaped yet
  ASSERT_TRUE(reap_until(*w, [&] { return w->persisted_zxid() == 1000; })) << w->failure();
  EXPECT_EQ(w->batches_written(), 1u);
  EXPECT_EQ(w->records_written(), 1000u);
  ASSERT_TRUE(w->sync_all());
  EXPECT_EQ(w->batches_written(), 1u);  // nothing was left to write
}

TEST_P(WalTest, AppendsWhileInFlightGoOutTogetherNext) {
  Replayed r;
  WalRecovery rec;
  auto w = open(r, rec);
  ASSERT_TRUE(w);
  for (Zxid z = 1; z <= 10; ++z) w->append(z, payload_for(z));
  w->pump();  // batch 1 in flight
  for (Zxid z = 11; z <= 110; ++z) {
    w->append(z, payload_for(z));
    w->pump();  // no effect while batch 1 is in flight
  }
  ASSERT_TRUE(reap_until(*w, [&] { return w->persisted_zxid() >= 10; })) << w->failure();
  EXPECT_EQ(w->persisted_zxid(), 10);  // batch 2 was only submitted by that reap
  EXPECT_EQ(w->batches_written(), 1u);
  ASSERT_TRUE(reap_until(*w, [&] { return w->persisted_zxid() == 110; })) << w->failure();
  EXPECT_EQ(w->batches_written(), 2u);
  EXPECT_EQ(w->records_written(), 110u);
}

TEST_P(WalTest, SegmentsRollAndReplayAcrossThem) {
  base_.segment_bytes = 64 * 1024;
  {
    Replayed r;
    WalRecovery rec;
    auto w = open(r, rec);
    ASSERT_TRUE(w);
    write(*w, 1, 1500, 0, 23);
    // One big queue crossing several segment boundaries: split into one batch per segment.
    const uint64_t before = w->batches_written();
    for (Zxid z = 1501; z <= 2500; ++z) w->append(z, payload_for(z));
    ASSERT_TRUE(w->sync_all()) << w->failure();
    EXPECT_GT(w->batches_written() - before, 3u);
  }
  auto files = segment_files(base_.dir);
  EXPECT_GT(files.size(), 15u);
  for (const auto& f : files) EXPECT_EQ(fs::file_size(f), 64u * 1024) << f;
  Replayed r;
  WalRecovery rec;
  auto w = open(r, rec);
  ASSERT_TRUE(w);
  expect_records(r, 1, 2500);
  EXPECT_EQ(rec.segments, files.size());
  // Each segment is named after the first record it holds.
  wal::ScanReplayFn none;
  wal::ScanResult scan = wal::scan_dir(base_.dir, &none);
  ASSERT_EQ(scan.status, wal::ScanStatus::kClean) << scan.error;
  Zxid prev_last = 0;
  for (const auto& s : scan.segments) {
    EXPECT_EQ(s.first_zxid, prev_last + 1) << s.path;
    EXPECT_LE(s.data_end, s.file_bytes);
    prev_last = s.last_zxid;
  }
  write(*w, 2501, 2600);
}

// The offset of the last record in the last segment, and that segment's path.
std::pair<std::string, uint64_t> last_record(const std::string& dir, Zxid last) {
  wal::ScanResult scan = wal::scan_dir(dir, nullptr);
  EXPECT_EQ(scan.status, wal::ScanStatus::kClean) << scan.error;
  EXPECT_EQ(scan.last_zxid, last);
  const auto& s = scan.segments.back();
  return {s.path, waltest::record_offset(s.path, last)};
}

TEST_P(WalTest, TornLastRecordIsTruncatedAndAppendsContinue) {
  std::mt19937 rng(42);
  for (int round = 0; round < 6; ++round) {
    SCOPED_TRACE(round);
    TempDir d(dir_->path());
    base_.dir = d.path();
    {
      Replayed r;
      WalRecovery rec;
      auto w = open(r, rec);
      ASSERT_TRUE(w);
      write(*w, 1, 60);
    }
    auto [file, off] = last_record(base_.dir, 60);
    const uint64_t end = off + record_bytes(payload_for(60).size());
    // Round 0..3: the record's bytes stop at a random offset inside it (a write cut short); 4..5: one byte of it
    // flipped (header or payload).
    if (round < 4) {
      const uint64_t cut = off + 1 + rng() % (end - off - 1);
      zero_range(file, cut, end);
    } else {
      flip_byte(file, round == 4 ? off + 10 : end - 1);
    }
    // verify (read-only) sees a torn tail and changes nothing.
    const std::string bytes = read_whole(file);
    wal::ScanResult scan = wal::scan_dir(base_.dir, nullptr);
    EXPECT_EQ(scan.status, wal::ScanStatus::kTornTail) << scan.error;
    EXPECT_EQ(scan.torn_offset, off);
    EXPECT_EQ(read_whole(file), bytes);
    {
      Replayed r;
      WalRecovery rec;
      auto w = open(r, rec);
      ASSERT_TRUE(w);
      expect_records(r, 1, 59);
      EXPECT_TRUE(rec.truncated_tail);
      EXPECT_EQ(rec.truncated_file, file);
      EXPECT_EQ(rec.truncated_offset, off);
      ASSERT_FALSE(rec.messages.empty());
      EXPECT_NE(rec.messages.back().find(file), std::string::npos) << rec.messages.back();
      EXPECT_EQ(w->persisted_zxid(), 59);
      // zxid 60 again, with different bytes, and more after it.
      write(*w, 60, 80, /*salt=*/0);
    }
    Replayed r;
    WalRecovery rec;
    auto w = open(r, rec);
    ASSERT_TRUE(w);
    EXPECT_FALSE(rec.truncated_tail);
    expect_records(r, 1, 80);
  }
}

TEST_P(WalTest, FlippedByteBeforeValidRecordsIsCorruption) {
  {
    Replayed r;
    WalRecovery rec;
    auto w = open(r, rec);
    ASSERT_TRUE(w);
    write(*w, 1, 50);
    // Records written after record 10 was durable: damage to it is no torn write (records written while it was
    // in flight could have overtaken one: see TornWriteOvertakenByLaterBatchesIsATornTail).
    write(*w, 51, 60);
  }
  const std::string file = segment_files(base_.dir).front();
  const uint64_t off = waltest::record_offset(file, 10);
  flip_byte(file, off + wal::kRecordHeaderBytes + (payload_for(10).empty() ? -4 : 0));
  Replayed r;
  WalRecovery rec;
  std::string error;
  auto w = Wal::open(base_, r.fn(), rec, error);
  EXPECT_FALSE(w);
  EXPECT_NE(error.find("wal corrupt: " + file + " offset " + std::to_string(off) + ": crc mismatch"),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("record zxid 0xa"), std::string::npos) << error;
  EXPECT_EQ(wal::scan_dir(base_.dir, nullptr).status, wal::ScanStatus::kCorrupt);
}

TEST_P(WalTest, ZeroedRecordBeforeValidRecordsIsCorruption) {
  {
    Replayed r;
    WalRecovery rec;
    auto w = open(r, rec);
    ASSERT_TRUE(w);
    write(*w, 1, 50);
    write(*w, 51, 60);  // (as above)
  }
  const std::string file = segment_files(base_.dir).front();
  const uint64_t off = waltest::record_offset(file, 20);
  zero_range(file, off, off + record_bytes(payload_for(20).size()));
  std::string error;
  Replayed r;
  WalRecovery rec;
  EXPECT_FALSE(Wal::open(base_, r.fn(), rec, error));
  EXPECT_NE(error.find(file + " offset " + std::to_string(off)), std::string::npos) << error;
}

TEST_P(WalTest, DamageInAnEarlierSegmentIsCorruption) {
  base_.segment_bytes = 64 * 1024;
  {
    Replayed r;
    WalRecovery rec;
    auto w = open(r, rec);
    ASSERT_TRUE(w);
    write(*w, 1, 800);
  }
  auto files = segment_files(base_.dir);
  ASSERT_GE(files.size(), 3u);
  // The LAST record of the first segment: nothing valid follows it in that segment, but it is not the tail.
  wal::ScanResult scan = wal::scan_dir(base_.dir, nullptr);
  const auto& s0 = scan.segments.front();
  const uint64_t off = waltest::record_offset(files[0], s0.last_zxid);
  const uint64_t last_byte = off + record_bytes(payload_for(s0.last_zxid).size()) - 1;
  flip_byte(files[0], last_byte - (payload_for(s0.last_zxid).empty() ? 8 : 0));
  std::string error;
  Replayed r;
  WalRecovery rec;
  EXPECT_FALSE(Wal::open(base_, r.fn(), rec, error));
  EXPECT_NE(error.find("wal corrupt: " + files[0] + " offset " + std::to_string(off)), std::string::npos) << error;

  // A bad header in a segment that is not the last one is corruption too.
  flip_byte(files[0], last_byte - (payload_for(s0.last_zxid).empty() ? 8 : 0));  // undo
  flip_byte(files[1], 3);
  EXPECT_FALSE(Wal::open(base_, r.fn(), rec, error));
  EXPECT_NE(error.find(files[1] + " offset 0: bad segment header magic"), std::string::npos) << error;
}

TEST_P(WalTest, IncompleteLastSegmentFromACrashedRollIsRemoved) {
  {
    Replayed r;
    WalRecovery rec;
    auto w = open(r, rec);
    ASSERT_TRUE(w);
    write(*w, 1, 30);
  }
  // A segment created (and preallocated) but whose header never reached the disk.
  const std::string ghost = base_.dir + "/" + wal::segment_file_name(31);
  {
    int fd = ::open(ghost.c_str(), O_CREAT | O_RDWR, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, 64 * 1024), 0);
    ::close(fd);
  }
  EXPECT_EQ(wal::scan_dir(base_.dir, nullptr).status, wal::ScanStatus::kTornTail);
  {
    Replayed r;
    WalRecovery rec;
    auto w = open(r, rec);
    ASSERT_TRUE(w);
    expect_records(r, 1, 30);
    EXPECT_FALSE(fs::exists(ghost));
    ASSERT_FALSE(rec.messages.empty());
    EXPECT_NE(rec.messages.back().find(ghost), std::string::npos);
    write(*w, 31, 40);
  }
  Replayed r;
  WalRecovery rec;
  auto w = open(r, rec);
  ASSERT_TRUE(w);
  expect_records(r, 1, 40);
}

TEST_P(WalTest, FailedFdatasyncStopsTheLog) {
  base_.fault_fail_sync_at = 2;
  Replayed r;
  WalRecovery rec;
  auto w = open(r, rec);
  ASSERT_TRUE(w);
  w->append(1, "one");
  ASSERT_TRUE(w->sync_all());
  EXPECT_EQ(w->persisted_zxid(), 1);
  EXPECT_EQ(w->batches_written(), 1u);
  w->append(2, "two");
  EXPECT_FALSE(w->sync_all());
  EXPECT_EQ(w->persisted_zxid(), 1);
  const std::string& f = w->failure();
  EXPECT_NE(f.find("fdatasync"), std::string::npos) << f;
  EXPECT_NE(f.find(segment_files(base_.dir).front()), std::string::npos) << f;
  EXPECT_NE(f.find(std::strerror(EIO)), std::string::npos) << f;
  // With O_DIRECT the batch's sync is its RWF_DSYNC write; buffered, a separate fdatasync.
  EXPECT_EQ(f.find("RWF_DSYNC") != std::string::npos, rec.direct_io) << f;
  // No more I/O, no more acknowledgements.
  w->append(3, "three");
  w->pump();
  w->reap();
  EXPECT_FALSE(w->sync_all());
  EXPECT_EQ(w->persisted_zxid(), 1);
  EXPECT_EQ(w->batches_written(), 1u);
  EXPECT_EQ(w->records_written(), 1u);
  EXPECT_EQ(w->appended_zxid(), 3);
}

TEST_P(WalTest, WriteBeyondTheFileSizeLimitFailsAndIsNeverAcknowledged) {
  // RLIMIT_FSIZE stands in for a full disk: the write after the limit comes back short (or EFBIG).
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  base_.segment_bytes = 256 * 1024;
  {
    Replayed r;
    WalRecovery rec;
    auto w = open(r, rec);
    ASSERT_TRUE(w);
    w->append(1, "small");
    ASSERT_TRUE(w->sync_all());
    rlimit lim = old;
    lim.rlim_cur = 8192;
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &lim), 0);
    w->append(2, std::string(10000, 'x'));
    const bool ok = w->sync_all();
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &old), 0);
    EXPECT_FALSE(ok);
    EXPECT_EQ(w->persisted_zxid(), 1);
    EXPECT_NE(w->failure().find("write"), std::string::npos) << w->failure();
  }
  std::signal(SIGXFSZ, old_handler);
  {
    // ... and a segment that cannot be preallocated fails at the roll, before anything is written to it.
    rlimit lim = old;
    lim.rlim_cur = 128 * 1024;
    std::signal(SIGXFSZ, SIG_IGN);
    Replayed r;
    WalRecovery rec;
    TempDir d(dir_->path());
    WalOptions o = base_;
    o.dir = d.path();
    auto w = open(o, r, rec);
    ASSERT_TRUE(w);
    w->append(1, "x");
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &lim), 0);
    const bool ok = w->sync_all();
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &old), 0);
    std::signal(SIGXFSZ, old_handler);
    EXPECT_FALSE(ok);
    EXPECT_EQ(w->persisted_zxid(), 0);
    EXPECT_NE(w->failure().find("fallocate"), std::string::npos) << w->failure();
    EXPECT_TRUE(segment_files(d.path()).empty());
  }
  Replayed r;
  WalRecovery rec;
  auto w = open(r, rec);
  ASSERT_TRUE(w);
  ASSERT_GE(r.records.size(), 1u);
  EXPECT_EQ(r.records[0].second, "small");
}

TEST_P(WalTest, AsyncAcknowledgesFromMemoryAndSyncsOnItsInterval) {
  base_.durability = Durability::kAsync;
  base_.async_sync_interval_ms = 3600 * 1000;  // never, within this test, unless forced
  base_.fault_fail_sync_at = 1;                // the first fdatasync fails: shows when one is issued
  Replayed r;
  WalRecovery rec;
  auto w = open(r, rec);
  ASSERT_TRUE(w);
  for (Zxid z = 1; z <= 100; ++z) w->append(z, payload_for(z));
  EXPECT_EQ(w->persisted_zxid(), 100);  // before any I/O
  w->pump();
  ASSERT_TRUE(reap_until(*w, [&] { return w->records_written() == 100; }));
  w->append(101, "more");
  EXPECT_EQ(w->persisted_zxid(), 101);
  w->pump();
  ASSERT_TRUE(reap_until(*w, [&] { return w->records_written() == 101; }));
  EXPECT_EQ(w->batches_written(), 2u);
  EXPECT_TRUE(w->failure().empty()) << "no fdatasync within the interval: " << w->failure();
  // sync_all forces the fdatasync (here: the failing one).
  EXPECT_FALSE(w->sync_all());
  EXPECT_NE(w->failure().find("fdatasync"), std::string::npos) << w->failure();
  w->append(102, "after failure");
  EXPECT_EQ(w->persisted_zxid(), 101);
}

TEST_P(WalTest, AsyncWritesReachTheFileAndReplay) {
  base_.durability = Durability::kAsync;
  base_.async_sync_interval_ms = 0;
  {
    Replayed r;
    WalRecovery rec;
    auto w = open(r, rec);
    ASSERT_TRUE(w);
    for (Zxid z = 1; z <= 300; ++z) {
      w->append(z, payload_for(z));
      EXPECT_EQ(w->persisted_zxid(), z);
      if (z % 50 == 0) w->reap();
    }
    ASSERT_TRUE(w->sync_all());
  }
  Replayed r;
  WalRecovery rec;
  auto w = open(r, rec);
  ASSERT_TRUE(w);
  expect_records(r, 1, 300);
}

TEST_P(WalTest, NoneWritesNothing) {
  base_.durability = Durability::kNone;
  {
    Replayed r;
    WalRecovery rec;
    auto w = open(r, rec);
    ASSERT_TRUE(w);
    EXPECT_GE(w->completion_fd(), 0);
    for (Zxid z = 1; z <= 10; ++z) w->append(z, "x");
    EXPECT_EQ(w->persisted_zxid(), 10);
    EXPECT_EQ(w->appended_zxid(), 10);
    w->pump();
    w->reap();
    EXPECT_TRUE(w->sync_all());
    EXPECT_EQ(w->batches_written(), 0u);
  }
  EXPECT_TRUE(segment_files(base_.dir).empty());
  base_.durability = Durability::kFsync;
  Replayed r;
  WalRecovery rec;
  auto w = open(r, rec);
  ASSERT_TRUE(w);
  EXPECT_EQ(rec.records, 0u);
}

// The first zxid of each segment file, in order.
std::vector<Zxid> segment_first_zxids(const std::string& dir) {
  std::vector<Zxid> out;
  for (const std::string& f : segment_files(dir)) out.push_back(*wal::parse_segment_file_name(fs::path(f).filename().string()));
  return out;
}

TEST_P(WalTest, PurgeBeforeRemovesOnlySegmentsWhollyAtOrBelowTheZxid) {
  base_.segment_bytes = 64 * 1024;
  Replayed r0;
  WalRecovery rec0;
  auto w = open(r0, rec0);
  ASSERT_TRUE(w);
  write(*w, 1, 1500, 0, 23);
  const std::vector<Zxid> firsts = segment_first_zxids(base_.dir);
  ASSERT_GT(firsts.size(), 8u);
  EXPECT_EQ(w->purge_before(0), 0u);
  EXPECT_EQ(w->purge_before(firsts[1] - 2), 0u);  // segment 0 still holds zxid firsts[1] - 1
  EXPECT_EQ(segment_first_zxids(base_.dir), firsts);
  // zxid = firsts[3] - 1: segments 0..2 hold only zxids up to it; segment 3 starts just above it.
  EXPECT_EQ(w->purge_before(firsts[3] - 1), 3u);
  EXPECT_EQ(segment_first_zxids(base_.dir), std::vector<Zxid>(firsts.begin() + 3, firsts.end()));
  // A zxid inside segment 5: segments 3 and 4 go, 5 stays.
  EXPECT_EQ(w->purge_before(firsts[5] + 1), 2u);
  EXPECT_EQ(segment_first_zxids(base_.dir).front(), firsts[5]);
  // Everything covered: all but the segment being appended to.
  EXPECT_EQ(w->purge_before(INT64_MAX), firsts.size() - 6);
  ASSERT_EQ(segment_first_zxids(base_.dir), std::vector<Zxid>{firsts.back()});
  EXPECT_EQ(w->purge_before(INT64_MAX), 0u);
  // Appends continue in the kept segment and the next ones; a reopen replays from the oldest kept record.
  write(*w, 1501, 1600);
  w.reset();
  Replayed r;
  WalRecovery rec;
  w = open(r, rec);
  ASSERT_TRUE(w);
  expect_records(r, firsts.back(), 1600);
  EXPECT_FALSE(rec.truncated_tail);
}

TEST_P(WalTest, PurgeBeforeLeavesInFlightIoAlone) {
  base_.segment_bytes = 64 * 1024;
  Replayed r0;
  WalRecovery rec0;
  auto w = open(r0, rec0);
  ASSERT_TRUE(w);
  write(*w, 1, 800);
  // A batch in flight (written and synced by the kernel meanwhile), appends queued behind it.
  for (Zxid z = 801; z <= 900; ++z) w->append(z, payload_for(z));
  w->pump();
  for (Zxid z = 901; z <= 1000; ++z) w->append(z, payload_for(z));
  const size_t before = segment_files(base_.dir).size();
  ASSERT_GT(before, 2u);
  EXPECT_EQ(w->purge_before(INT64_MAX), before - 1);
  ASSERT_TRUE(reap_until(*w, [&] { return w->persisted_zxid() == 1000; })) << w->failure();
  EXPECT_TRUE(w->failure().empty());
  ASSERT_TRUE(w->sync_all());
  const Zxid oldest = segment_first_zxids(base_.dir).front();
  w.reset();
  Replayed r;
  WalRecovery rec;
  w = open(r, rec);
  ASSERT_TRUE(w);
  expect_records(r, oldest, 1000);
}

TEST(WalScan, ScanSegmentWalksAnInMemorySegment) {
  // Header block, three records, zeros: the same walk scan_dir does on a file.
  std::vector<uint8_t> seg(wal::kMinSegmentBytes, 0);
  wal::SegmentHeader h;
  h.first_zxid = 7;
  h.segment_bytes = seg.size();
  wal::encode_segment_header(h, seg.data());
  uint64_t off = wal::kSegmentHeaderBlockBytes;
  for (Zxid z : {7, 8, 10}) {
    wal::encode_record(z, payload_for(z), seg.data() + off);
    off += record_bytes(payload_for(z).size());
  }
  std::vector<Zxid> seen;
  wal::ScanReplayFn fn = [&](Zxid z, std::string_view p) {
    seen.push_back(z);
    EXPECT_EQ(p, payload_for(z));
  };
  wal::ScanResult res;
  ASSERT_TRUE(wal::scan_segment("mem/" + wal::segment_file_name(7), seg.data(), seg.size(), true, &fn, res));
  EXPECT_EQ(res.status, wal::ScanStatus::kClean);
  EXPECT_EQ(seen, (std::vector<Zxid>{7, 8, 10}));
  ASSERT_EQ(res.segments.size(), 1u);
  EXPECT_EQ(res.segments[0].data_end, off);
  EXPECT_EQ(res.last_zxid, 10);
  // Continuing a scan whose previous segments reached zxid 9: record 8 is out of order.
  wal::ScanResult later;
  later.last_zxid = 9;
  EXPECT_FALSE(wal::scan_segment("mem/" + wal::segment_file_name(7), seg.data(), seg.size(), true, nullptr, later));
  EXPECT_EQ(later.status, wal::ScanStatus::kCorrupt);
  // A torn last record: flagged as the tail, with its offset.
  seg[off - 1] ^= 1;
  wal::ScanResult torn;
  ASSERT_TRUE(wal::scan_segment("mem/" + wal::segment_file_name(7), seg.data(), seg.size(), true, nullptr, torn));
  EXPECT_EQ(torn.status, wal::ScanStatus::kTornTail);
  EXPECT_EQ(torn.torn_offset, off - record_bytes(payload_for(10).size()));
  // The same damage in a segment that is not the last is corruption.
  wal::ScanResult mid;
  EXPECT_FALSE(wal::scan_segment("mem/" + wal::segment_file_name(7), seg.data(), seg.size(), false, nullptr, mid));
  EXPECT_EQ(mid.status, wal::ScanStatus::kCorrupt);
}

TEST_P(WalTest, ZxidOrderViolationAborts) {
  // The "fast" (fork-only) style: the child uses the parent's temporary directory, which the parent removes
  // ("threadsafe" re-runs SetUp in a new process that aborts before its TearDown).
  GTEST_FLAG_SET(death_test_style, "fast");
  EXPECT_DEATH(
      {
        Replayed r;
        WalRecovery rec;
        std::string error;
        auto w = Wal::open(base_, r.fn(), rec, error);
        if (w) {
          w->append(5, "a");
          w->append(5, "b");
        }
      },
      "zxid not above");
}

INSTANTIATE_TEST_SUITE_P(Storage, WalTest,
                         ::testing::Values(Where{"disk_direct", false, true}, Where{"disk_buffered", false, false},
                                           Where{"shm_buffered", true, false}, Where{"shm_direct", true, true}),
                         [](const ::testing::TestParamInfo<Where>& i) { return std::string(i.param.name); });

}  // namespace
}  // namespace uk
