// Wal::truncate_after and Wal::reset (storage/src/wal/wal_truncate.cc): the ZAB synchronization cuts. Every test
// keeps a model of the log (the records that must replay, in order), runs on real files with real io_uring, and
// checks after each reopen that replay equals the model and that the files are what the format says: a clean
// scan, preallocated segments, zeros after each segment's data, no leftover copy.
//
// The tests run on the project disk and on /dev/shm, each with try_direct_io false and true. With true, the
// fixture probes O_DIRECT in the test directory itself and asserts that the Wal chose exactly that path
// (WalRecovery.direct_io); where the filesystem refuses O_DIRECT the test prints so and runs the buffered path.
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
#include <iostream>
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
using Records = std::vector<std::pair<Zxid, std::string>>;
using waltest::disk_base;
using waltest::read_whole;
using waltest::reap_until;
using waltest::TempDir;

// Bytes that depend on zxid and salt (a record rewritten under the same zxid differs from the removed one); some
// payloads are empty, some span several 4 KiB blocks, so cuts land at every kind of offset.
std::string payload_for(Zxid zxid, int salt) {
  const uint64_t z = static_cast<uint64_t>(zxid) + static_cast<uint64_t>(salt) * 7;
  size_t len = (z * 7919u) % 900u;
  if (z % 89 == 0) len = 0;
  if (z % 199 == 3) len = 9000;
  std::string s(len, '\0');
  for (size_t i = 0; i < len; ++i) s[i] = static_cast<char>((z * 131u + i * 7u + static_cast<uint64_t>(salt)) & 0xFF);
  return s;
}

// Empty when O_DIRECT works in `dir` (an aligned 4 KiB write through an O_DIRECT fd), else why not.
std::string direct_io_refused(const std::string& dir) {
  const std::string path = dir + "/.probe";
  int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_RDWR | O_DIRECT, 0644);
  if (fd < 0) return std::string("open O_DIRECT: ") + std::strerror(errno);
  void* block = nullptr;
  std::string why;
  if (::posix_memalign(&block, 4096, 4096) != 0) {
    why = "posix_memalign failed";
  } else {
    std::memset(block, 0, 4096);
    if (::pwrite(fd, block, 4096, 0) != 4096) why = std::string("O_DIRECT write: ") + std::strerror(errno);
    std::free(block);
  }
  ::close(fd);
  ::unlink(path.c_str());
  return why;
}

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> segment_paths(const std::string& dir) {
  std::vector<std::string> out;
  for (const std::string& name : files_in(dir)) {
    if (wal::parse_segment_file_name(name)) out.push_back(dir + "/" + name);
  }
  return out;
}

ino_t inode_of(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

void flip_byte(const std::string& path, uint64_t offset) {
  int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0) << path;
  uint8_t b = 0;
  ASSERT_EQ(::pread(fd, &b, 1, static_cast<off_t>(offset)), 1);
  b ^= 0x40;
  ASSERT_EQ(::pwrite(fd, &b, 1, static_cast<off_t>(offset)), 1);
  ::close(fd);
}

// The first difference between what replayed and what should have, for a readable failure.
::testing::AssertionResult same_records(const Records& got, const Records& want) {
  for (size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
    if (got[i].first != want[i].first || got[i].second != want[i].second) {
      return ::testing::AssertionFailure() << "record " << i << ": replayed zxid " << got[i].first << " ("
                                           << got[i].second.size() << " bytes), expected zxid " << want[i].first
                                           << " (" << want[i].second.size() << " bytes)";
    }
  }
  if (got.size() != want.size()) {
    const std::string last = want.empty() ? "" : "; last expected zxid " + std::to_string(want.back().first);
    return ::testing::AssertionFailure() << "replayed " << got.size() << " records, expected " << want.size() << last;
  }
  return ::testing::AssertionSuccess();
}

// ---------------------------------------------------------------------------------------------------------------

struct Place {
  const char* name;
  bool shm;
  bool try_direct;
};

