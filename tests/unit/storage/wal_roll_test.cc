// Segment rolls with the next segment prepared in the background (storage/src/wal/wal_spare.cc): the spare file
// never confuses recovery, truncate_after or reset, whatever state a crash leaves it in; a roll that finds the
// spare still being prepared waits for it without blocking; the blocking path and the unlinked fdatasync still
// work. Real files, real io_uring, on the project disk (O_DIRECT and buffered) and on /dev/shm.
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "ukeeper/storage/wal/scan.h"
#include "wal_test_util.h"

namespace uk {
namespace {

using namespace waltest;

constexpr char kSpare[] = "wal-spare.next";

struct Place {
  const char* name;
  bool shm;
  bool direct;
};

class WalRollTest : public ::testing::TestWithParam<Place> {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<TempDir>(GetParam().shm ? std::string("/dev/shm") : disk_base());
    ASSERT_FALSE(dir_->path().empty());
    base_.dir = dir_->path() + "/wal";
    base_.try_direct_io = GetParam().direct;
    base_.segment_bytes = 64 * 1024;
  }

  std::string spare() const { return base_.dir + "/" + kSpare; }

  // Reaps for `ms` milliseconds: lets a spare in preparation finish.
  static void settle(Wal& w, int ms) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    reap_until(w, [&] { return std::chrono::steady_clock::now() >= until; });
  }

  // Reopens base_.dir and checks it replays exactly `want` and scans clean.
  void expect_log(const Records& want, const std::string& dir) {
    WalOptions o = base_;
    o.dir = dir;
    auto w = open(o);
    ASSERT_TRUE(w);
    ASSERT_EQ(records_.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_EQ(records_[i].first, want[i].first) << i;
      ASSERT_EQ(records_[i].second, want[i].second) << "zxid " << want[i].first;
    }
    w.reset();
    wal::ScanResult scan = wal::scan_dir(dir, nullptr);
    EXPECT_EQ(scan.status, wal::ScanStatus::kClean) << scan.error;
    for (const auto& s : scan.segments) {
      EXPECT_EQ(s.file_bytes, base_.segment_bytes) << s.path;
      EXPECT_EQ(fs::path(s.path).filename().string(), wal::segment_file_name(s.first_zxid));
      EXPECT_GT(s.records, 0u) << s.path;
    }
  }

  // What a crash would leave on the disk now: a copy of every file in the directory.
  std::string crash_copy(const std::string& name) {
    const std::string to = dir_->path() + "/" + name;
    fs::create_directories(to);
    for (const auto& e : fs::directory_iterator(base_.dir)) fs::copy_file(e.path(), to + "/" + e.path().filename().string());
    return to;
  }

  std::unique_ptr<Wal> open(const WalOptions& o) { return open_wal(o, records_, rec_); }

  std::unique_ptr<TempDir> dir_;
  WalOptions base_;
  Records records_;  // what the last open() replayed
  WalRecovery rec_;
};

TEST_P(WalRollTest, SpareIsPreparedAheadAndBecomesTheNextSegment) {
  // A spare right after every roll: on a fast device the spare open() starts can be ready before the first
  // batch and become the first segment, and the next spare must not wait for that one to fill halfway.
  base_.precreate_at_fill_percent = 0;
  auto w = open(base_);
  ASSERT_TRUE(w);
  // A fresh log: the first segment is there at once, the spare is already being prepared for the second. (20
  // records: ~22 KiB, and padding between overlapping batches can add a few KiB; the segment holds 60.)
  write_range(*w, 1, 20);
  EXPECT_TRUE(fs::exists(spare()));
  EXPECT_EQ(segment_names(base_.dir).size(), 1u);
  write_range(*w, 21, 1200);
  const auto names = segment_names(base_.dir);
  EXPECT_GT(names.size(), 10u);
  // A spare is never listed as a segment, and the Wal deletes it when it closes.
  w.reset();
  EXPECT_FALSE(fs::exists(spare()));
  expect_log(model(1, 1200), base_.dir);
}

