// The io_uring Wal (private). Split by concern: wal.cc opens and recovers, wal_spare.cc prepares the next
// segment file in the background and rolls into it, wal_segment.cc creates segment files the blocking way (the
// fallback when no spare could be prepared), wal_datapath.cc is the per-append path (append, pump, completions),
// wal_truncate.cc cuts the log back for ZAB synchronization (truncate_after, reset; blocking, rare).
//
// Write path, in one place:
// - append() encodes the record into `pending_` (plain memory) and notes its end offset and zxid. No I/O.
// - pump(), when the device may take a write (nothing in flight, or see "Overlapping batches" in
//   wal_datapath.cc), copies as many pending records as fit in the current segment into the buffer of a free
//   batch slot (rolling to a new segment first when the next record does not fit), seals them (`back`, crc) and
//   submits ONE durable write: RWF_DSYNC with O_DIRECT, else a write linked to an fdatasync (kFsync; kAsync links
//   one only every async_sync_interval_ms). Appends made meanwhile wait in `pending_` and go out together next
//   time: that is the group commit.
// - O_DIRECT: a write starts with the bytes already written in the current partial block (`tail_bytes_` of
//   them, kept in `wbuf_`), so every write starts block-aligned and is zero-padded to whole blocks. The durable
//   prefix of that block is rewritten with identical bytes, so a torn rewrite cannot lose it. Buffered mode writes
//   exactly the new bytes at the end of the data (tail_bytes_ stays 0).
// - A roll (the next record does not fit) takes the spare (wal_spare.cc; with no segment at all and no spare ready
//   yet, the first segment is made the blocking way, as at start-up before): the batch's write starts
//   at offset 0 with the header block (tail_bytes_ = kSegmentHeaderBlockBytes holds it), and the chain
//   [fdatasync of the old segment if kAsync left it unsynced] -> write -> fdatasync -> rename -> fsync(dir) goes
//   out linked. While the spare is still being prepared, pump() submits nothing and the records wait in pending_.
// - Completions: a short write or a negative result sets failure_; after that no I/O is issued and
//   persisted_zxid_ never moves.
//
// Memory: each slot's buffer (posix_memalign 4096) grows to the largest batch it wrote (bounded by kMaxBatchBytes
// or one record); wbuf_ to the largest blocking copy; pending_ to the most bytes appended while batches were in
// flight. All keep their capacity.
// zeros_ (kSpareZeroChunkBytes) is the source of every zero-fill write of the spare.
//
// Ring entries: a batch is at most 5 linked requests (old-segment sync, write, sync, rename, directory fsync),
// overlapping batches 1 each (4 at most), the spare has at most 1 in flight: at most 6 of the ring's 64.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ukeeper/drivers/uring.h"
#include "ukeeper/storage/wal/format.h"
#include "ukeeper/storage/wal/scan.h"
#include "ukeeper/storage/wal/wal.h"