class WalTruncateTest : public ::testing::TestWithParam<Place> {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<TempDir>(GetParam().shm ? std::string("/dev/shm") : disk_base());
    ASSERT_FALSE(dir_->path().empty()) << "mkdtemp failed";
    base_.dir = dir_->path() + "/wal";
    fs::create_directories(base_.dir);
    base_.try_direct_io = GetParam().try_direct;
    base_.segment_bytes = 1 << 20;
    direct_refused_ = direct_io_refused(base_.dir);
  }

  // Opens base_ (or `o`), checks the replay against the model and which write path the Wal chose.
  std::unique_ptr<Wal> open(const WalOptions& o, WalRecovery& rec) {
    Records replayed;
    std::string error;
    auto w = Wal::open(
        o, [&](Zxid z, std::string_view p) { replayed.emplace_back(z, std::string(p)); }, rec, error);
    EXPECT_TRUE(w) << error;
    if (!w) return w;
    EXPECT_TRUE(same_records(replayed, model_));
    EXPECT_EQ(rec.last_zxid, model_.empty() ? 0 : model_.back().first);
    EXPECT_FALSE(rec.truncated_tail) << rec.truncated_file << " offset " << rec.truncated_offset
                                     << ": a cut must leave clean end-of-data, not a torn tail";
    const bool writes = o.durability != Durability::kNone;
    EXPECT_EQ(rec.direct_io, writes && o.try_direct_io && direct_refused_.empty())
        << "O_DIRECT probe in " << o.dir << ": " << (direct_refused_.empty() ? "works" : direct_refused_);
    if (writes && o.try_direct_io && !direct_refused_.empty()) {
      const bool explained = std::any_of(rec.messages.begin(), rec.messages.end(), [](const std::string& m) {
        return m.find("O_DIRECT unavailable") != std::string::npos;
      });
      EXPECT_TRUE(explained) << "the Wal fell back to buffered writes without saying why";
      if (!noted_) {
        std::cout << "[   NOTE   ] O_DIRECT unavailable in " << o.dir << " (" << direct_refused_
                  << "): this test ran the buffered-write path\n";
        noted_ = true;
      }
    }
    return w;
  }
  std::unique_ptr<Wal> open(WalRecovery& rec) { return open(base_, rec); }
  std::unique_ptr<Wal> open() {
    WalRecovery rec;
    return open(rec);
  }

  // Closes `w`, checks the files, reopens and checks the replay; `w` is the reopened log.
  void reopen(std::unique_ptr<Wal>& w) {
    w.reset();
    check_files();
    w = open();
    ASSERT_TRUE(w);
  }

  void append(Wal& w, Zxid z, int salt = 0) {
    // A zxid at or below appended_zxid() aborts the process (a broken caller contract): after a wrong cut or
    // replay, fail this test instead of every test after it.
    if (z <= w.appended_zxid()) {
      ADD_FAILURE() << "append " << z << " but appended_zxid() is " << w.appended_zxid();
      return;
    }
    const std::string p = payload_for(z, salt);
    w.append(z, p);
    model_.emplace_back(z, p);
  }
  // Appends [from, to], reaping now and then, and makes them durable.
  void write(Wal& w, Zxid from, Zxid to, int salt = 0) {
    for (Zxid z = from; z <= to; ++z) {
      append(w, z, salt);
      if ((z - from) % 13 == 0) w.reap();
    }
    ASSERT_TRUE(w.sync_all()) << w.failure();
    ASSERT_EQ(w.persisted_zxid(), to);
  }

  // truncate_after(zxid), checked against the contract, and the same on the model.
  void truncate(Wal& w, Zxid zxid) {
    const Zxid appended = w.appended_zxid();
    std::string error;
    ASSERT_TRUE(w.truncate_after(zxid, error)) << error;
    EXPECT_TRUE(w.failure().empty()) << w.failure();
    EXPECT_EQ(w.appended_zxid(), std::min(appended, zxid));
    EXPECT_LE(w.persisted_zxid(), w.appended_zxid());
    std::erase_if(model_, [zxid](const auto& r) { return r.first > zxid; });
  }

  // The files as the format says: a clean scan that finds exactly the model's records, every segment
  // preallocated, non-empty (open() would remove an empty last one) and all zeros after its data, no copy left.
  void check_files() {
    Records scanned;
    wal::ScanReplayFn fn = [&](Zxid z, std::string_view p) { scanned.emplace_back(z, std::string(p)); };
    wal::ScanResult scan = wal::scan_dir(base_.dir, &fn);
    ASSERT_EQ(scan.status, wal::ScanStatus::kClean) << scan.error << scan.torn_file << " " << scan.torn_reason;
    EXPECT_TRUE(same_records(scanned, model_));
    uint64_t model_bytes = 0;
    for (const auto& r : model_) model_bytes += record_bytes(r.second.size());
    uint64_t data_bytes = 0;
    for (const wal::ScanSegment& s : scan.segments) {
      data_bytes += s.data_end - wal::kSegmentHeaderBlockBytes - s.pad_bytes;
      EXPECT_EQ(s.file_bytes, base_.segment_bytes) << s.path;
      EXPECT_GT(s.records, 0u) << s.path;
      const std::string bytes = read_whole(s.path);
      ASSERT_EQ(bytes.size(), s.file_bytes);
      const size_t nonzero = bytes.find_first_not_of('\0', s.data_end);
      EXPECT_EQ(nonzero, std::string::npos) << s.path << ": non-zero byte at " << nonzero << " after the data end "
                                            << s.data_end;
    }
    EXPECT_EQ(data_bytes, model_bytes);
    for (const std::string& name : files_in(base_.dir)) {
      EXPECT_EQ(name.find(".tmp"), std::string::npos) << "leftover " << name;
    }
  }

  // Per segment in order: (path, first zxid, last zxid, data end).
  struct Seg {
    std::string path;
    Zxid first = 0;
    Zxid last = 0;
    uint64_t data_end = 0;
  };
  std::vector<Seg> segments() {
    wal::ScanResult scan = wal::scan_dir(base_.dir, nullptr);
    EXPECT_EQ(scan.status, wal::ScanStatus::kClean) << scan.error;
    std::vector<Seg> out;
    for (const auto& s : scan.segments) out.push_back(Seg{s.path, s.first_zxid, s.last_zxid, s.data_end});
    return out;
  }

  std::unique_ptr<TempDir> dir_;
  WalOptions base_;
  Records model_;
  std::string direct_refused_;
  bool noted_ = false;
};