TEST_P(WalRollTest, CrashWithAPreparedEmptySpareRecoversExactlyTheLog) {
  // A spare right after every roll: where the last roll falls (padding moves it) must not decide whether there
  // is a spare to crash with.
  base_.precreate_at_fill_percent = 0;
  auto w = open(base_);
  ASSERT_TRUE(w);
  write_range(*w, 1, 300);
  settle(*w, 200);
  ASSERT_TRUE(fs::exists(spare()));
  const std::string crashed = crash_copy("crashed");
  ASSERT_TRUE(fs::exists(crashed + "/" + kSpare));
  // The scan (also `ukctl wal verify`) does not see the spare.
  wal::ScanResult scan = wal::scan_dir(crashed, nullptr);
  EXPECT_EQ(scan.status, wal::ScanStatus::kClean) << scan.error;
  EXPECT_EQ(scan.last_zxid, 300);
  for (const auto& s : scan.segments) EXPECT_EQ(s.path.find(kSpare), std::string::npos);

  WalOptions o = base_;
  o.dir = crashed;
  auto w2 = open(o);
  ASSERT_TRUE(w2);
  EXPECT_EQ(records_, model(1, 300));
  EXPECT_FALSE(rec_.truncated_tail);
  const bool said = std::any_of(rec_.messages.begin(), rec_.messages.end(),
                                [](const std::string& m) { return m.find(kSpare) != std::string::npos; });
  EXPECT_TRUE(said) << "open() says it removed the spare";
  // The log goes on: across rolls, a cut and a reset, with the spare of this Wal present throughout.
  write_range(*w2, 301, 700);
  std::string error;
  ASSERT_TRUE(w2->truncate_after(500, error)) << error;
  write_range(*w2, 501, 800);
  w2.reset();
  Records want = model(1, 800);
  expect_log(want, crashed);
}

TEST_P(WalRollTest, SpareHoldingACrashedRollBatchIsNeverReplayed) {
  auto w = open(base_);
  ASSERT_TRUE(w);
  write_range(*w, 1, 100);
  w.reset();
  // A crash after the roll chain wrote the new header and first records into the spare, before the rename: the
  // records (101..105) were never acknowledged.
  std::vector<uint8_t> seg(base_.segment_bytes, 0);
  wal::SegmentHeader h;
  h.first_zxid = 101;
  h.segment_bytes = base_.segment_bytes;
  wal::encode_segment_header(h, seg.data());
  uint64_t off = wal::kSegmentHeaderBlockBytes;
  for (Zxid z = 101; z <= 105; ++z) {
    const std::string p = "stale " + std::to_string(z);
    wal::encode_record(z, p, seg.data() + off);
    off += wal::record_bytes(p.size());
  }
  {
    int fd = ::open(spare().c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, seg.data(), seg.size(), 0), static_cast<ssize_t>(seg.size()));
    ::close(fd);
  }
  EXPECT_EQ(wal::scan_dir(base_.dir, nullptr).last_zxid, 100);
  w = open(base_);
  ASSERT_TRUE(w);
  EXPECT_EQ(records_, model(1, 100));
  // The stale header is gone at once (the spare is recreated empty), so no later rename can carry it.
  if (fs::exists(spare())) {
    const std::string head = [&] {
      std::string s(wal::kSegmentHeaderBlockBytes, '\0');
      int fd = ::open(spare().c_str(), O_RDONLY);
      const ssize_t n = fd < 0 ? 0 : ::pread(fd, s.data(), s.size(), 0);
      if (fd >= 0) ::close(fd);
      s.resize(n < 0 ? 0 : static_cast<size_t>(n));
      return s;
    }();
    EXPECT_EQ(head.find_first_not_of('\0'), std::string::npos);
  }
  write_range(*w, 101, 400);
  w.reset();
  expect_log(model(1, 400), base_.dir);
}

TEST_P(WalRollTest, RollWhileTheSpareIsStillBeingPreparedWaitsWithoutBlocking) {
  // Started only when a roll needs it: every roll after the first finds the spare in preparation.
  base_.precreate_at_fill_percent = 100;
  // 1124-byte records: 54 fill 98.8% of a segment's 61440 data bytes, so the threshold is never reached early.
  const std::string payload(1100, 'r');
  auto payload_of = [&](Zxid z) { return payload + std::to_string(z % 10); };
  Records want;
  auto w = open(base_);
  ASSERT_TRUE(w);
  for (Zxid z = 1; z <= 108; ++z) {
    w->append(z, payload_of(z));
    want.emplace_back(z, payload_of(z));
    ASSERT_TRUE(w->sync_all()) << w->failure();
  }
  ASSERT_EQ(segment_names(base_.dir).size(), 2u);
  ASSERT_FALSE(fs::exists(spare()));  // segment 2 is 98.8% full: no spare yet
  const uint64_t batches = w->batches_written();
  for (Zxid z = 109; z <= 111; ++z) {
    w->append(z, payload_of(z));
    want.emplace_back(z, payload_of(z));
    w->pump();  // the roll starts the spare and waits for it: nothing is written, the call returns
  }
  EXPECT_TRUE(fs::exists(spare()));
  EXPECT_EQ(w->batches_written(), batches);
  EXPECT_EQ(w->persisted_zxid(), 108);
  EXPECT_FALSE(fs::exists(base_.dir + "/" + wal::segment_file_name(109)));
  ASSERT_TRUE(reap_until(*w, [&] { return w->persisted_zxid() == 111; })) << w->failure();
  EXPECT_EQ(w->batches_written(), batches + 1);  // the three waited and went out together
  EXPECT_TRUE(fs::exists(base_.dir + "/" + wal::segment_file_name(109)));
  EXPECT_FALSE(fs::exists(spare())) << "the spare became segment 109";

  // Closing while a roll waits for the spare: nothing hangs, the unwritten record is simply not in the log.
  for (Zxid z = 112; z <= 162; ++z) {
    w->append(z, payload_of(z));
    want.emplace_back(z, payload_of(z));
  }
  ASSERT_TRUE(w->sync_all()) << w->failure();
  w->append(163, payload_of(163));
  w->pump();
  EXPECT_EQ(w->persisted_zxid(), 162);
  w.reset();
  EXPECT_FALSE(fs::exists(spare()));
  expect_log(want, base_.dir);
}