namespace uk::wal {

// A broken caller contract (zxid order, oversized record): stop, as replicas would otherwise diverge.
[[noreturn]] void invariant_failed(const char* what, long long a, long long b);

#define UK_WAL_ASSERT(cond, what, a, b) \
  do {                                  \
    if (!(cond)) ::uk::wal::invariant_failed(what, static_cast<long long>(a), static_cast<long long>(b)); \
  } while (0)

inline constexpr uint64_t round_up_block(uint64_t n) { return (n + kBlockBytes - 1) / kBlockBytes * kBlockBytes; }
inline constexpr uint64_t round_down_block(uint64_t n) { return n / kBlockBytes * kBlockBytes; }

// fsync of a directory, so a created or removed segment file name is durable. False with `error` on failure.
bool fsync_dir(const std::string& dir, std::string& error);

// Sizes a new segment file `fd` to `bytes` (fallocate; ftruncate where the filesystem has none) and writes zeros
// over [zero_from, bytes) (block-aligned, so an O_DIRECT fd takes it). Returns 0, or an errno with `op` naming
// what failed ("fallocate", "ftruncate", "allocate zeros for", "zero-fill").
int preallocate_zeroed(int fd, uint64_t bytes, uint64_t zero_from, const std::string& dir, const char*& op);

// The segment files in `dir` as (first zxid, file name), in name order (= zxid order, as the recovery scan reads
// them). False with `error` when the directory cannot be read.
bool list_segments(const std::string& dir, std::vector<std::pair<Zxid, std::string>>& out, std::string& error);

// A segment being cut is rewritten into "<segment file name>.tmp" and renamed over the segment. The scan does not
// read that name (it is not a segment file name); open() removes one left by a crash before the rename.
inline constexpr std::string_view kCutSuffix = ".tmp";

// One write is at most this big (io_uring lengths are 32-bit; smaller batches also bound wbuf_), unless a single
// record is bigger.
inline constexpr uint64_t kMaxBatchBytes = 16ull << 20;
// The most batch writes in flight at once (WalOptions::max_batches_in_flight is capped by it).
inline constexpr size_t kMaxBatchesInFlight = 4;

// The spare segment's file name in the WAL directory: not a segment file name (the scan skips it) and not a cut
// copy (no ".tmp"). open() deletes one a crash left behind: it may hold an unacknowledged roll batch.
inline constexpr char kSpareFileName[] = "wal-spare.next";
// One zero-fill write of the spare. Small, so a data write queued behind it on the device waits little; one at
// a time (64 MiB segment: 256 writes, all in the background).
inline constexpr uint64_t kSpareZeroChunkBytes = 256 * 1024;

// A 4096-aligned, growable byte buffer for O_DIRECT writes.
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer() { std::free(data_); }
  uint8_t* data() { return data_; }
  uint64_t capacity() const { return capacity_; }
  // Grows to at least `bytes` (rounded up to a block), keeping the first `keep` bytes. False when out of memory.
  bool reserve(uint64_t bytes, uint64_t keep);

 private:
  uint8_t* data_ = nullptr;
  uint64_t capacity_ = 0;
};

class WalImpl final : public Wal {
 public:
  explicit WalImpl(const WalOptions& options);
  ~WalImpl() override;

  // wal.cc: acts on the scan (repairs), then prepares appends. False with `error` when the log cannot be used.
  bool recover(const ScanResult& scan, WalRecovery& recovery, std::string& error);

  void append(Zxid zxid, std::string_view payload) override;
  void pump() override;
  int completion_fd() const override { return ring_ ? ring_->event_fd() : -1; }
  void reap() override;
  Zxid persisted_zxid() const override { return persisted_zxid_; }
  Zxid appended_zxid() const override { return appended_zxid_; }
  const std::string& failure() const override { return failure_; }
  bool sync_all() override;
  size_t purge_before(Zxid zxid) override;
  bool truncate_after(Zxid zxid, std::string& error) override;
  bool reset(Zxid after, std::string& error) override;
  uint64_t batches_written() const override { return batches_written_; }
  uint64_t records_written() const override { return records_written_; }
  uint64_t record_bytes_written() const override { return record_bytes_written_; }
  uint64_t padding_bytes_written() const override { return padding_bytes_written_; }
  uint64_t peak_batches_in_flight() const override { return peak_in_flight_; }