TEST_P(WalTruncateTest, CutInsideTheLastSegmentKeepsTheRecordsAtOrBelowAndAppendsContinue) {
  auto w = open();
  ASSERT_TRUE(w);
  write(*w, 1, 300);
  const std::string file = segment_paths(base_.dir).at(0);
  const std::string before = read_whole(file);
  // A cut inside a block exercises the O_DIRECT tail block. (Where padding put a record at a block boundary,
  // the record before it is the first one removed.)
  Zxid first_cut = 251;
  while (waltest::record_offset(file, first_cut) % wal::kBlockBytes == 0) --first_cut;
  const uint64_t cut = waltest::record_offset(file, first_cut);
  truncate(*w, first_cut - 1);
  EXPECT_EQ(w->persisted_zxid(), first_cut - 1);
  // The kept bytes are untouched, everything after them is zero.
  const std::string after = read_whole(file);
  ASSERT_EQ(after.size(), before.size());
  EXPECT_EQ(after.compare(0, cut, before, 0, cut), 0);
  EXPECT_EQ(after.find_first_not_of('\0', cut), std::string::npos);
  EXPECT_EQ(segments().back().data_end, cut);
  // Appends continue right after the last kept record, with different bytes under the removed zxids.
  write(*w, first_cut, 400, /*salt=*/1);
  ASSERT_NO_FATAL_FAILURE(reopen(w));
  write(*w, 401, 420, 2);
  ASSERT_NO_FATAL_FAILURE(reopen(w));
}

