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
  // (Sealed with its `back` and crc when its batch is composed: submit_batch.)
  encode_record_unsealed(zxid, payload, pending_.data() + at);
  pending_records_.push_back(PendingRecord{at + bytes, zxid});
  // kAsync acknowledges from memory: the record is written and synced in the background.
  if (options_.durability == Durability::kAsync) persisted_zxid_ = zxid;
}

void WalImpl::pump() {
  if (options_.durability == Durability::kNone || !failure_.empty()) return;
  maybe_start_spare();  // (after open, a cut or a reset, the first pump starts the next segment's preparation)
  if (!io_in_flight()) {
    if (!pending_records_.empty()) {
      submit_batch();
    } else if (unsynced_writes_ && sync_due()) {
      submit_sync_only();
    } else {
      busy_ = false;  // idle: the next batch packs its records without a pad
    }
  }
  while (!pending_records_.empty() && failure_.empty() && io_in_flight()) {
    if (!may_overlap()) {
      busy_ = true;  // records wait behind I/O in flight
      return;
    }
    if (!submit_batch()) return;
  }
}

// Overlapping batches: with O_DIRECT and RWF_DSYNC every batch is one self-contained request, and a device
// completes several at once faster than one after another. Another batch goes out beside those in flight when
// (1) fewer than max_batches_in_flight are, (2) none of them is exclusive (a roll's chain, a sync, buffered or
// kAsync writes), (3) it starts on a fresh block (the newest batch ended with a pad, so no block is written by
// two requests at once: they may land in any order), and (4) it fits in the current segment (a roll waits until
// nothing is in flight). Completions may arrive out of order: a batch is retired (persisted) only after every
// batch before it.
bool WalImpl::may_overlap() const {
  if (in_flight_count_ >= static_cast<size_t>(max_in_flight_)) return false;
  const InFlight& newest = batches_[(next_slot() + kMaxBatchesInFlight - 1) % kMaxBatchesInFlight];
  if (newest.exclusive || tail_bytes_ != 0) return false;
  return seg_fd_ >= 0 && seg_end_ + pending_records_.front().end <= seg_limit_;
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

  // A roll always syncs (also in kAsync): its rename must not reach the disk before the header and records.
  const bool rolls = roll_next_batch_;
  roll_next_batch_ = false;
  const bool batch_sync = sync_due();
  const bool sync = rolls || batch_sync;
  // (A roll keeps its fdatasync: the rename linked behind it must wait for it.)
  const bool dsync_write = sync && !rolls && direct_io_ && options_.dsync_direct_writes;
  const bool linked_sync = sync && !dsync_write && (rolls || options_.link_fdatasync);

  // Busy: end the batch with a pad at a block boundary (when the segment has room for it), so the next batch
  // can go out while this one is in flight.
  uint64_t content_end = tail_bytes_ + bytes;
  uint64_t pad = 0;
  if (overlapping() && dsync_write && (busy_ || io_in_flight()) && content_end % kBlockBytes != 0) {
    pad = round_up_block(content_end) - content_end;
    if (pad < kRecordHeaderBytes) pad += kBlockBytes;
    if (seg_end_ + bytes + pad > seg_limit_) pad = 0;
  }
  content_end += pad;
  // (Buffered mode has a tail only when the batch rolls: the new segment's header block.)
  const uint64_t write_bytes = direct_io_ ? round_up_block(content_end) : content_end;
  const size_t slot = next_slot();
  AlignedBuffer& buf = batch_bufs_[slot];
  if (!buf.reserve(round_up_block(content_end), 0)) {
    fail_text("wal: out of memory for a " + std::to_string(content_end) + "-byte write buffer");
    return false;
  }
  std::memcpy(buf.data(), wbuf_.data(), tail_bytes_);
  std::memcpy(buf.data() + tail_bytes_, pending_.data(), bytes);
  // Each record says how far back the durable data ended when it went out (the scan's test for records that
  // overtook a lost write).
  const uint64_t first_offset = seg_end_;
  for (size_t i = 0; i < n; ++i) {
    const uint64_t start = i == 0 ? 0 : pending_records_[i - 1].end;
    const uint64_t back = first_offset + start - durable_end_;
    seal_record(buf.data() + tail_bytes_ + start, static_cast<uint32_t>(std::min<uint64_t>(back, UINT32_MAX)));
  }
  if (pad > 0) {
    const uint64_t back = first_offset + bytes - durable_end_;
    encode_pad(pad, buf.data() + tail_bytes_ + bytes, static_cast<uint32_t>(std::min<uint64_t>(back, UINT32_MAX)));
  }
  if (direct_io_) std::memset(buf.data() + content_end, 0, write_bytes - content_end);

  const uint64_t offset = seg_end_ - tail_bytes_;  // block-aligned with O_DIRECT; 0 when rolling
  const uint64_t tag = slot << kSlotShift;
  int ops = rolls ? prep_roll_head(tag) : 0;
  const auto len = static_cast<uint32_t>(write_bytes);
  bool queued = dsync_write ? ring_->prep_write_dsync(seg_fd_, buf.data(), len, offset, tag | kOpDsyncWrite, false)
                            : ring_->prep_write(seg_fd_, buf.data(), len, offset, tag | kOpWrite, linked_sync);
  queued = queued &&
           (!linked_sync || ring_->prep_fdatasync(seg_fd_, tag | (batch_sync ? kOpSync : kOpRollSync), rolls));
  UK_WAL_ASSERT(queued, "io_uring submission queue full", write_bytes, in_flight_count_);
  ops += linked_sync ? 2 : 1;
  if (rolls) ops += prep_roll_tail(tag);
  InFlight& b = batches_[slot];
  b = InFlight{};
  b.active = true;
  b.write_offset = offset;
  if (options_.on_batch_write) options_.on_batch_write(offset, buf.data(), len);
  const bool deferred_sync = sync && !linked_sync && !dsync_write;
  b.ops_left = ops + (deferred_sync ? 1 : 0);  // the deferred fdatasync completes too
  b.has_write = true;
  b.has_sync = sync;
  b.sync_after_write = deferred_sync;
  b.rolls = rolls;
  b.exclusive = !dsync_write || !overlapping();
  b.write_bytes = len;
  b.records = n;
  b.record_bytes = bytes;
  b.pad_bytes = pad;
  b.last_zxid = pending_records_[n - 1].zxid;
  in_flight_count_ += 1;
  peak_in_flight_ = std::max<uint64_t>(peak_in_flight_, in_flight_count_);
  if (sync) last_sync_submit_ = std::chrono::steady_clock::now();

  // The append position moves now: the next batch follows this one on disk, in flight or not.
  seg_end_ += content_end - tail_bytes_;
  b.end_offset = seg_end_;
  UK_WAL_ASSERT(seg_end_ <= seg_limit_, "write past the end of the segment", seg_end_, seg_limit_);
  if (direct_io_) {
    // Keep the new partial block: the next write starts by rewriting it (after this one completed).
    const uint64_t block_start = round_down_block(content_end);
    tail_bytes_ = content_end - block_start;
    if (tail_bytes_ > 0) std::memcpy(wbuf_.data(), buf.data() + block_start, tail_bytes_);
    UK_WAL_ASSERT(seg_end_ % kBlockBytes == tail_bytes_, "tail block out of step", seg_end_, tail_bytes_);
  } else {
    tail_bytes_ = 0;  // a rolling batch carried the header block in front
  }

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
    b.ops_left = rc < 0 ? 0 : rc;  // still reap what the kernel took: it reads the buffer
    b.sync_after_write = false;
    if (b.ops_left == 0) {
      b.done = true;
      retire_batches();
    }
    return false;
  }
  return true;
}

