// The per-append path: append (memory only), pump (one durable write per batch: RWF_DSYNC, or a write and an
// fdatasync), completions.
//
// With O_DIRECT, a batch that syncs is one write with RWF_DSYNC (dsync_direct_writes): the block layer completes
// it without a worker thread. Otherwise the batch fdatasync is linked to its write (link_fdatasync). io_uring
// always hands an fdatasync to a worker thread, linked or not; unlinked, it also waits for the write's completion
// to reach this thread and be resubmitted. bench/wal_bench.cc sync (100-byte appends one at a time, the variants
// in alternating blocks, three runs on a busy shared 2-core VM): tmpfs p50 10-11 us linked vs 18-19 us after the
// write; ext4 O_DIRECT p50 177-196 us vs 180-217 us (a wash within the disk's noise). Linked is never slower at
// p50, so it stays for buffered writes. RWF_DSYNC against the linked fdatasync, same bench, ext4 O_DIRECT, two
// runs of 5 x 200 appends each on the Firecracker VM (where waking a thread on the other, idle vCPU costs ~40 us):
// p50 212 / 252 us vs 245 / 260 us, p99 1.3 / 1.4 ms vs 2.5 / 2.0 ms.
#include <cerrno>
#include <cinttypes>
#include <cstring>

#include "ukeeper/common/log.h"
#include "wal_impl.h"

namespace uk::wal {

void WalImpl::append(Zxid zxid, std::string_view payload) {
  UK_WAL_ASSERT(zxid > appended_zxid_, "append: zxid not above the last appended zxid", zxid, appended_zxid_);
  const uint64_t bytes = record_bytes(payload.size());
  UK_WAL_ASSERT(payload.size() <= kMaxRecordPayloadBytes &&
                    bytes <= options_.segment_bytes - kSegmentHeaderBlockBytes,
                "append: record larger than a segment holds", payload.size(), options_.segment_bytes);
  appended_zxid_ = zxid;
  if (!failure_.empty()) return;  // no more I/O: nothing to queue, nothing to acknowledge
  if (options_.durability == Durability::kNone) {
    persisted_zxid_ = zxid;
    return;
  }
  const size_t at = pending_.size();
  pending_.resize(at + bytes);
  encode_record(zxid, payload, pending_.data() + at);
  pending_records_.push_back(PendingRecord{at + bytes, zxid});
  // kAsync acknowledges from memory: the record is written and synced in the background.
  if (options_.durability == Durability::kAsync) persisted_zxid_ = zxid;
}

void WalImpl::pump() {
  if (options_.durability == Durability::kNone || !failure_.empty()) return;
  maybe_start_spare();  // (after open, a cut or a reset, the first pump starts the next segment's preparation)
  if (in_flight_.active) return;
  if (!pending_records_.empty()) {
    submit_batch();
  } else if (unsynced_writes_ && sync_due()) {
    submit_sync_only();
  }
}

bool WalImpl::sync_due() const {
  if (options_.durability == Durability::kFsync || force_sync_) return true;
  const auto interval = std::chrono::milliseconds(options_.async_sync_interval_ms);
  return std::chrono::steady_clock::now() - last_sync_submit_ >= interval;
}

bool WalImpl::submit_batch() {
  const uint64_t first_bytes = pending_records_.front().end;
  if (!ensure_room(pending_records_.front().zxid, first_bytes)) return false;
  // Every pending record that fits in this segment (records never span segments) and in one write.
  const uint64_t room = seg_limit_ - seg_end_;
  const uint64_t cap = std::max(kMaxBatchBytes, first_bytes);
  size_t n = 0;
  uint64_t bytes = 0;
  while (n < pending_records_.size() && pending_records_[n].end <= room && pending_records_[n].end <= cap) {
    bytes = pending_records_[n].end;
    ++n;
  }
  UK_WAL_ASSERT(n > 0, "a fresh segment does not hold the next record", first_bytes, room);

  const uint64_t content_end = tail_bytes_ + bytes;
  // (Buffered mode has a tail only when the batch rolls: the new segment's header block.)
  const uint64_t write_bytes = direct_io_ ? round_up_block(content_end) : content_end;
  if (!wbuf_.reserve(round_up_block(content_end), tail_bytes_)) {
    fail_text("wal: out of memory for a " + std::to_string(content_end) + "-byte write buffer");
    return false;
  }
  std::memcpy(wbuf_.data() + tail_bytes_, pending_.data(), bytes);
  if (direct_io_) std::memset(wbuf_.data() + content_end, 0, write_bytes - content_end);

  // A roll always syncs (also in kAsync): its rename must not reach the disk before the header and records.
  const bool rolls = roll_next_batch_;
  roll_next_batch_ = false;
  const bool batch_sync = sync_due();
  const bool sync = rolls || batch_sync;
  // (A roll keeps its fdatasync: the rename linked behind it must wait for it.)
  const bool dsync_write = sync && !rolls && direct_io_ && options_.dsync_direct_writes;
  const bool linked_sync = sync && !dsync_write && (rolls || options_.link_fdatasync);
  const uint64_t offset = seg_end_ - tail_bytes_;  // block-aligned with O_DIRECT; 0 when rolling
  int ops = rolls ? prep_roll_head() : 0;
  const auto len = static_cast<uint32_t>(write_bytes);
  bool queued = dsync_write ? ring_->prep_write_dsync(seg_fd_, wbuf_.data(), len, offset, kOpDsyncWrite, false)
                            : ring_->prep_write(seg_fd_, wbuf_.data(), len, offset, kOpWrite, linked_sync);
  queued = queued && (!linked_sync || ring_->prep_fdatasync(seg_fd_, batch_sync ? kOpSync : kOpRollSync, rolls));
  UK_WAL_ASSERT(queued, "io_uring submission queue full with nothing in flight", write_bytes, sync);
  ops += linked_sync ? 2 : 1;
  if (rolls) ops += prep_roll_tail();
  in_flight_ = InFlight{};
  in_flight_.active = true;
  const bool deferred_sync = sync && !linked_sync && !dsync_write;
  in_flight_.ops_left = ops + (deferred_sync ? 1 : 0);  // the deferred fdatasync completes too
  in_flight_.has_write = true;
  in_flight_.has_sync = sync;
  in_flight_.sync_after_write = deferred_sync;
  in_flight_.rolls = rolls;
  in_flight_.write_bytes = len;
  in_flight_.content_end = content_end;
  in_flight_.records = n;
  in_flight_.last_zxid = pending_records_[n - 1].zxid;
  if (sync) last_sync_submit_ = std::chrono::steady_clock::now();

  if (n == pending_records_.size()) {
    pending_.clear();
    pending_records_.clear();
  } else {  // the rest goes to the next segment: rare, so a move is fine
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<ptrdiff_t>(bytes));
    pending_records_.erase(pending_records_.begin(), pending_records_.begin() + static_cast<ptrdiff_t>(n));
    for (PendingRecord& r : pending_records_) r.end -= bytes;
  }