TEST_P(WalTruncateTest, CutAtASegmentBoundaryKeepsThatSegmentAsItIs) {
  base_.segment_bytes = 64 * 1024;
  auto w = open();
  ASSERT_TRUE(w);
  write(*w, 1, 1500);
  const std::vector<Seg> segs = segments();
  ASSERT_GT(segs.size(), 8u);
  const Seg s3 = segs[3];
  const ino_t ino = inode_of(s3.path);
  const std::string bytes = read_whole(s3.path);
  truncate(*w, s3.last);  // segment 4 starts at s3.last + 1
  std::vector<Seg> now = segments();
  ASSERT_EQ(now.size(), 4u);
  EXPECT_EQ(now.back().path, s3.path);
  EXPECT_EQ(now.back().data_end, s3.data_end);
  EXPECT_EQ(inode_of(s3.path), ino) << "a segment kept whole needs no rewrite";
  EXPECT_EQ(read_whole(s3.path), bytes);
  // Appends first fill what room segment 3 has left, then roll.
  write(*w, s3.last + 1, s3.last + 200, 1);
  ASSERT_NO_FATAL_FAILURE(reopen(w));
  // The first record of a segment: it stays alone in its segment.
  const std::vector<Seg> segs2 = segments();
  const Seg s4 = segs2.at(4);
  truncate(*w, s4.first);
  now = segments();
  ASSERT_EQ(now.size(), 5u);
  EXPECT_EQ(now.back().first, s4.first);
  EXPECT_EQ(now.back().last, s4.first);
  ASSERT_NO_FATAL_FAILURE(reopen(w));
  write(*w, s4.first + 1, s4.first + 50, 2);
  ASSERT_NO_FATAL_FAILURE(reopen(w));
}

TEST_P(WalTruncateTest, CutInAnEarlierSegmentDeletesTheLaterOnes) {
  base_.segment_bytes = 64 * 1024;
  auto w = open();
  ASSERT_TRUE(w);
  write(*w, 1, 1500);
  const std::vector<Seg> segs = segments();
  ASSERT_GT(segs.size(), 8u);
  const Zxid mid = (segs[2].first + segs[2].last) / 2;
  const uint64_t cut = waltest::record_offset(segs[2].path, mid + 1);
  truncate(*w, mid);
  EXPECT_EQ(w->persisted_zxid(), mid);
  const std::vector<Seg> now = segments();
  ASSERT_EQ(now.size(), 3u);
  EXPECT_EQ(now.back().path, segs[2].path);
  EXPECT_EQ(now.back().last, mid);
  EXPECT_EQ(now.back().data_end, cut);
  for (size_t i = 3; i < segs.size(); ++i) EXPECT_FALSE(fs::exists(segs[i].path)) << segs[i].path;
  check_files();
  // Appends fill segment 2 again and roll into new segments named after their first records.
  write(*w, mid + 1, mid + 800, 1);
  const std::vector<Seg> grown = segments();
  ASSERT_GT(grown.size(), 4u);
  for (size_t i = 1; i < grown.size(); ++i) EXPECT_EQ(grown[i].first, grown[i - 1].last + 1) << grown[i].path;
  ASSERT_NO_FATAL_FAILURE(reopen(w));
}

TEST_P(WalTruncateTest, ZxidBetweenRecordsKeepsEveryRecordBelowIt) {
  base_.segment_bytes = 64 * 1024;
  auto w = open();
  ASSERT_TRUE(w);
  for (Zxid z = 1; z <= 1999; z += 2) append(*w, z);  // odd zxids only
  ASSERT_TRUE(w->sync_all()) << w->failure();
  truncate(*w, 1000);  // between 999 and 1001
  EXPECT_EQ(w->appended_zxid(), 1000);
  EXPECT_EQ(w->persisted_zxid(), 1000);
  EXPECT_EQ(model_.back().first, 999);
  ASSERT_NO_FATAL_FAILURE(reopen(w));
  EXPECT_EQ(w->appended_zxid(), 999);  // a reopen knows only the records
  append(*w, 1000, 1);
  append(*w, 1002, 1);
  ASSERT_TRUE(w->sync_all()) << w->failure();
  ASSERT_NO_FATAL_FAILURE(reopen(w));
}