 private:
  struct PendingRecord {
    uint64_t end = 0;  // offset in pending_ just past the record
    Zxid zxid = 0;
  };
  // A batch whose write and/or fdatasync is in flight. Several may be (see "Overlapping batches" above); they
  // are retired in submission order, so persisted_zxid_ only ever covers a contiguous prefix of the log.
  struct InFlight {
    bool active = false;
    bool done = false;              // every op completed; retired once the batches before it are
    int ops_left = 0;
    bool has_write = false;
    bool has_sync = false;
    bool sync_after_write = false;  // !link_fdatasync: the fdatasync is submitted when the write completes
    bool rolls = false;             // the chain renames the spare into place (see wal_spare.cc)
    bool exclusive = false;         // nothing else may be in flight beside it (rolls, syncs, buffered writes)
    uint32_t write_bytes = 0;       // requested length of the write
    uint64_t write_offset = 0;      // where it goes in the segment
    uint64_t end_offset = 0;        // segment offset just past the batch's data
    uint64_t records = 0;
    uint64_t record_bytes = 0;
    uint64_t pad_bytes = 0;
    Zxid last_zxid = 0;
  };
  // A completion's user_data: the op in the low byte, the batch's slot above it.
  static constexpr uint64_t kSlotShift = 8;
  static uint64_t op_of(uint64_t user_data) { return user_data & ((uint64_t{1} << kSlotShift) - 1); }
  enum Op : uint64_t {
    kOpWrite = 1,
    kOpSync = 2,
    kOpOldSync = 3,   // roll: fdatasync of the segment being left (kAsync)
    kOpRename = 4,    // roll: the spare becomes the segment
    kOpDirSync = 5,   // roll: the new name is durable
    kOpRollSync = 6,  // roll: the fdatasync a kAsync batch would not have had (not counted by fault_fail_sync_at)
    kOpDsyncWrite = 7,  // a batch's write with RWF_DSYNC: its write and fdatasync in one (counted as a sync)
    kOpSpareAllocate = 8,  // (spare requests from here on)
    kOpSpareZero = 9,
    kOpSpareSync = 10,
  };
  // The spare segment file, prepared one request at a time: fallocate, zero writes, fdatasync.
  enum class SpareState { kNone, kAllocating, kZeroing, kSyncing, kReady, kBroken };

  // wal.cc (setup)
  bool remove_segment(const std::string& path, std::string& error);
  bool zero_torn_tail(const ScanResult& scan, std::string& error);
  bool open_segment_for_append(const ScanSegment& seg, std::string& error);
  void remove_cut_leftovers(WalRecovery& recovery);
  void remove_spare_leftover(WalRecovery& recovery);
  // wal_spare.cc
  bool spare_busy() const {
    return spare_state_ == SpareState::kAllocating || spare_state_ == SpareState::kZeroing ||
           spare_state_ == SpareState::kSyncing;
  }
  void maybe_start_spare();
  void start_spare();
  void handle_spare(const UringCompletion& c);
  void submit_spare_zero();
  void spare_failed(const std::string& why);
  void remove_spare();
  // Makes the current segment ready for a batch starting with `first_zxid`. Returns true when a batch may be
  // submitted now; false when it must wait for the spare (failure_ empty) or the Wal failed.
  bool ensure_room(Zxid first_zxid, uint64_t first_bytes);
  void activate_spare(Zxid first_zxid);
  // Preps the roll requests before the batch write (kOpOldSync) and after its fdatasync (rename, dir fsync).
  // `tag` carries the batch's slot (see kSlotShift).
  int prep_roll_head(uint64_t tag);
  int prep_roll_tail(uint64_t tag);
  // wal_segment.cc (setup, blocking)
  bool roll_segment(Zxid first_zxid);
  bool create_segment_file(Zxid first_zxid, std::string& error);
  void close_segment();
  // wal_truncate.cc (blocking, rare)
  // Blocks for one completion and handles it; false when waiting failed (the Wal is then failed).
  bool wait_one();
  bool drain_in_flight();
  void drop_pending_after(Zxid zxid);
  bool cut_segments_after(Zxid zxid, std::string& error);
  bool rewrite_prefix(const std::string& path, uint64_t file_bytes, uint64_t cut, std::string& error);
  // wal_datapath.cc
  bool submit_batch();
  bool submit_sync_only();
  bool sync_due() const;
  void handle(const UringCompletion& c);
  // A batch write's result: fails the log on an error or a short write (`what` names the operation).
  void check_write(int res, const InFlight& b, const char* what);
  // A batch sync's result, after fault_fail_sync_at (which may turn it into -EIO).
  int count_sync(int res);
  void handle_batch_op(const UringCompletion& c);
  void submit_deferred_sync(InFlight& b, size_t slot);
  // Retires the oldest batches whose ops all completed, in order.
  void retire_batches();
  // Whether another batch may go out now beside those in flight (see "Overlapping batches").
  bool may_overlap() const;
  bool io_in_flight() const { return in_flight_count_ > 0; }
  // The slot of the batch after the newest in flight (the next to go out); the newest is the one before it.
  size_t next_slot() const { return (in_flight_head_ + in_flight_count_) % kMaxBatchesInFlight; }
  // Batches may overlap in this mode (they still wait for may_overlap()).
  bool overlapping() const { return max_in_flight_ > 1 && options_.durability == Durability::kFsync; }
  // The current segment's appends go on at `end`, and everything before it is durable.
  void start_appends_at(uint64_t end) { seg_end_ = written_end_ = durable_end_ = end; }
  void fail(const char* op, const std::string& path, int err);
  void fail_text(std::string text);
  uint64_t pending_records() const { return pending_records_.size(); }

