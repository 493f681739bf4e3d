// The next segment, prepared in the background, and the roll into it (design in wal.h, "Rolling").
//
// Why: creating a segment the blocking way (wal_segment.cc) zero-fills segment_bytes and syncs twice on the
// caller's event loop, so every write in the process stalls at each roll (bench/wal_bench.cc measures it). Here
// the loop only opens the spare file; fallocate, the zero writes (one kSpareZeroChunkBytes write at a time, so a
// commit queued behind one on the device waits little) and the fdatasync go through the Wal's ring. The roll
// itself is part of the first batch's linked chain, so it costs the caller nothing but that batch's latency
// (one rename and one directory fsync more).
//
// Failure: preparing a spare is never fatal. A failed step logs a warning, deletes the spare and leaves the roll
// to the blocking path, which reports the error the old way (e.g. "fallocate ... File too large") if it persists.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "ukeeper/common/log.h"
#include "wal_impl.h"

namespace uk::wal {
namespace {

std::string errno_text(const char* op, const std::string& path, int err) {
  return std::string(op) + " " + path + ": " + std::strerror(err);
}

}  // namespace

void WalImpl::maybe_start_spare() {
  if (!options_.precreate_segments || spare_state_ != SpareState::kNone || !failure_.empty() || stopping_ ||
      options_.durability == Durability::kNone || !ring_) {
    return;
  }
  // Not while a roll is pending or in flight: its chain still renames the spare file this would create anew.
  // (Rolls go out alone, so a roll in flight is the oldest batch.)
  if (roll_next_batch_ || (io_in_flight() && batches_[in_flight_head_].rolls)) return;
  if (seg_fd_ >= 0) {
    const uint64_t capacity = seg_limit_ - kSegmentHeaderBlockBytes;
    const uint64_t used = seg_end_ - kSegmentHeaderBlockBytes;
    if (used * 100 < capacity * static_cast<uint64_t>(options_.precreate_at_fill_percent)) return;
  }
  start_spare();
}

void WalImpl::start_spare() {
  UK_WAL_ASSERT(spare_state_ == SpareState::kNone && spare_fd_ < 0, "spare started twice", spare_fd_, 0);
  if (zeros_.capacity() < kSpareZeroChunkBytes) {
    if (!zeros_.reserve(kSpareZeroChunkBytes, 0)) return spare_failed("out of memory for the zero buffer");
    std::memset(zeros_.data(), 0, zeros_.capacity());
  }
  spare_path_ = options_.dir + "/" + kSpareFileName;
  // The only blocking call of the preparation: creating a name is cheap next to filling segment_bytes.
  // O_TRUNC: no other code writes this name, and whatever an earlier Wal left in it is garbage.
  spare_fd_ = ::open(spare_path_.c_str(), O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC | (direct_io_ ? O_DIRECT : 0), 0644);
  if (spare_fd_ < 0) return spare_failed(errno_text("create", spare_path_, errno));
  spare_zeroed_ = 0;
  spare_state_ = SpareState::kAllocating;
  const bool queued = ring_->prep_fallocate(spare_fd_, 0, 0, options_.segment_bytes, kOpSpareAllocate, false);
  UK_WAL_ASSERT(queued, "io_uring submission queue full (spare)", 0, 0);
  if (const int rc = ring_->submit(); rc < 1) {
    spare_state_ = SpareState::kBroken;  // nothing of it in flight
    fail("io_uring_submit", spare_path_, rc < 0 ? -rc : EAGAIN);
  }
}

void WalImpl::submit_spare_zero() {
  spare_write_bytes_ = static_cast<uint32_t>(std::min(kSpareZeroChunkBytes, options_.segment_bytes - spare_zeroed_));
  const bool queued = ring_->prep_write(spare_fd_, zeros_.data(), spare_write_bytes_, spare_zeroed_, kOpSpareZero, false);
  UK_WAL_ASSERT(queued, "io_uring submission queue full (spare)", spare_zeroed_, 0);
  if (const int rc = ring_->submit(); rc < 1) {
    spare_state_ = SpareState::kBroken;
    fail("io_uring_submit", spare_path_, rc < 0 ? -rc : EAGAIN);
  }
}

void WalImpl::handle_spare(const UringCompletion& c) {
  UK_WAL_ASSERT(spare_busy(), "spare completion with no spare in preparation", c.user_data, c.res);
  if (stopping_ || !failure_.empty()) {
    spare_state_ = SpareState::kBroken;
    remove_spare();
    return;
  }
  if (c.user_data == kOpSpareAllocate) {
    if (c.res == -EOPNOTSUPP || c.res == -ENOSYS) {
      // As preallocate_zeroed(): size it with ftruncate (cheap) and let the zero writes allocate.
      if (::ftruncate(spare_fd_, static_cast<off_t>(options_.segment_bytes)) != 0) {
        return spare_failed(errno_text("ftruncate", spare_path_, errno));
      }
    } else if (c.res < 0) {
      return spare_failed(errno_text("fallocate", spare_path_, -c.res));
    }
    spare_state_ = SpareState::kZeroing;
    return submit_spare_zero();
  }
  if (c.user_data == kOpSpareZero) {
    if (c.res < 0) return spare_failed(errno_text("zero-fill", spare_path_, -c.res));
    if (static_cast<uint32_t>(c.res) != spare_write_bytes_) return spare_failed("short zero-fill write to " + spare_path_);
    spare_zeroed_ += spare_write_bytes_;
    if (spare_zeroed_ < options_.segment_bytes) return submit_spare_zero();
    // The zeros must be on the disk before the roll: the roll's fdatasync would otherwise flush them all
    // (buffered mode) or commit the extent conversions (see create_segment_file).
    spare_state_ = SpareState::kSyncing;
    const bool queued = ring_->prep_fdatasync(spare_fd_, kOpSpareSync, false);
    UK_WAL_ASSERT(queued, "io_uring submission queue full (spare)", 0, 0);
    if (const int rc = ring_->submit(); rc < 1) {
      spare_state_ = SpareState::kBroken;
      fail("io_uring_submit", spare_path_, rc < 0 ? -rc : EAGAIN);
    }
    return;
  }
  UK_WAL_ASSERT(c.user_data == kOpSpareSync, "unknown spare completion", c.user_data, c.res);
  if (c.res < 0) return spare_failed(errno_text("fdatasync", spare_path_, -c.res));
  spare_state_ = SpareState::kReady;
}

void WalImpl::spare_failed(const std::string& why) {
  UK_WARN("wal: preparing the next segment failed (%s): the roll creates it the blocking way", why.c_str());
  spare_state_ = SpareState::kBroken;
  remove_spare();
}

void WalImpl::remove_spare() {
  UK_WAL_ASSERT(!spare_busy(), "spare removed with a request in flight", spare_zeroed_, 0);
  if (spare_fd_ >= 0) {
    ::close(spare_fd_);
    spare_fd_ = -1;
    // Not made durable: a spare that reappears after a crash is deleted by open() again.
    ::unlink(spare_path_.c_str());
  }
}

// Without a current segment (a fresh log, or after a reset or a cut that emptied it) a spare still being
// prepared is not waited for: the first segment is made the blocking way, as before pre-creation (the caller
// just did blocking start-up or synchronization work), the first pump starts I/O at once, and the spare becomes
// the segment after it. A real roll waits for the spare instead: the caller's loop goes on.
bool WalImpl::ensure_room(Zxid first_zxid, uint64_t first_bytes) {
  if (seg_fd_ >= 0 && seg_end_ + first_bytes <= seg_limit_) return true;
  if (options_.precreate_segments && spare_state_ == SpareState::kNone) start_spare();
  if (!failure_.empty()) return false;
  if (spare_state_ == SpareState::kReady) {
    activate_spare(first_zxid);
    return true;
  }
  if (options_.precreate_segments && spare_state_ != SpareState::kBroken && seg_fd_ >= 0) return false;
  if (spare_state_ == SpareState::kBroken) spare_state_ = SpareState::kNone;  // the next roll tries a spare again
  return roll_segment(first_zxid);
}

void WalImpl::activate_spare(Zxid first_zxid) {
  UK_WAL_ASSERT(!io_in_flight() && retired_fd_ < 0, "roll with I/O in flight", first_zxid, retired_fd_);
  // The old segment stays open until the chain is done: kAsync may still have to fdatasync it.
  retired_fd_ = seg_fd_;
  retired_path_ = seg_path_;
  retired_needs_sync_ = seg_fd_ >= 0 && unsynced_writes_;
  roll_name_ = segment_file_name(first_zxid);
  seg_fd_ = spare_fd_;
  seg_path_ = options_.dir + "/" + roll_name_;
  seg_limit_ = options_.segment_bytes;
  start_appends_at(kSegmentHeaderBlockBytes);
  // The header block goes out at offset 0 as the "tail" of the first batch's write.
  tail_bytes_ = kSegmentHeaderBlockBytes;
  SegmentHeader header;
  header.first_zxid = first_zxid;
  header.segment_bytes = options_.segment_bytes;
  encode_segment_header(header, wbuf_.data());
  spare_fd_ = -1;
  spare_state_ = SpareState::kNone;
  roll_next_batch_ = true;
}

int WalImpl::prep_roll_head(uint64_t tag) {
  if (!retired_needs_sync_) return 0;
  // Only the last segment may hold a torn record (the scan calls damage elsewhere corruption): the old one is
  // durable before the new one has a name.
  const bool queued = ring_->prep_fdatasync(retired_fd_, tag | kOpOldSync, true);
  UK_WAL_ASSERT(queued, "io_uring submission queue full (roll)", 0, 0);
  return 1;
}

int WalImpl::prep_roll_tail(uint64_t tag) {
  bool queued = ring_->prep_renameat(dir_fd_, kSpareFileName, dir_fd_, roll_name_.c_str(), RENAME_NOREPLACE,
                                     tag | kOpRename, true);
  queued = queued && ring_->prep_fsync(dir_fd_, tag | kOpDirSync, false);
  UK_WAL_ASSERT(queued, "io_uring submission queue full (roll)", 0, 0);
  return 2;
}

}  // namespace uk::wal