TEST_P(WalTruncateTest, AtOrAboveTheLastRecordChangesNothing) {
  auto w = open();
  ASSERT_TRUE(w);
  write(*w, 1, 100);
  const std::string file = segment_paths(base_.dir).at(0);
  const std::string bytes = read_whole(file);
  const ino_t ino = inode_of(file);
  const uint64_t batches = w->batches_written();
  truncate(*w, 100);
  truncate(*w, 5000);
  EXPECT_EQ(w->appended_zxid(), 100);
  EXPECT_EQ(w->persisted_zxid(), 100);
  EXPECT_EQ(read_whole(file), bytes);
  EXPECT_EQ(inode_of(file), ino);
  for (Zxid z = 101; z <= 110; ++z) append(*w, z);
  ASSERT_TRUE(w->sync_all()) << w->failure();
  EXPECT_EQ(w->batches_written(), batches + 1) << "the truncations wrote nothing";
  ASSERT_NO_FATAL_FAILURE(reopen(w));
}

TEST_P(WalTruncateTest, ToZeroEmptiesTheLog) {
  base_.segment_bytes = 64 * 1024;
  auto w = open();
  ASSERT_TRUE(w);
  write(*w, 1, 800);
  ASSERT_GT(segment_paths(base_.dir).size(), 2u);
  truncate(*w, 0);
  EXPECT_EQ(w->appended_zxid(), 0);
  EXPECT_EQ(w->persisted_zxid(), 0);
  EXPECT_TRUE(segment_paths(base_.dir).empty());
  ASSERT_TRUE(w->sync_all());  // nothing to write or sync, and no segment to sync
  EXPECT_TRUE(w->failure().empty()) << w->failure();
  ASSERT_NO_FATAL_FAILURE(reopen(w));
  write(*w, 1, 50, 1);
  EXPECT_EQ(fs::path(segment_paths(base_.dir).at(0)).filename(), wal::segment_file_name(1));
  ASSERT_NO_FATAL_FAILURE(reopen(w));
}

TEST_P(WalTruncateTest, InFlightBatchIsWaitedForAndCutQueuedRecordsAboveAreDropped) {
  auto w = open();
  ASSERT_TRUE(w);
  write(*w, 1, 100);
  for (Zxid z = 101; z <= 200; ++z) append(*w, z);
  w->pump();  // 101..200 in flight
  for (Zxid z = 201; z <= 300; ++z) append(*w, z);  // queued behind it
  const uint64_t records = w->records_written();
  truncate(*w, 150);  // inside the batch that was in flight
  EXPECT_EQ(w->records_written(), records + 100) << "the batch in flight completed before the cut";
  EXPECT_EQ(w->persisted_zxid(), 150);
  EXPECT_EQ(segments().back().last, 150);
  const uint64_t batches = w->batches_written();
  ASSERT_TRUE(w->sync_all());
  EXPECT_EQ(w->batches_written(), batches) << "records 201..300 were dropped, not written";
  ASSERT_NO_FATAL_FAILURE(reopen(w));
  write(*w, 151, 170, 1);
  ASSERT_NO_FATAL_FAILURE(reopen(w));
}