TEST_P(WalRollTest, AsyncDurabilityRollsThroughTheSpare) {
  base_.durability = Durability::kAsync;
  base_.async_sync_interval_ms = 3600 * 1000;
  auto w = open(base_);
  ASSERT_TRUE(w);
  for (Zxid z = 1; z <= 900; ++z) {
    w->append(z, payload_for(z));
    if (z % 5 == 0) w->reap();
  }
  ASSERT_TRUE(reap_until(*w, [&] { return w->records_written() == 900; })) << w->failure();
  ASSERT_TRUE(w->sync_all()) << w->failure();
  w.reset();
  expect_log(model(1, 900), base_.dir);
}

TEST_P(WalRollTest, ResetAndCutToEmptyWithASparePresent) {
  auto w = open(base_);
  ASSERT_TRUE(w);
  write_range(*w, 1, 400);
  std::string error;
  ASSERT_TRUE(w->reset(1000, error)) << error;
  EXPECT_TRUE(segment_names(base_.dir).empty());
  write_range(*w, 1001, 1300);
  ASSERT_TRUE(w->truncate_after(0, error)) << error;
  EXPECT_TRUE(segment_names(base_.dir).empty());
  write_range(*w, 1, 250);
  w.reset();
  expect_log(model(1, 250), base_.dir);
}

TEST_P(WalRollTest, BlockingRollsWhenPrecreationIsOff) {
  base_.precreate_segments = false;
  auto w = open(base_);
  ASSERT_TRUE(w);
  write_range(*w, 1, 600);
  EXPECT_FALSE(fs::exists(spare()));
  w.reset();
  expect_log(model(1, 600), base_.dir);
}

TEST_P(WalRollTest, FdatasyncAfterTheWriteInsteadOfLinked) {
  base_.link_fdatasync = false;
  {
    auto w = open(base_);
    ASSERT_TRUE(w);
    write_range(*w, 1, 700);
    // Group commit still holds: everything queued while one batch is in flight goes out as one more.
    for (Zxid z = 701; z <= 720; ++z) w->append(z, payload_for(z));
    w->pump();
    for (Zxid z = 721; z <= 760; ++z) w->append(z, payload_for(z));
    const uint64_t before = w->batches_written();
    ASSERT_TRUE(w->sync_all());
    EXPECT_LE(w->batches_written() - before, 3u);  // (a roll may split it)
  }
  expect_log(model(1, 760), base_.dir);
  // A failing deferred fdatasync fails the log and acknowledges nothing more.
  TempDir d(dir_->path());
  WalOptions o = base_;
  o.dir = d.path();
  o.fault_fail_sync_at = 2;
  auto w = open(o);
  ASSERT_TRUE(w);
  w->append(1, "one");
  ASSERT_TRUE(w->sync_all());
  w->append(2, "two");
  EXPECT_FALSE(w->sync_all());
  EXPECT_EQ(w->persisted_zxid(), 1);
  EXPECT_NE(w->failure().find("fdatasync"), std::string::npos) << w->failure();
}

INSTANTIATE_TEST_SUITE_P(Storage, WalRollTest,
                         ::testing::Values(Place{"disk_direct", false, true}, Place{"disk_buffered", false, false},
                                           Place{"shm_buffered", true, false}),
                         [](const ::testing::TestParamInfo<Place>& i) { return std::string(i.param.name); });

}  // namespace
}  // namespace uk