  WalOptions options_;
  std::unique_ptr<Uring> ring_;
  bool direct_io_ = false;

  // Current segment (seg_fd_ < 0: none yet; the first pump creates one).
  int seg_fd_ = -1;
  std::string seg_path_;
  uint64_t seg_limit_ = 0;  // file size: records must end at or before it
  uint64_t seg_end_ = 0;    // offset where the next record goes (data written, not necessarily synced)
  uint64_t tail_bytes_ = 0; // O_DIRECT: seg_end_ % kBlockBytes; those bytes are kept at the front of wbuf_
  uint64_t written_end_ = 0;  // offset just past the last retired write
  uint64_t durable_end_ = 0;  // offset just past the data the last retired sync covered (records' `back`)

  // Roll in flight: the segment being left (closed when the chain completes) and the new segment's name.
  int retired_fd_ = -1;
  bool retired_needs_sync_ = false;
  std::string retired_path_;
  std::string roll_name_;      // the new segment's file name (renameat reads it at submit)
  bool roll_next_batch_ = false;  // activate_spare() ran: the next batch carries the roll
  bool stopping_ = false;         // the destructor runs: the spare is abandoned
  int dir_fd_ = -1;  // options_.dir, for renameat and the directory fsync

  SpareState spare_state_ = SpareState::kNone;
  int spare_fd_ = -1;
  uint64_t spare_zeroed_ = 0;
  uint32_t spare_write_bytes_ = 0;
  std::string spare_path_;
  AlignedBuffer zeros_;

  AlignedBuffer wbuf_;
  std::vector<uint8_t> pending_;
  std::vector<PendingRecord> pending_records_;

  // Batches in flight: a ring of slots, the oldest at in_flight_head_. Each slot owns the buffer its write
  // reads from (the kernel reads it until the write completes); wbuf_ keeps the partial block the next write
  // starts with and is the scratch buffer of the blocking paths (nothing in flight then).
  std::array<InFlight, kMaxBatchesInFlight> batches_{};
  std::array<AlignedBuffer, kMaxBatchesInFlight> batch_bufs_;
  size_t in_flight_head_ = 0;
  size_t in_flight_count_ = 0;
  // Records are waiting behind a batch in flight: until the log goes idle, batches end with a pad at a block
  // boundary so the next one can go out before they complete.
  bool busy_ = false;
  int max_in_flight_ = 1;  // options_.max_batches_in_flight within [1, kMaxBatchesInFlight]
  Zxid appended_zxid_ = 0;
  Zxid persisted_zxid_ = 0;
  Zxid written_zxid_ = 0;     // the last record whose write completed
  bool unsynced_writes_ = false;  // kAsync: written since the last fdatasync
  bool force_sync_ = false;       // sync_all(): sync now regardless of the async interval
  std::chrono::steady_clock::time_point last_sync_submit_{};
  int syncs_completed_ = 0;   // for fault_fail_sync_at
  std::string failure_;
  uint64_t batches_written_ = 0;
  uint64_t records_written_ = 0;
  uint64_t record_bytes_written_ = 0;
  uint64_t padding_bytes_written_ = 0;
  uint64_t peak_in_flight_ = 0;
};

}  // namespace uk::wal