TEST_P(WalTruncateTest, CutAmongQueuedRecordsKeepsTheQueuedOnesBelow) {
  auto w = open();
  ASSERT_TRUE(w);
  write(*w, 1, 100);
  for (Zxid z = 101; z <= 200; ++z) append(*w, z);
  w->pump();  // 101..200 in flight
  for (Zxid z = 201; z <= 300; ++z) append(*w, z);
  truncate(*w, 250);  // nothing written is above 250: no file changes, 201..250 stay queued
  EXPECT_EQ(w->persisted_zxid(), 200);
  EXPECT_EQ(segments().back().last, 200);
  ASSERT_TRUE(w->sync_all()) << w->failure();
  EXPECT_EQ(w->persisted_zxid(), 250);
  ASSERT_NO_FATAL_FAILURE(reopen(w));

  // Cut in the files, then queue more and cut among those: the second cut must not touch the files again.
  truncate(*w, 220);
  for (Zxid z = 221; z <= 240; ++z) append(*w, z, 1);
  truncate(*w, 230);
  EXPECT_EQ(segments().back().last, 220);
  ASSERT_TRUE(w->sync_all()) << w->failure();
  EXPECT_EQ(w->persisted_zxid(), 230);
  ASSERT_NO_FATAL_FAILURE(reopen(w));

  // Nothing written yet at all: the cut only shortens the queue.
  TempDir d(dir_->path());
  base_.dir = d.path();
  model_.clear();
  w = open();
  ASSERT_TRUE(w);
  for (Zxid z = 1; z <= 50; ++z) append(*w, z);
  truncate(*w, 20);
  EXPECT_EQ(w->persisted_zxid(), 0);
  EXPECT_TRUE(segment_paths(base_.dir).empty());
  ASSERT_TRUE(w->sync_all()) << w->failure();
  EXPECT_EQ(w->persisted_zxid(), 20);
  EXPECT_EQ(w->records_written(), 20u);
  ASSERT_NO_FATAL_FAILURE(reopen(w));
}

TEST_P(WalTruncateTest, RandomAppendsCutsAndReopensMatchTheModel) {
  // Cuts at random zxids with batches written, in flight and queued, across small segments: every tail-block
  // offset the O_DIRECT path can meet, rolls after cuts, and reopens in between.
  base_.segment_bytes = 64 * 1024;
  std::mt19937 rng(20240611);
  auto w = open();
  ASSERT_TRUE(w);
  Zxid next = 1;
  for (int round = 0; round < 60; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const int n = 1 + static_cast<int>(rng() % 250);
    for (int i = 0; i < n; ++i) {
      append(*w, next, round);
      next += 1 + static_cast<Zxid>(rng() % 3 == 0);
      if (rng() % 20 == 0) w->pump();
      if (rng() % 40 == 0) w->reap();
    }
    switch (rng() % 4) {
      case 0: ASSERT_TRUE(w->sync_all()) << w->failure(); break;
      case 1: w->pump(); break;  // a batch in flight, maybe more queued
      case 2: break;             // queued only
      default: w->reap(); break;
    }
    const Zxid top = w->appended_zxid();
    const Zxid zxid = rng() % 10 == 0 ? 0 : std::max<Zxid>(0, top - static_cast<Zxid>(rng() % 600) + 5);
    ASSERT_NO_FATAL_FAILURE(truncate(*w, zxid));
    next = w->appended_zxid() + 1 + static_cast<Zxid>(rng() % 2);
    if (rng() % 4 == 0) {
      ASSERT_TRUE(w->sync_all()) << w->failure();
      ASSERT_NO_FATAL_FAILURE(reopen(w));
    }
    if (HasFailure()) return;  // the first wrong round says enough
  }
  ASSERT_TRUE(w->sync_all()) << w->failure();
  ASSERT_NO_FATAL_FAILURE(reopen(w));
}

TEST_P(WalTruncateTest, PurgeAndPumpAfterACut) {
  base_.segment_bytes = 64 * 1024;
  auto w = open();
  ASSERT_TRUE(w);
  write(*w, 1, 2000);
  const std::vector<Seg> segs = segments();
  ASSERT_GT(segs.size(), 10u);
  truncate(*w, (segs[7].first + segs[7].last) / 2);
  // purge_before still keeps the segment appends go to, and what it removes no longer replays.
  EXPECT_EQ(w->purge_before(segs[5].first - 1), 5u);
  std::erase_if(model_, [&](const auto& r) { return r.first < segs[5].first; });
  // Appends through pump and reap alone (no sync_all).
  const Zxid from = w->appended_zxid() + 1;
  for (Zxid z = from; z < from + 300; ++z) {
    append(*w, z, 1);
    if (z % 7 == 0) w->pump();
  }
  w->pump();
  ASSERT_TRUE(reap_until(*w, [&] { return w->persisted_zxid() == from + 299; })) << w->failure();
  ASSERT_NO_FATAL_FAILURE(reopen(w));
}