  const int rc = ring_->submit();
  if (rc < ops) {
    fail("io_uring_submit", seg_path_, rc < 0 ? -rc : EAGAIN);
    in_flight_.ops_left = rc < 0 ? 0 : rc;  // still reap what the kernel took: it reads wbuf_
    in_flight_.sync_after_write = false;
    if (in_flight_.ops_left == 0) finish_batch();
    return false;
  }
  return true;
}

bool WalImpl::submit_sync_only() {
  const bool queued = ring_->prep_fdatasync(seg_fd_, kOpSync, false);
  UK_WAL_ASSERT(queued, "io_uring submission queue full with nothing in flight", 0, 0);
  in_flight_ = InFlight{};
  in_flight_.active = true;
  in_flight_.ops_left = 1;
  in_flight_.has_sync = true;
  last_sync_submit_ = std::chrono::steady_clock::now();
  const int rc = ring_->submit();
  if (rc < 1) {
    fail("io_uring_submit", seg_path_, rc < 0 ? -rc : EAGAIN);
    in_flight_ = InFlight{};
    return false;
  }
  return true;
}

void WalImpl::reap() {
  if (!ring_) return;
  ring_->clear_event_fd();
  UringCompletion c;
  while (ring_->peek(c)) handle(c);
  pump();
}

void WalImpl::handle(const UringCompletion& c) {
  if (c.user_data >= kOpSpareAllocate) {
    handle_spare(c);
  } else {
    handle_batch_op(c);
  }
}

void WalImpl::handle_batch_op(const UringCompletion& c) {
  UK_WAL_ASSERT(in_flight_.active && in_flight_.ops_left > 0, "completion with nothing in flight", c.user_data,
                in_flight_.ops_left);
  in_flight_.ops_left -= 1;
  switch (c.user_data) {
    case kOpWrite:
      check_write(c.res, "write");
      if (in_flight_.sync_after_write) submit_deferred_sync();
      break;
    case kOpSync:
      if (const int res = count_sync(c.res); res < 0) fail("fdatasync", seg_path_, -res);
      break;
    case kOpDsyncWrite:
      check_write(count_sync(c.res), "write+fdatasync (RWF_DSYNC)");
      break;
    case kOpOldSync:
      if (c.res < 0) fail("fdatasync", retired_path_, -c.res);
      break;
    case kOpRollSync:
      if (c.res < 0) fail("fdatasync", seg_path_, -c.res);
      break;
    case kOpRename:
      if (c.res < 0) fail_text("wal: rename " + spare_path_ + " to " + seg_path_ + ": " + std::strerror(-c.res));
      break;
    case kOpDirSync:
      if (c.res < 0) fail("fsync directory", options_.dir, -c.res);
      break;
    default:
      UK_WAL_ASSERT(false, "unknown completion", c.user_data, c.res);
  }
  if (in_flight_.ops_left == 0) finish_batch();
}