bool WalImpl::submit_sync_only() {
  const size_t slot = next_slot();
  const bool queued = ring_->prep_fdatasync(seg_fd_, (slot << kSlotShift) | kOpSync, false);
  UK_WAL_ASSERT(queued, "io_uring submission queue full with nothing in flight", 0, 0);
  InFlight& b = batches_[slot];
  b = InFlight{};
  b.active = true;
  b.ops_left = 1;
  b.has_sync = true;
  b.exclusive = true;
  in_flight_count_ += 1;
  last_sync_submit_ = std::chrono::steady_clock::now();
  const int rc = ring_->submit();
  if (rc < 1) {
    fail("io_uring_submit", seg_path_, rc < 0 ? -rc : EAGAIN);
    b.ops_left = 0;
    b.done = true;
    retire_batches();
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
  if (op_of(c.user_data) >= kOpSpareAllocate) {
    handle_spare(c);
  } else {
    handle_batch_op(c);
  }
}

void WalImpl::handle_batch_op(const UringCompletion& c) {
  const size_t slot = c.user_data >> kSlotShift;
  UK_WAL_ASSERT(slot < kMaxBatchesInFlight && batches_[slot].active && batches_[slot].ops_left > 0,
                "completion with nothing in flight", c.user_data, in_flight_count_);
  InFlight& b = batches_[slot];
  b.ops_left -= 1;
  switch (op_of(c.user_data)) {
    case kOpWrite:
      check_write(c.res, b, "write");
      if (b.sync_after_write) submit_deferred_sync(b, slot);
      break;
    case kOpSync:
      if (const int res = count_sync(c.res); res < 0) fail("fdatasync", seg_path_, -res);
      break;
    case kOpDsyncWrite:
      check_write(count_sync(c.res), b, "write+fdatasync (RWF_DSYNC)");
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
  if (b.ops_left == 0) {
    b.done = true;
    retire_batches();
  }
}

void WalImpl::check_write(int res, const InFlight& b, const char* what) {
  const uint32_t expected = b.write_bytes;
  if (res >= 0 && static_cast<uint32_t>(res) == expected && options_.on_batch_write) {
    options_.on_batch_write(b.write_offset, nullptr, expected);
  }
  if (res < 0) {
    fail(what, seg_path_, -res);
  } else if (static_cast<uint32_t>(res) != expected) {
    // Never acknowledged; a linked fdatasync was cancelled. A retry could continue, but a short write to a
    // preallocated file means the device is in trouble: stop.
    fail_text(std::string("wal: ") + what + " " + seg_path_ + ": short write (" + std::to_string(res) + " of " +
              std::to_string(expected) + " bytes)");
  }
}

int WalImpl::count_sync(int res) {
  syncs_completed_ += 1;
  if (options_.fault_fail_sync_at > 0 && syncs_completed_ == options_.fault_fail_sync_at) return -EIO;
  return res;
}

// link_fdatasync == false: the batch's write completed; its fdatasync goes out now (or never, after a failure).
void WalImpl::submit_deferred_sync(InFlight& b, size_t slot) {
  b.sync_after_write = false;
  if (failure_.empty()) {
    const bool queued = ring_->prep_fdatasync(seg_fd_, (slot << kSlotShift) | kOpSync, false);
    UK_WAL_ASSERT(queued, "io_uring submission queue full with only a write in flight", 0, 0);
    const int rc = ring_->submit();
    if (rc >= 1) return;
    fail("io_uring_submit", seg_path_, rc < 0 ? -rc : EAGAIN);
  }
  b.ops_left -= 1;  // the fdatasync that never went out
}

void WalImpl::retire_batches() {
  while (in_flight_count_ > 0 && batches_[in_flight_head_].done) {
    const InFlight b = batches_[in_flight_head_];
    batches_[in_flight_head_] = InFlight{};
    in_flight_head_ = (in_flight_head_ + 1) % kMaxBatchesInFlight;
    in_flight_count_ -= 1;
    if (b.rolls && retired_fd_ >= 0) {
      ::close(retired_fd_);
      retired_fd_ = -1;
    }
    if (!failure_.empty()) continue;  // nothing after the first failure is persisted
    if (b.has_write) {
      written_end_ = b.end_offset;
      written_zxid_ = b.last_zxid;
      records_written_ += b.records;
      record_bytes_written_ += b.record_bytes;
      padding_bytes_written_ += b.pad_bytes;
      batches_written_ += 1;
      unsynced_writes_ = true;
    }
    if (b.has_sync) {
      durable_end_ = written_end_;
      unsynced_writes_ = false;
      if (options_.durability == Durability::kFsync) persisted_zxid_ = written_zxid_;
    }
  }
  maybe_start_spare();
}

bool WalImpl::sync_all() {
  if (options_.durability == Durability::kNone) return failure_.empty();
  force_sync_ = true;
  for (;;) {
    pump();
    // Records may also wait for the spare being prepared for the roll they need.
    const bool waiting = io_in_flight() || (failure_.empty() && pending_records() > 0 && spare_busy());
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