TEST_P(WalTruncateTest, ResetDiscardsEverythingAndTheNextAppendStartsAFreshSegment) {
  base_.segment_bytes = 64 * 1024;
  auto w = open();
  ASSERT_TRUE(w);
  write(*w, 1, 1500);
  for (Zxid z = 1501; z <= 1600; ++z) append(*w, z);
  w->pump();  // in flight
  for (Zxid z = 1601; z <= 1700; ++z) append(*w, z);  // queued
  std::string error;
  ASSERT_TRUE(w->reset(0x500000000, error)) << error;
  model_.clear();
  EXPECT_EQ(w->appended_zxid(), 0x500000000);
  EXPECT_EQ(w->persisted_zxid(), 0x500000000);
  EXPECT_TRUE(segment_paths(base_.dir).empty());
  const uint64_t batches = w->batches_written();
  ASSERT_TRUE(w->sync_all()) << w->failure();
  EXPECT_EQ(w->batches_written(), batches) << "queued records were dropped";
  ASSERT_NO_FATAL_FAILURE(reopen(w));  // an empty log
  write(*w, 0x500000001, 0x500000020);
  ASSERT_EQ(segment_paths(base_.dir).size(), 1u);
  EXPECT_EQ(fs::path(segment_paths(base_.dir)[0]).filename(), wal::segment_file_name(0x500000001));
  ASSERT_NO_FATAL_FAILURE(reopen(w));

  // `after` below the old records: they are gone all the same, and lower zxids follow.
  ASSERT_TRUE(w->reset(10, error)) << error;
  model_.clear();
  write(*w, 11, 40, 1);
  ASSERT_NO_FATAL_FAILURE(reopen(w));
}

TEST_P(WalTruncateTest, ResetWithOnlyQueuedRecords) {
  auto w = open();
  ASSERT_TRUE(w);
  for (Zxid z = 1; z <= 50; ++z) append(*w, z);
  std::string error;
  ASSERT_TRUE(w->reset(100, error)) << error;
  model_.clear();
  ASSERT_TRUE(w->sync_all()) << w->failure();
  EXPECT_EQ(w->batches_written(), 0u);
  EXPECT_TRUE(segment_paths(base_.dir).empty());
  write(*w, 101, 120);
  ASSERT_NO_FATAL_FAILURE(reopen(w));
}

TEST_P(WalTruncateTest, AsyncCutsLeaveNoSyncPendingOnADeletedSegment) {
  // kAsync with a sync interval longer than the test: writes stay unsynced until sync_all forces one. After the
  // log is cut to nothing there is no segment to sync, and after a cut inside it the rewrite synced it.
  base_.durability = Durability::kAsync;
  base_.async_sync_interval_ms = 3600 * 1000;
  auto w = open();
  ASSERT_TRUE(w);
  for (Zxid z = 1; z <= 100; ++z) append(*w, z);
  w->pump();
  ASSERT_TRUE(reap_until(*w, [&] { return w->records_written() == 100; }));
  truncate(*w, 60);
  EXPECT_EQ(w->persisted_zxid(), 60);  // kAsync acknowledges from memory
  ASSERT_TRUE(w->sync_all()) << w->failure();
  ASSERT_NO_FATAL_FAILURE(reopen(w));
  for (Zxid z = 61; z <= 120; ++z) append(*w, z, 1);
  w->pump();
  ASSERT_TRUE(reap_until(*w, [&] { return w->records_written() == 60; }));
  truncate(*w, 0);
  ASSERT_TRUE(w->sync_all()) << w->failure();
  std::string error;
  for (Zxid z = 1; z <= 30; ++z) append(*w, z, 2);
  w->pump();
  ASSERT_TRUE(reap_until(*w, [&] { return w->records_written() == 90; }));
  ASSERT_TRUE(w->reset(500, error)) << error;
  model_.clear();
  ASSERT_TRUE(w->sync_all()) << w->failure();
  ASSERT_NO_FATAL_FAILURE(reopen(w));
}