void WalImpl::check_write(int res, const char* what) {
  if (res < 0) {
    fail(what, seg_path_, -res);
  } else if (static_cast<uint32_t>(res) != in_flight_.write_bytes) {
    // Never acknowledged; a linked fdatasync was cancelled. A retry could continue, but a short write to a
    // preallocated file means the device is in trouble: stop.
    fail_text(std::string("wal: ") + what + " " + seg_path_ + ": short write (" + std::to_string(res) + " of " +
              std::to_string(in_flight_.write_bytes) + " bytes)");
  }
}

int WalImpl::count_sync(int res) {
  syncs_completed_ += 1;
  if (options_.fault_fail_sync_at > 0 && syncs_completed_ == options_.fault_fail_sync_at) return -EIO;
  return res;
}

// link_fdatasync == false: the batch's write completed; its fdatasync goes out now (or never, after a failure).
void WalImpl::submit_deferred_sync() {
  in_flight_.sync_after_write = false;
  if (failure_.empty()) {
    const bool queued = ring_->prep_fdatasync(seg_fd_, kOpSync, false);
    UK_WAL_ASSERT(queued, "io_uring submission queue full with only a write in flight", 0, 0);
    const int rc = ring_->submit();
    if (rc >= 1) return;
    fail("io_uring_submit", seg_path_, rc < 0 ? -rc : EAGAIN);
  }
  in_flight_.ops_left -= 1;  // the fdatasync that never went out
}

void WalImpl::finish_batch() {
  const InFlight b = in_flight_;
  in_flight_ = InFlight{};
  if (b.rolls && retired_fd_ >= 0) {
    ::close(retired_fd_);
    retired_fd_ = -1;
  }
  if (!failure_.empty()) return;
  if (b.has_write) {
    seg_end_ += b.content_end - tail_bytes_;
    if (direct_io_) {
      // Keep the new partial block at the front of wbuf_: the next write starts by rewriting it.
      const uint64_t block_start = round_down_block(b.content_end);
      tail_bytes_ = b.content_end - block_start;
      if (tail_bytes_ > 0 && block_start > 0) std::memmove(wbuf_.data(), wbuf_.data() + block_start, tail_bytes_);
    } else {
      tail_bytes_ = 0;  // a rolling batch carried the header block in front
    }
    UK_WAL_ASSERT(seg_end_ <= seg_limit_, "write past the end of the segment", seg_end_, seg_limit_);
    UK_WAL_ASSERT(!direct_io_ || seg_end_ % kBlockBytes == tail_bytes_, "tail block out of step", seg_end_,
                  tail_bytes_);
    written_zxid_ = b.last_zxid;
    records_written_ += b.records;
    batches_written_ += 1;
    unsynced_writes_ = true;
  }
  if (b.has_sync) {
    unsynced_writes_ = false;
    if (options_.durability == Durability::kFsync) persisted_zxid_ = written_zxid_;
  }
  maybe_start_spare();
}

bool WalImpl::sync_all() {
  if (options_.durability == Durability::kNone) return failure_.empty();
  force_sync_ = true;
  for (;;) {
    pump();
    // Records may also wait for the spare being prepared for the roll they need.
    const bool waiting = in_flight_.active || (failure_.empty() && pending_records() > 0 && spare_busy());
    if (!waiting) break;  // nothing left to write or sync, or failed
    if (!wait_one()) break;
  }
  force_sync_ = false;
  return failure_.empty();
}

bool WalImpl::wait_one() {
  UringCompletion c;
  const int rc = ring_->wait(c);
  if (rc < 0) {
    fail("io_uring_wait_cqe", seg_path_, -rc);
    return false;
  }
  handle(c);
  return true;
}

void WalImpl::fail(const char* op, const std::string& path, int err) {
  fail_text(std::string("wal: ") + op + " " + path + ": " + std::strerror(err));
}

void WalImpl::fail_text(std::string text) {
  if (!failure_.empty()) return;  // keep the first cause (a cancelled linked fdatasync follows a failed write)
  failure_ = std::move(text);
  UK_ERROR("%s; the log takes no more writes", failure_.c_str());
}

}  // namespace uk::wal