TEST_P(WalTruncateTest, DurabilityNoneCutsTheFilesOfAnEarlierRun) {
  auto w = open();
  ASSERT_TRUE(w);
  write(*w, 1, 100);
  w.reset();
  WalOptions none = base_;
  none.durability = Durability::kNone;
  WalRecovery rec;
  w = open(none, rec);
  ASSERT_TRUE(w);
  truncate(*w, 40);
  w.reset();
  check_files();
  w = open();
  ASSERT_TRUE(w);
}

TEST_P(WalTruncateTest, FailedCutReportsTheFileFailsTheWalAndLeavesTheOldSegment) {
  // RLIMIT_FSIZE below the segment size: preallocating the copy fails (EFBIG), as a full disk would.
  auto w = open();
  ASSERT_TRUE(w);
  write(*w, 1, 100);
  const std::string file = segment_paths(base_.dir).at(0);
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  rlimit lim = old;
  lim.rlim_cur = 256 * 1024;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &lim), 0);
  std::string error;
  const bool ok = w->truncate_after(50, error);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &old), 0);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_FALSE(ok);
  EXPECT_NE(error.find(file + ".tmp"), std::string::npos) << error;
  EXPECT_NE(error.find("offset"), std::string::npos) << error;
  EXPECT_NE(error.find(std::strerror(EFBIG)), std::string::npos) << error;
  EXPECT_EQ(w->failure(), error);
  EXPECT_LE(w->persisted_zxid(), 50) << "records above the cut may be gone: they are no longer acknowledged";
  // A failed Wal takes no more cuts, resets or writes.
  EXPECT_FALSE(w->truncate_after(10, error));
  EXPECT_EQ(error, w->failure());
  EXPECT_FALSE(w->reset(10, error));
  EXPECT_EQ(w->appended_zxid(), 50);
  if (w->appended_zxid() < 51) w->append(51, "x");  // not in the model: it must not reach the file
  EXPECT_FALSE(w->sync_all());
  // The cut never happened: the old segment is whole and the copy is gone.
  ASSERT_NO_FATAL_FAILURE(reopen(w));
}

TEST_P(WalTruncateTest, DamagedRecordMetWhileCuttingFailsWithItsOffset) {
  auto w = open();
  ASSERT_TRUE(w);
  write(*w, 1, 100);
  const std::string file = segment_paths(base_.dir).at(0);
  const uint64_t off = waltest::record_offset(file, 10);
  flip_byte(file, off + 8);  // record 10's zxid field: a crc mismatch
  std::string error;
  EXPECT_FALSE(w->truncate_after(50, error));
  EXPECT_NE(error.find("wal corrupt: " + file + " offset " + std::to_string(off) + ": crc mismatch"),
            std::string::npos)
      << error;
  EXPECT_EQ(w->failure(), error);
}

TEST_P(WalTruncateTest, CopyLeftByACrashBeforeTheRenameIsRemovedAtOpen) {
  auto w = open();
  ASSERT_TRUE(w);
  write(*w, 1, 100);
  w.reset();
  // What a crash between writing the copy and renaming it leaves: the whole old segment and a partial copy.
  const std::string copy = segment_paths(base_.dir).at(0) + ".tmp";
  {
    int fd = ::open(copy.c_str(), O_CREAT | O_WRONLY, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, 8192), 0);
    ::close(fd);
  }
  WalRecovery rec;
  w = open(rec);
  ASSERT_TRUE(w);
  EXPECT_FALSE(fs::exists(copy));
  const bool said = std::any_of(rec.messages.begin(), rec.messages.end(),
                                [&](const std::string& m) { return m.find(copy) != std::string::npos; });
  EXPECT_TRUE(said) << "open() says which leftover it removed";
  truncate(*w, 70);
  ASSERT_NO_FATAL_FAILURE(reopen(w));
}

INSTANTIATE_TEST_SUITE_P(Storage, WalTruncateTest,
                         ::testing::Values(Place{"disk_direct", false, true}, Place{"disk_buffered", false, false},
                                           Place{"shm_buffered", true, false}, Place{"shm_direct", true, true}),
                         [](const ::testing::TestParamInfo<Place>& i) { return std::string(i.param.name); });

}  // namespace
}  // namespace uk
